"""The stream's two time formats in one place: RFC 3339 text <-> epoch seconds.

Both directions are on the hot path (every order's ``occurred_at`` is parsed, every output
record carries times), and both see the same few values again and again: events of a
batch share their second, outputs share their day. So each keeps a
:class:`~clv_stream.memo.BoundedMemo` instead of calling ``datetime`` per value.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from clv_stream.events.patterns import TIME_RE
from clv_stream.memo import BoundedMemo

__all__ = ["PARSED", "SECONDS_PER_DAY", "iso", "parse_time"]

SECONDS_PER_DAY = 86400

#: ``occurred_at`` text -> epoch seconds; read it inline (``PARSED.get``) where a call per
#: event counts, and call :func:`parse_time` on a miss.
PARSED: BoundedMemo[str, float] = BoundedMemo(4096)
_DATES: BoundedMemo[int, str] = BoundedMemo(50_000)  # day number -> "YYYY-MM-DD"
_CLOCKS: list[str] = []  # "T00:00:00Z" .. "T23:59:59Z", built on first use


def parse_time(value: Any) -> float | None:
    """Epoch seconds of an ``occurred_at`` in the contract's RFC 3339 form, else None."""
    if type(value) is not str:
        return None
    ts = PARSED.get(value)
    if ts is None:
        if TIME_RE.match(value) is None:  # the model's pattern: fromisoformat takes more
            return None
        try:
            ts = datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None
        PARSED.put(value, ts)
    return ts


def iso(ts: float) -> str:
    """Epoch seconds -> RFC 3339, UTC, ``Z`` suffix (as ``datetime.fromtimestamp``, faster).

    Whole seconds of the timestamp rounded to the microsecond, as ``datetime`` does; the
    date part is memoised per day and the time of day comes from a table of all 86,400.
    """
    if type(ts) is not int:
        sec = math.floor(ts)
        if sec != ts and (ts - sec) * 1e6 >= 999_999.5:
            sec += 1
        ts = sec
    day, rest = divmod(ts, SECONDS_PER_DAY)
    return (_DATES.get(day) or _date(day)) + (_CLOCKS or _clocks())[rest]


def _clocks() -> list[str]:
    # built whole, then bound: the scoring thread and the event loop may both get here
    # first, and neither may see a table that is still filling
    global _CLOCKS
    table = [f"T{h:02d}:{m:02d}:{s:02d}Z" for h in range(24) for m in range(60) for s in range(60)]
    _CLOCKS = table
    return table


def _date(day: int) -> str:
    text = datetime.fromtimestamp(day * SECONDS_PER_DAY, tz=UTC).strftime("%Y-%m-%d")
    return _DATES.put(day, text)
