#!/usr/bin/env bash
# Refresh the dashboard's vendored Chart.js (served by the worker at /static/; the page
# needs no CDN and no build step). Needs npm; run from the repository root:
#   scripts/vendor-chartjs.sh 4.6.1
# then update CHART_JS in clv_stream/web/assets.py (version and sha256 this prints).
set -euo pipefail
version="${1:?usage: scripts/vendor-chartjs.sh VERSION}"
dest=clv_stream/web/static/vendor
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "chart.js@$version" >/dev/null && tar xzf chart.js-*.tgz)
cp "$work/package/dist/chart.umd.min.js" "$dest/chart.umd.min.js"
cp "$work/package/LICENSE.md" "$dest/chart.js.LICENSE.md"
echo "chart.js $version sha256 $(sha256sum "$dest/chart.umd.min.js" | cut -d' ' -f1)"
