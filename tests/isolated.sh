#!/bin/sh
# Runs its arguments (`make test`'s pytest) beside a kiosk's system unit. As root, the
# system unit's /run/vapi-bridge (vapi-bridge@frontdesk.sock, kiosk.sock, …) is reachable,
# and the tests' profiles are named frontdesk, kiosk, lobby: a test's daemon would be
# refused as "already running this profile" and its `ctl` would reach the kiosk's daemon.
# So, as root and when that directory exists, the command runs in a mount namespace of
# its own whose /run/vapi-bridge is an empty tmpfs (private: nothing reaches the host's
# mounts, and the kiosk's socket stays where it is). Otherwise (not root: the directory is
# the service user's, 0750; no such directory) it runs as it is. As root beside the
# directory with no namespace to be had (no unshare, or a mount it refuses: a container
# without CAP_SYS_ADMIN), nothing runs: it says why, and exits 1 (before, a refused mount
# ran no test and said only mount's own words). VAPI_BRIDGE_TESTS_HIDE names another
# directory than /run/vapi-bridge (its own test).
hide=${VAPI_BRIDGE_TESTS_HIDE:-/run/vapi-bridge}
if [ "$(id -u)" != 0 ] || [ ! -d "$hide" ] || [ -n "${VAPI_BRIDGE_TESTS_ISOLATED:-}" ]; then
    exec "$@"
fi
why="$hide (a kiosk's system unit's control sockets) cannot be hidden from the tests"
fix="the tests' profiles (frontdesk, kiosk, lobby) would meet its daemons — give this shell \
a mount namespace (CAP_SYS_ADMIN), or stop the unit and remove $hide, then run them again"
if ! err=$(unshare --mount --propagation private true 2>&1); then
    echo "tests/isolated.sh: no test was run: $why (unshare: ${err:-failed}): $fix" >&2
    exit 1
fi
exec env VAPI_BRIDGE_TESTS_ISOLATED=1 unshare --mount --propagation private sh -c '
    if ! err=$(mount -t tmpfs -o mode=0755 vapi-bridge-tests "$1" 2>&1); then
        echo "tests/isolated.sh: no test was run: $2 (${err:-mount failed}): $3" >&2
        exit 1
    fi
    shift 3
    exec "$@"' sh "$hide" "$why" "$fix" "$@"
