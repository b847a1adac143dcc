"""The bounded memo behind the stream's time and label caches."""

from __future__ import annotations

import pytest

from clv_stream.events.times import iso, parse_time
from clv_stream.memo import BoundedMemo


def test_a_memo_returns_what_was_put_and_never_grows_past_its_limit() -> None:
    memo: BoundedMemo[int, str] = BoundedMemo(3)
    for i in range(10):
        assert memo.put(i, str(i)) == str(i)
        assert memo.get(i) == str(i)
        assert len(memo) <= 3
    with pytest.raises(ValueError, match="at least one"):
        BoundedMemo(0)


def test_times_read_the_same_however_often_they_recur() -> None:
    """Hits and misses of the memos give the same text and seconds (past a clear too)."""
    first = [iso(1_704_067_200 + day * 86400 + 0.25) for day in range(60_000)]
    again = [iso(1_704_067_200 + day * 86400 + 0.25) for day in range(60_000)]
    assert first == again
    assert first[0] == "2024-01-01T00:00:00Z"
    assert iso(1_704_067_199.9999996) == "2024-01-01T00:00:00Z"  # rounded as datetime does
    assert parse_time("2024-01-01T00:00:00Z") == 1_704_067_200.0
    assert parse_time("2024-01-01T00:00:00Z") == 1_704_067_200.0
    assert parse_time("2024-01-01 00:00:00Z") is None
    assert parse_time(42) is None
