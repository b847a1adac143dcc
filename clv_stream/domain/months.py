"""Calendar months (UTC) of epoch seconds: the months MRR is reported in and subscriptions
bill by. Months are integers (``year x 12 + month - 1``), named ``"YYYY-MM"``.
"""

from __future__ import annotations

import calendar
from bisect import bisect_right
from datetime import UTC, datetime
from functools import lru_cache

__all__ = ["add_months", "month_index", "month_name", "month_of", "month_start", "parse_month"]

#: Month indexes (year x 12 + month - 1) this table covers, and their starts in epoch
#: seconds: months are found by bisection, not by building datetimes (the hot path of
#: every subscriber's scoring).
_FIRST_MONTH, _LAST_MONTH = 1970 * 12, 2200 * 12
_STARTS = [int(datetime(i // 12, i % 12 + 1, 1, tzinfo=UTC).timestamp())
           for i in range(_FIRST_MONTH, _LAST_MONTH + 1)]


def month_index(ts: int) -> int:
    """The month an epoch second falls in."""
    if _STARTS[0] <= ts < _STARTS[-1]:
        return _FIRST_MONTH + bisect_right(_STARTS, ts) - 1
    d = datetime.fromtimestamp(ts, UTC)
    return d.year * 12 + d.month - 1


@lru_cache(maxsize=4096)
def month_name(index: int) -> str:
    """``"YYYY-MM"``."""
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_start(index: int) -> int:
    """The month's first second."""
    if _FIRST_MONTH <= index <= _LAST_MONTH:
        return _STARTS[index - _FIRST_MONTH]
    return int(datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC).timestamp())


def month_of(ts: int) -> str:
    """``"YYYY-MM"`` of an epoch second (UTC)."""
    return month_name(month_index(ts))


@lru_cache(maxsize=65536)
def add_months(ts: int, months: int) -> int:
    """``ts`` plus calendar months, the day clamped to the month's last (Jan 31 + 1 = Feb 29)."""
    d = datetime.fromtimestamp(ts, UTC)
    year, month0 = divmod(d.year * 12 + d.month - 1 + months, 12)
    day = min(d.day, calendar.monthrange(year, month0 + 1)[1])
    return int(d.replace(year=year, month=month0 + 1, day=day).timestamp())


def parse_month(month: str) -> int:
    """The index of a ``"YYYY-MM"`` name."""
    year, mon = month.split("-")
    return int(year) * 12 + int(mon) - 1
