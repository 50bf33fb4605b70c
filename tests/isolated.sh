#!/bin/sh
# Runs its arguments (`make test`'s pytest) beside a kiosk's own daemons. As root, the
# system unit's /run/vapi-bridge (vapi-bridge@frontdesk.sock, kiosk.sock, …) is reachable,
# and so is /tmp/vapi-bridge-0, where a `run -p kiosk` started without XDG_RUNTIME_DIR (a
# root shell, cron, sudo) binds and where `ctl` looks whatever its environment; the tests'
# profiles are named frontdesk, kiosk, lobby: a test's daemon would be refused as
# "already running this profile" and its `ctl` would reach the kiosk's daemon.
# So, as root and when one of those directories exists, the command runs in a mount
# namespace of its own where each is an empty tmpfs (private: nothing reaches the host's
# mounts, and the kiosk's sockets stay where they are). Otherwise (not root: the unit's
# directory is the service user's, 0750; no such directory) it runs as it is. As root
# beside one with no namespace to be had (no unshare, or a mount it refuses: a container
# without CAP_SYS_ADMIN), nothing runs: it says why, and exits 1 (before, a refused mount
# ran no test and said only mount's own words). VAPI_BRIDGE_TESTS_HIDE names other
# directories (space-separated) than those two (its own test).
all=${VAPI_BRIDGE_TESTS_HIDE:-/run/vapi-bridge /tmp/vapi-bridge-$(id -u)}
hide=
for dir in $all; do
    [ -d "$dir" ] && hide="${hide:+$hide }$dir"
done
if [ "$(id -u)" != 0 ] || [ -z "$hide" ] || [ -n "${VAPI_BRIDGE_TESTS_ISOLATED:-}" ]; then
    exec "$@"
fi
why="$hide (a kiosk's control sockets) cannot be hidden from the tests"
fix="the tests' profiles (frontdesk, kiosk, lobby) would meet its daemons — give this shell \
a mount namespace (CAP_SYS_ADMIN), or stop the kiosk's daemons and remove $hide, then run \
them again"
if ! err=$(unshare --mount --propagation private true 2>&1); then
    echo "tests/isolated.sh: no test was run: $why (unshare: ${err:-failed}): $fix" >&2
    exit 1
fi
exec env VAPI_BRIDGE_TESTS_ISOLATED=1 unshare --mount --propagation private sh -c '
    for dir in $1; do  # (0700: /tmp/vapi-bridge-UID is refused open to others)
        mode=0755; case $dir in /tmp/*) mode=0700;; esac
        if ! err=$(mount -t tmpfs -o mode=$mode vapi-bridge-tests "$dir" 2>&1); then
            echo "tests/isolated.sh: no test was run: $2 (${err:-mount failed}): $3" >&2
            exit 1
        fi
    done
    shift 3
    exec "$@"' sh "$hide" "$why" "$fix" "$@"
