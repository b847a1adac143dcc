#!/usr/bin/env bash
# Make sure headless Chromium and its matching ChromeDriver are available for the dashboard's
# browser test (tests/browser). Order: $CLV_CHROMIUM_BIN and $CLV_CHROMEDRIVER_BIN, PATH,
# then Debian's packages (chromium, chromium-driver) when we may install them. Without them
# the browser test fails and says how to get them; it is never skipped silently.
set -euo pipefail
have() { [ -n "${1:-}" ] && [ -x "$1" ]; }
if have "${CLV_CHROMIUM_BIN:-}" && have "${CLV_CHROMEDRIVER_BIN:-}"; then exit 0; fi
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then exit 0; fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing Debian's chromium and chromium-driver ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null
  exit 0
fi
echo "chromium/chromedriver not found: install Debian's chromium and chromium-driver" >&2
echo "(or point CLV_CHROMIUM_BIN and CLV_CHROMEDRIVER_BIN at them)." >&2
exit 1
