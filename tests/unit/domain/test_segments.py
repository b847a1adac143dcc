from __future__ import annotations

import pytest

from clv_stream.domain.segments import SegmentRules, changes, decode, encode

RULES = SegmentRules(tier_cuts=(100.0, 500.0, 2000.0), at_risk_days=90, lapsed_days=365)
DAY = 86400


@pytest.mark.parametrize(("clv", "tier"), [(0, "low"), (99.99, "low"), (100, "medium"),
                                           (499.99, "medium"), (500, "high"), (2000, "vip")])
def test_value_tiers(clv: float, tier: str) -> None:
    assert RULES.value_tier(clv) == tier


@pytest.mark.parametrize(("orders", "freq", "since", "stage"), [
    (1, 0, 0, "new"), (3, 2, 90, "active"), (3, 2, 91, "at_risk"), (1, 0, 365, "at_risk"),
    (1, 0, 366, "lapsed"), (0, 0, 0, "none"),
])
def test_lifecycle(orders: int, freq: int, since: int, stage: str) -> None:
    assert RULES.lifecycle(orders, freq, since) == stage


def test_next_due_is_when_the_lifecycle_label_flips() -> None:
    last = 1_704_067_200 + 5 * 3600  # an order at 05:00 on day D
    due = RULES.next_due(1, last, as_of=last)
    assert due is not None
    day = lambda ts: ts // DAY - last // DAY  # noqa: E731
    # not yet at risk the day before, at risk on the due day (capped by the 30-day rescore)
    assert due <= last + 91 * DAY
    due_at_risk = RULES.next_due(1, last, as_of=last + 80 * DAY)
    assert due_at_risk is not None
    assert day(due_at_risk) == 91
    assert RULES.lifecycle(1, 0, day(due_at_risk) - 1) == "new"
    assert RULES.lifecycle(1, 0, day(due_at_risk)) == "at_risk"
    after = RULES.next_due(1, last, as_of=last + 100 * DAY)
    assert after is not None
    assert day(after) <= 366


def test_changes_emit_one_event_per_changed_dimension() -> None:
    before = decode(encode({"value_tier": "low", "lifecycle": "new"}))
    after = {"value_tier": "low", "lifecycle": "active"}
    assert changes(before, after) == [("lifecycle", "new", "active")]
    assert changes({}, after) == [("value_tier", None, "low"), ("lifecycle", None, "active")]
    assert changes(after, after) == []
