#!/usr/bin/env bash
# Run nginx + nchan in the foreground for the load harness.
#
#   load-tests/nchan/run-nchan.sh [PORT] [CPU]
#
# PORT defaults to 8090, CPU (the core nginx is pinned to with taskset) to 0. Installs nginx and
# libnginx-mod-nchan with apt-get when they are missing (Debian, as root). The server runs from a
# temporary prefix with ./nginx.conf; the script execs nginx, so its pid is nginx's master pid.
# Stop it with SIGTERM (kill PID) or Ctrl-C.
set -euo pipefail

PORT="${1:-8090}"
CPU="${2:-0}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MODULE=/usr/lib/nginx/modules/ngx_nchan_module.so

if ! command -v nginx >/dev/null 2>&1 || [ ! -f "$MODULE" ]; then
    echo "run-nchan: installing nginx and libnginx-mod-nchan" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq nginx-light libnginx-mod-nchan >&2 \
        || apt-get install -y -qq nginx libnginx-mod-nchan >&2
    # Debian starts the packaged nginx where it can; this one must not hold the port or the CPU.
    (command -v service >/dev/null && service nginx stop) >/dev/null 2>&1 || true
fi

PREFIX="$(mktemp -d /tmp/stagehand-nchan.XXXXXX)"
mkdir -p "$PREFIX"/{body,proxy,fastcgi,uwsgi,scgi}
# Workers run as an unprivileged user and need the temp dirs.
chmod -R a+rwx "$PREFIX"
sed -e "s#__PORT__#$PORT#g" -e "s#__PREFIX__#$PREFIX#g" "$HERE/nginx.conf" > "$PREFIX/nginx.conf"
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"

echo "run-nchan: nginx $(nginx -v 2>&1 | sed 's/.*\///') + nchan on 127.0.0.1:$PORT, cpu $CPU, prefix $PREFIX" >&2
exec taskset -c "$CPU" nginx -p "$PREFIX" -c "$PREFIX/nginx.conf" -e "$PREFIX/error.log" -g 'daemon off;'
