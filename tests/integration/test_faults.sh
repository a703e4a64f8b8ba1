#!/usr/bin/env bash
# Randomized fault test (docs/reliability.md): a master, three agents,
# agora-services and the spread plugin under constant deploy/scale/restart,
# while the driver (faults.py) kill -9s and restarts the master, an agent,
# agora-services and the plugin host, pauses an agent past its ping timeout and
# tears a framework down, at points drawn from a seed. After every fault it
# checks the invariants from each component's own view and stops at the first
# broken one, printing the seed to reproduce it with.
#
#   AGORA_FAULT_SEED=N      the seed (default 1)
#   AGORA_FAULT_ROUNDS=N    faults per run (default 12; 20 in soak mode)
#   AGORA_FAULT_BUDGET=S    no new fault after S seconds (default 120), so the
#                           run stays within ctest's 300 s
#   AGORA_FAULT_SECONDS=S   soak: runs with random seeds for S seconds (a broken
#                           invariant ends its run, the soak goes on; logs of
#                           such runs in $T/failed-SEED; AGORA_FAULT_STOP=1 stops)
#   AGORA_FAULT_KINDS=a,b   only these faults (master, agent, services, plugin,
#                           pause, teardown; default all)
#   AGORA_FAULT_SUMMARY=F   write the figures (JSON) to F
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || { echo "SKIP: needs python3" >&2; exit 77; }
export T AGORA_BIN
set +e
python3 "$(dirname "$0")/faults.py"
rc=$?
set -e
# Daemons the driver started and left alive (it kills them itself unless it was
# killed): those whose command line still names $T. lib.sh's cleanup kills them,
# the tasks and executors of $T's agents, and their cgroups.
while read -r p; do
    { tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | grep -qF -- "$T" && PIDS+=("$p")
done < <(cat "$T/pids" 2>/dev/null)
[ "$rc" != 2 ] || fail "bad settings (see above)"
[ "$rc" = 0 ] || fail "an invariant broke (the seed and the invariant are above)"
log "ok"
