"""What the worker knows about its own health, for ``/healthz`` and the metrics.

Parts of the worker (the batch loop, the refit pass) report the dependencies they wait for;
``/healthz`` reads a snapshot. A dependency that is down makes the worker ``degraded``, not
dead: it pauses, retries with capped backoff and resumes by itself, so an orchestrator must
not restart it (see the contract's ``/healthz``). Check names and states carry no hosts,
ports or error text.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CHECKS", "Health"]

#: The checks a worker reports, each "ok" or "degraded".
CHECKS = ("redis", "kafka")


@dataclass(slots=True)
class Health:
    #: called with (check, degraded) when a check changes state (the metrics' gauge)
    on_change: Callable[[str, bool], None] | None = None
    #: check -> monotonic time it became degraded (absent: ok)
    _since: dict[str, float] = field(default_factory=dict)

    def degraded(self, check: str) -> None:
        if check not in self._since:
            self._since[check] = time.monotonic()
            if self.on_change is not None:
                self.on_change(check, True)

    def ok(self, check: str) -> None:
        if self._since.pop(check, None) is not None and self.on_change is not None:
            self.on_change(check, False)

    def snapshot(self) -> dict[str, Any]:
        """``{"status": "ok"|"degraded", "checks": {name: {"status", "seconds"}}}``."""
        now = time.monotonic()
        checks: dict[str, dict[str, Any]] = {}
        for name in CHECKS:
            since = self._since.get(name)
            checks[name] = ({"status": "ok"} if since is None else
                            {"status": "degraded", "seconds": round(now - since, 1)})
        return {"status": "ok" if not self._since else "degraded", "checks": checks}
