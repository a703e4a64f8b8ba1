#!/usr/bin/env bash
# test_services_upgrade.sh with HTTP health checks (busybox httpd; skipped,
# exit 77, without busybox): "ready" means healthy, a version whose tasks
# keep failing never touches the good tasks, and a version that never passes
# its health check is rolled back.
UPGRADE_WITH_HEALTH=1 exec bash "$(dirname "$0")/test_services_upgrade.sh"
