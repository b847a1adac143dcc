"""The worker's in-memory previous values: bounded, and never handing out a stale value.

(That the output records are the same bytes with and without it is pinned end to end in
``tests/integration/test_previous_values.py``.)
"""

from __future__ import annotations

from clv_stream.pipeline.previous import PreviousValues, PublishedValue


def _value(i: int) -> PublishedValue:
    return PublishedValue(b'{"total_clv":"%d.50","p_alive":"0.9"}' % i, f"{i}.50")


def test_holds_at_most_the_limit_and_keeps_the_latest() -> None:
    cache = PreviousValues(1000)
    for i in range(25_000):
        cache.put(f"c{i}", f"3|{i}|0|1|2|1|0|170000|v1", _value(i))
        assert len(cache) <= 1000
    assert cache.get("c24999", "3|24999|0|1|2|1|0|170000|v1") == _value(24999)
    assert cache.get("c0", "3|0|0|1|2|1|0|170000|v1") is None  # long dropped


def test_a_value_is_returned_only_for_the_snapshot_it_was_published_with() -> None:
    cache = PreviousValues(10)
    cache.put("c1", "2|500|100|1|2|1|0|170000|v1", _value(1))
    assert cache.get("c1", "2|500|100|1|2|1|0|170000|v1") == _value(1)
    # another worker published since, or the model changed: recompute, do not reuse
    assert cache.get("c1", "3|900|180|1|3|2|0|170500|v1") is None
    assert cache.get("c1", "2|500|100|1|2|1|0|170000|v2") is None
    assert cache.get("c1", "2|500|100|1|2|1|0|170000|v") is None  # a prefix is not a match
    assert cache.get("c2", "2|500|100|1|2|1|0|170000|v1") is None


def test_an_update_replaces_the_held_value() -> None:
    cache = PreviousValues(4)
    cache.put("c1", "s1", _value(1))
    for i in range(2, 4):
        cache.put(f"c{i}", "s", _value(i))  # c1 moves to the old generation
    cache.put("c1", "s9", _value(9))
    assert cache.get("c1", "s9") == _value(9)
    assert cache.get("c1", "s1") is None


def test_a_zero_limit_holds_nothing() -> None:
    cache = PreviousValues(0)
    cache.put("c1", "s1", _value(1))
    assert len(cache) == 0
    assert cache.get("c1", "s1") is None
