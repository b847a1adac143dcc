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


@pytest.mark.parametrize("start_day", [0, 29, 30, 80, 91, 200, 364, 366, 500])
def test_next_due_is_the_first_day_a_time_driven_label_flips(start_day: int) -> None:
    last = 1_704_067_200 + 5 * 3600  # the last order, 05:00 UTC on day 0

    def labels(day: int) -> dict[str, str]:
        return RULES.labels(orders=3, frequency=2, days_since_last=day, total_clv=300.0,
                            net_revenue=200.0)

    as_of = last + start_day * DAY
    due = RULES.next_due(3, last, as_of)
    assert due is not None
    due_day = due // DAY - last // DAY
    assert start_day < due_day <= start_day + 30  # looked at again within 30 days at most
    assert all(labels(d) == labels(start_day) for d in range(start_day, due_day))
    if due_day < start_day + 30:  # something time-driven moves that day: a label or the R score
        recency = [RULES.rfm.scores(d, 3, 200.0)[0] for d in (start_day, due_day)]
        assert labels(due_day) != labels(start_day) or recency[0] != recency[1]


def test_rfm_scores_and_names() -> None:
    assert RULES.rfm.scores(days_since_last=3, orders=9, net_revenue=5000) == (5, 5, 5)
    assert RULES.rfm.scores(days_since_last=400, orders=1, net_revenue=10) == (1, 1, 1)
    assert RULES.labels(1, 0, 3, 20.0, 20.0)["rfm"] == "new"
    assert RULES.labels(9, 8, 3, 20.0, 5000.0)["rfm"] == "champions"
    assert RULES.labels(9, 8, 200, 20.0, 5000.0)["rfm"] == "at_risk"
    assert RULES.labels(9, 8, 400, 20.0, 5000.0)["rfm"] == "cannot_lose"
    assert RULES.labels(1, 0, 400, 20.0, 20.0)["rfm"] == "hibernating"


def test_changes_emit_one_event_per_changed_dimension() -> None:
    before = decode(encode({"value_tier": "low", "lifecycle": "new", "rfm": "new"}))
    after = {"value_tier": "low", "lifecycle": "active", "rfm": "new"}
    assert changes(before, after) == [("lifecycle", "new", "active")]
    assert changes({}, after) == [("value_tier", None, "low"), ("lifecycle", None, "active"),
                                  ("rfm", None, "new")]
    assert changes(after, after) == []


# The batch forms the pipeline uses must label exactly as the per-customer rules above.
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from clv_stream.domain.segments import NO_LABELS, RfmCuts, changes_encoded  # noqa: E402

_customer = st.tuples(
    st.integers(0, 40),  # orders
    st.integers(0, 39),  # frequency
    st.integers(0, 900),  # days since the last order
    st.floats(0, 10_000, allow_nan=False).map(lambda v: round(v, 2)),  # total_clv
    st.floats(0, 5_000, allow_nan=False).map(lambda v: round(v, 2)),  # net_revenue
    st.booleans(),  # had labels before
    st.integers(0, 2_000_000_000),  # last order time
)
_rules = st.builds(
    SegmentRules,
    tier_cuts=st.lists(st.floats(0, 3000).map(lambda v: round(v, 2)), min_size=3, max_size=3)
    .map(lambda c: tuple(sorted(c))),
    at_risk_days=st.integers(1, 200), lapsed_days=st.integers(201, 800),
    rfm=st.builds(RfmCuts, recency_days=st.just((7.5, 30.0, 90.0, 180.0)),
                  orders=st.just((2.0, 3.0, 4.0, 10.0)), net_revenue=st.just((1.0, 2.0, 3.0, 4.0))),
)


@settings(max_examples=200, deadline=None)
@given(rules=_rules, batch=st.lists(_customer, min_size=1, max_size=30),
       as_of_lag=st.integers(0, 1000 * DAY))
def test_batch_labels_and_due_times_equal_the_per_customer_rules(
        rules: SegmentRules, batch: list[tuple[int, int, int, float, float, bool, int]],
        as_of_lag: int) -> None:
    cols = list(zip(*batch, strict=True))
    encoded = rules.encoded_labels(*cols[:6])
    as_of = max(cols[6]) + as_of_lag
    dues = rules.next_due_many(cols[0], cols[6], as_of)
    for (orders, freq, since, clv, net, had, last), got, due in zip(batch, encoded, dues, strict=True):
        if orders > 0:
            want = encode(rules.labels(orders, freq, since, clv, net))
        else:
            want = "none|none|none" if had else NO_LABELS
        assert got == want
        assert due == rules.next_due(orders, last, as_of)


@pytest.mark.parametrize(("before", "after"), [
    ("", "low|new|new"), ("low|new|new", "low|active|new"), ("low|new|new", "none|none|none"),
    ("", NO_LABELS), ("low|new|new", "low|new|new"), ("low||new", "medium|new|new"),
])
def test_changes_between_encoded_labels_equal_changes_between_dicts(before: str, after: str) -> None:
    assert changes_encoded(before, after) == changes(decode(before), decode(after))
