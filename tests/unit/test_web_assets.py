"""The dashboard's files ship with the package: the vendored Chart.js is the release its
record names, unchanged, with its licence, and the page loads nothing from elsewhere."""

from __future__ import annotations

import hashlib
import re

from clv_stream.web.assets import ASSETS, CHART_JS, DASHBOARD


def test_the_vendored_chart_js_is_the_recorded_release_unchanged() -> None:
    data = CHART_JS.asset.file.read_bytes()
    assert hashlib.sha256(data).hexdigest() == CHART_JS.sha256
    assert f"Chart.js v{CHART_JS.version}".encode() in data[:200]
    assert b"MIT" in ASSETS["chart.js.LICENSE.md"].file.read_bytes()


def test_the_page_loads_only_what_the_worker_serves() -> None:
    page = DASHBOARD.file.read_text(encoding="utf-8")
    loaded = re.findall(r'(?:src|href)="([^"]+)"', page)
    local = [u.removeprefix("/static/") for u in loaded if u.startswith("/static/")]
    assert set(local) <= set(ASSETS)
    assert {"dashboard.js", "chart.umd.min.js"} <= set(local)
    assert all(u.startswith(("/static/", "data:")) for u in loaded), loaded
    script = ASSETS["dashboard.js"].file.read_text(encoding="utf-8")
    assert not re.search(r"https?://", script)  # every request goes to the worker it came from
