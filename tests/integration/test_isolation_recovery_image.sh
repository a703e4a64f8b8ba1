#!/usr/bin/env bash
# test_isolation_recovery.sh with every task in a container image (a busybox
# rootfs tarball; skipped, exit 77, without /bin/busybox): image containers
# are recovered after `kill -9` of the agent like the others, and their
# mounts go with them.
RECOVERY_IMAGE=1 exec bash "$(dirname "$0")/test_isolation_recovery.sh"
