from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clv_stream.domain.aggregate import SECONDS_PER_DAY
from clv_stream.domain.segments import DIMENSIONS, Columns, SegmentSet
from clv_stream.domain.segments.lifecycle import Lifecycle
from clv_stream.domain.segments.rfm import Rfm
from clv_stream.domain.segments.subscription import Subscription
from clv_stream.domain.segments.value_tier import ValueTier
from clv_stream.events.models import Dimension

SET = SegmentSet.from_cuts({"value_tier": (100.0, 500.0, 2000.0), "lifecycle": (90, 365)})
DAY = 86400


def columns(*rows: tuple[int, int, int, float, float, int]) -> Columns:
    """(orders, frequency, days since the last order, total_clv, net_revenue, last order time)."""
    o, f, s, c, n, t = zip(*rows, strict=True)
    return Columns(np.array(o, dtype=np.int64), np.array(f, dtype=np.int64),
                   np.array(s, dtype=np.int64), np.array(c, dtype=np.float64),
                   np.array(n, dtype=np.float64), np.array(t, dtype=np.int64))


def labels(orders: int, frequency: int, days_since_last: int, total_clv: float,
           net_revenue: float, had: bool = True) -> dict[str, str]:
    """One customer's labels through the batch API the pipeline uses."""
    cols = columns((orders, frequency, days_since_last, total_clv, net_revenue, 0))
    return SET.decode(SET.encoded_labels(cols, ["low|new|new" if had else ""])[0])


@pytest.mark.parametrize(("clv", "tier"), [(0, "low"), (99.99, "low"), (100, "medium"),
                                           (499.99, "medium"), (500, "high"), (2000, "vip")])
def test_value_tiers(clv: float, tier: str) -> None:
    assert labels(1, 0, 0, clv, 0.0)["value_tier"] == tier


@pytest.mark.parametrize(("orders", "freq", "since", "stage"), [
    (1, 0, 0, "new"), (3, 2, 90, "active"), (3, 2, 91, "at_risk"), (1, 0, 365, "at_risk"),
    (1, 0, 366, "lapsed"), (0, 0, 0, "none"),
])
def test_lifecycle(orders: int, freq: int, since: int, stage: str) -> None:
    assert labels(orders, freq, since, 0.0, 0.0)["lifecycle"] == stage


def test_a_customer_without_a_counting_order_has_no_labels_or_none_everywhere() -> None:
    assert labels(0, 0, 0, 0.0, 0.0, had=False) == {}
    # a customer without a subscription has no subscription label ("", not "none")
    assert labels(0, 0, 0, 0.0, 0.0, had=True) == dict.fromkeys(
        ("value_tier", "lifecycle", "rfm"), "none")
    assert (SET.no_labels, SET.all_none) == ("|||", "none|none|none|")


def rfm_scores(days_since_last: int, orders: int, net_revenue: float) -> tuple[int, int, int]:
    r, f, m = Rfm().scores(columns((orders, 0, days_since_last, 0.0, net_revenue, 0)))
    return int(r[0]), int(f[0]), int(m[0])


@pytest.mark.parametrize("start_day", [0, 29, 30, 80, 91, 200, 364, 366, 500])
def test_next_due_is_the_first_day_a_time_driven_label_flips(start_day: int) -> None:
    last = 1_704_067_200 + 5 * 3600  # the last order, 05:00 UTC on day 0

    def at(day: int) -> dict[str, str]:
        return labels(orders=3, frequency=2, days_since_last=day, total_clv=300.0, net_revenue=200.0)

    as_of = last + start_day * DAY
    due = SET.next_due(columns((3, 2, start_day, 300.0, 200.0, last)), as_of)[0]
    assert due is not None
    due_day = due // DAY - last // DAY
    assert start_day < due_day <= start_day + 30  # looked at again within 30 days at most
    assert all(at(d) == at(start_day) for d in range(start_day, due_day))
    if due_day < start_day + 30:  # something time-driven moves that day: a label or the R score
        recency = [rfm_scores(d, 3, 200.0)[0] for d in (start_day, due_day)]
        assert at(due_day) != at(start_day) or recency[0] != recency[1]


def test_rfm_scores_and_names() -> None:
    assert rfm_scores(days_since_last=3, orders=9, net_revenue=5000) == (5, 5, 5)
    assert rfm_scores(days_since_last=400, orders=1, net_revenue=10) == (1, 1, 1)
    assert labels(1, 0, 3, 20.0, 20.0)["rfm"] == "new"
    assert labels(9, 8, 3, 20.0, 5000.0)["rfm"] == "champions"
    assert labels(9, 8, 200, 20.0, 5000.0)["rfm"] == "at_risk"
    assert labels(9, 8, 400, 20.0, 5000.0)["rfm"] == "cannot_lose"
    assert labels(1, 0, 400, 20.0, 20.0)["rfm"] == "lost"
    assert labels(1, 0, 200, 20.0, 20.0)["rfm"] == "hibernating"
    # M moves the cell: the same recency and orders, more revenue (F1 M5: FM 3)
    assert labels(1, 0, 3, 20.0, 1000.0)["rfm"] == "potential_loyalist"
    assert labels(1, 0, 400, 20.0, 1000.0)["rfm"] == "at_risk"


def test_rfm_scores_are_value_fields_of_customers_with_a_counting_order() -> None:
    cols = columns((9, 8, 3, 20.0, 5000.0, 0), (0, 0, 0, 0.0, 0.0, 0), (1, 0, 400, 20.0, 10.0, 0))
    values: list[dict[str, object]] = [{}, {}, {}]
    SET.add_value_fields(values, cols)
    assert values == [{"rfm_scores": {"r": 5, "f": 5, "m": 5}}, {"rfm_scores": None},
                      {"rfm_scores": {"r": 1, "f": 1, "m": 1}}]


def test_changes_emit_one_event_per_changed_dimension() -> None:
    before = SET.encode({"value_tier": "low", "lifecycle": "new", "rfm": "new"})
    after = SET.encode({"value_tier": "low", "lifecycle": "active", "rfm": "new"})
    assert SET.changes(before, after) == [("lifecycle", "new", "active")]
    assert SET.changes("", after) == [("value_tier", None, "low"), ("lifecycle", None, "active"),
                                      ("rfm", None, "new")]
    assert SET.changes(after, after) == []


def test_the_published_dimension_enum_is_the_registry() -> None:
    assert tuple(d.value for d in Dimension) == DIMENSIONS == SET.dimensions


def test_cut_points_are_read_per_scheme_with_defaults_for_the_rest() -> None:
    model_rfm = {"recency_days": (7.0, 30.0, 90.0, 180.0), "orders": (2.0, 3.0, 4.0, 10.0)}
    built = SegmentSet.from_cuts({"value_tier": (1.0, 2.0, 3.0),
                                  **{f"rfm.{k}": v for k, v in model_rfm.items()}})
    assert built.schemes == (ValueTier((1.0, 2.0, 3.0)), Lifecycle(90, 365),
                             Rfm((7.0, 30.0, 90.0, 180.0), (2.0, 3.0, 4.0, 10.0)),
                             Subscription())
    with pytest.raises(ValueError, match="value_tier"):
        SegmentSet.from_cuts({"value_tier": (3.0, 2.0, 1.0)})
    with pytest.raises(ValueError, match="lifecycle"):
        SegmentSet.from_cuts({"lifecycle": (90,)})


# --- today's per-customer rules, kept as the reference the schemes must reproduce exactly ---

Cuts4 = tuple[float, float, float, float]
#: R x FM (FM: the mean of F and M, half up), the usual 11 segments
_RFM_GRID = (
    ("new", "potential_loyalist", "potential_loyalist", "champions", "champions"),
    ("promising", "potential_loyalist", "potential_loyalist", "champions", "champions"),
    ("about_to_sleep", "about_to_sleep", "need_attention", "loyal", "loyal"),
    ("hibernating", "hibernating", "at_risk", "at_risk", "at_risk"),
    ("lost", "lost", "at_risk", "at_risk", "cannot_lose"),
)
_REF_DIMENSIONS = ("value_tier", "lifecycle", "rfm", "subscription")


@dataclass(frozen=True)
class ReferenceRules:
    tier_cuts: tuple[float, float, float]
    at_risk_days: int
    lapsed_days: int
    recency_days: Cuts4
    orders: Cuts4
    net_revenue: Cuts4 = (50.0, 150.0, 400.0, 1000.0)

    def labels(self, orders: int, frequency: int, since: int, total_clv: float,
               net_revenue: float) -> dict[str, str]:
        tier = ("low", "medium", "high", "vip")[sum(1 for c in self.tier_cuts if total_clv >= c)]
        if since > self.lapsed_days:
            life = "lapsed"
        elif since > self.at_risk_days:
            life = "at_risk"
        else:
            life = "active" if frequency > 0 else "new"
        r = 6 - (1 + sum(1 for c in self.recency_days if since >= c))
        f = 1 + sum(1 for c in self.orders if orders >= c)
        m = 1 + sum(1 for c in self.net_revenue if net_revenue >= c)
        fm = math.floor((f + m) / 2 + 0.5)
        return {"value_tier": tier, "lifecycle": life, "rfm": _RFM_GRID[5 - r][fm - 1]}

    def next_due(self, orders: int, last_ts: int, as_of: float) -> int | None:
        if orders <= 0:
            return None
        last_day = last_ts // SECONDS_PER_DAY
        flips = [last_day + d + 1 for d in (self.at_risk_days, self.lapsed_days)]
        flips += [last_day + math.ceil(cut) for cut in self.recency_days]
        later = [day * SECONDS_PER_DAY for day in flips if day * SECONDS_PER_DAY > as_of]
        return int(min([*later, as_of + 30 * SECONDS_PER_DAY]))


def ref_encode(labels: Mapping[str, str]) -> str:
    return "|".join(labels.get(d, "") for d in _REF_DIMENSIONS)


def ref_decode(raw: str) -> dict[str, str]:
    return {d: v for d, v in zip(_REF_DIMENSIONS, raw.split("|"), strict=False) if v} if raw else {}


def ref_changes(before: Mapping[str, str], after: Mapping[str, str]) -> list[tuple[str, str | None, str]]:
    return [(d, before.get(d), after[d]) for d in _REF_DIMENSIONS
            if d in after and before.get(d) != after[d]]


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
    ReferenceRules,
    tier_cuts=st.lists(st.floats(0, 3000).map(lambda v: round(v, 2)), min_size=3, max_size=3)
    .map(lambda c: tuple(sorted(c))),
    at_risk_days=st.integers(1, 200), lapsed_days=st.integers(201, 800),
    recency_days=st.sampled_from([(7.5, 30.0, 90.0, 180.0), (30.0, 90.0, 180.0, 365.0)]),
    orders=st.sampled_from([(2.0, 3.0, 4.0, 10.0), (2.0, 3.0, 5.0, 8.0)]),
)


@settings(max_examples=200, deadline=None)
@given(ref=_rules, batch=st.lists(_customer, min_size=1, max_size=30),
       as_of_lag=st.integers(0, 1000 * DAY))
def test_the_segment_set_labels_and_due_times_equal_the_per_customer_rules(
        ref: ReferenceRules, batch: list[tuple[int, int, int, float, float, bool, int]],
        as_of_lag: int) -> None:
    rules = SegmentSet.from_cuts({
        "value_tier": ref.tier_cuts, "lifecycle": (ref.at_risk_days, ref.lapsed_days),
        "rfm.recency_days": ref.recency_days, "rfm.orders": ref.orders,
        "rfm.net_revenue": ref.net_revenue})
    cols = columns(*[(o, f, s, c, n, t) for o, f, s, c, n, _, t in batch])
    previous = ["low|new|new" if had else "" for *_, had, _ in batch]
    encoded = rules.encoded_labels(cols, previous)
    as_of = max(c[6] for c in batch) + as_of_lag
    dues = rules.next_due(cols, as_of)
    for (orders, freq, since, clv, net, had, last), got, due in zip(batch, encoded, dues, strict=True):
        if orders > 0:
            want = ref_encode(ref.labels(orders, freq, since, clv, net))
        else:
            want = "none|none|none|" if had else "|||"
        assert got == want
        assert due == ref.next_due(orders, last, as_of)


@pytest.mark.parametrize(("before", "after"), [
    ("", "low|new|new"), ("low|new|new", "low|active|new"), ("low|new|new", "none|none|none"),
    ("", "||"), ("low|new|new", "low|new|new"), ("low||new", "medium|new|new"),
])
def test_changes_between_encoded_labels_equal_changes_between_dicts(before: str, after: str) -> None:
    assert SET.changes(before, after) == ref_changes(ref_decode(before), ref_decode(after))
    assert SET.decode(before) == ref_decode(before)
