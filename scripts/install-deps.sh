#!/bin/sh
# install-deps.sh - install the Debian packages roomcastd needs.
#
#   scripts/install-deps.sh          build dependencies (make run)
#   scripts/install-deps.sh --test   build + test dependencies (make test)
#
# Idempotent: asks dpkg first and calls apt-get only for what is missing, so
# a second run costs a fraction of a second. Needs root only when something
# is missing.
set -eu

build_pkgs="gcc make pkg-config libevent-dev libhttp-parser-dev libjansson-dev
libhiredis-dev libmsgpack-dev libssl-dev uthash-dev libsystemd-dev"
test_pkgs="clang libcmocka-dev redis-server nodejs npm python3 python3-redis
systemd strace nginx libnginx-mod-stream haproxy python3-msgpack logrotate"

want="$build_pkgs"
[ "${1:-}" = "--test" ] && want="$build_pkgs $test_pkgs"

missing=""
for p in $want; do
	# node and npm may come from outside Debian (nodesource, nvm): a working
	# binary on PATH is as good as the package.
	case "$p" in
	nodejs) command -v node >/dev/null 2>&1 && continue ;;
	npm) command -v npm >/dev/null 2>&1 && continue ;;
	esac
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done

[ -z "$missing" ] && exit 0

echo "install-deps: installing$missing"
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages and not root; run as root or install:$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
