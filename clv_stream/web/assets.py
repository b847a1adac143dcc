"""The dashboard's files, served from the package at ``GET /static/{name}``.

The page needs no CDN and no build step: its script is plain JavaScript and its charts come
from Chart.js, vendored (with its licence) under ``static/vendor`` by
``scripts/vendor-chartjs.sh``. :data:`CHART_JS` records which release is there, and a unit
test checks that the file is that release, unchanged.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

__all__ = ["ASSETS", "CHART_JS", "DASHBOARD", "Asset", "VendoredLibrary"]


@dataclass(frozen=True, slots=True)
class Asset:
    path: tuple[str, ...]  # under clv_stream/web/static
    content_type: str

    @property
    def file(self) -> Traversable:
        return files("clv_stream.web").joinpath("static", *self.path)

    @property
    def content(self) -> bytes:
        """The file's bytes, read once: the package's files do not change while it runs."""
        return _read(self)[0]

    @property
    def etag(self) -> str:
        """A strong validator of :attr:`content` (a browser asks again with it, and the
        answer is a bodiless 304 while the file is unchanged)."""
        return _read(self)[1]


@functools.cache
def _read(asset: Asset) -> tuple[bytes, str]:
    content = asset.file.read_bytes()
    return content, f'"{hashlib.sha256(content).hexdigest()[:32]}"'


@dataclass(frozen=True, slots=True)
class VendoredLibrary:
    name: str
    version: str
    sha256: str
    asset: Asset


#: The page itself (served at ``/``).
DASHBOARD = Asset(("dashboard.html",), "text/html")

CHART_JS = VendoredLibrary(
    "chart.js", "4.6.1", "87364cc2b2a76a6684929e7d6b80b18a897794db38400caff1fcf1791c6925d2",
    Asset(("vendor", "chart.umd.min.js"), "text/javascript"))

#: ``/static/{name}`` -> the file; nothing else is served from the package.
ASSETS: dict[str, Asset] = {
    "dashboard.js": Asset(("dashboard.js",), "text/javascript"),
    "dashboard.css": Asset(("dashboard.css",), "text/css"),
    "chart.umd.min.js": CHART_JS.asset,
    "chart.js.LICENSE.md": Asset(("vendor", "chart.js.LICENSE.md"), "text/markdown"),
}
