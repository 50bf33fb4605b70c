#!/bin/sh
# Runs its arguments (`make test`'s pytest) beside a kiosk's system unit. As root, the
# system unit's /run/vapi-bridge (vapi-bridge@frontdesk.sock, kiosk.sock, …) is reachable,
# and the tests' profiles are named frontdesk, kiosk, lobby: a test's daemon would be
# refused as "already running this profile" and its `ctl` would reach the kiosk's daemon.
# So, as root and when that directory exists, the command runs in a mount namespace of
# its own whose /run/vapi-bridge is an empty tmpfs (private: nothing reaches the host's
# mounts, and the kiosk's socket stays where it is). Otherwise (not root: the directory is
# the service user's, 0750; no such directory; no unshare) it runs as it is.
if [ "$(id -u)" = 0 ] && [ -d /run/vapi-bridge ] && [ -z "${VAPI_BRIDGE_TESTS_ISOLATED:-}" ] \
        && unshare --mount --propagation private true 2>/dev/null; then
    exec env VAPI_BRIDGE_TESTS_ISOLATED=1 unshare --mount --propagation private sh -c \
        'mount -t tmpfs -o mode=0755 vapi-bridge-tests /run/vapi-bridge && exec "$@"' sh "$@"
fi
exec "$@"
