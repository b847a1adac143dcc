#!/usr/bin/env bash
# Make sure a real redis-server binary is available (tests and `clv-stream dev` spawn it).
# Order: $CLV_REDIS_SERVER_BIN, PATH, then Debian's package when we may install it.
set -euo pipefail
if [ -n "${CLV_REDIS_SERVER_BIN:-}" ] && [ -x "$CLV_REDIS_SERVER_BIN" ]; then exit 0; fi
if command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ]; then exit 0; fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing Debian's redis-server ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends redis-server >/dev/null
  # the package may start a system instance on 6379; we spawn our own on free ports
  (command -v service >/dev/null && service redis-server stop >/dev/null 2>&1) || true
  exit 0
fi
echo "redis-server not found: install it (apt-get install redis-server, brew install redis)" >&2
echo "or point CLV_REDIS_SERVER_BIN at a redis-server binary." >&2
exit 1
