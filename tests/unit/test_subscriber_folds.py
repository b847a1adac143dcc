"""The scoring thread's held folds give the states a fold from scratch gives, whatever
the arrival order, the times asked, and the generations dropped."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from clv_stream.domain.aggregate import Summary
from clv_stream.domain.subscriptions import SubEvent, states_of
from clv_stream.events.validation import SubscriptionChange
from clv_stream.pipeline.subscribers import SubscriberFolds
from clv_stream.store.replies import sub_events, subscription_line
from clv_stream.store.types import CustomerState
from tests.unit.domain.test_subscriptions import BASE, GRACE, D, subscription_events


def _line(e: SubEvent, customer: str) -> str:
    return subscription_line(SubscriptionChange(
        e.kind, e.event_id, e.subscription_id, customer, "default", e.amount_minor, e.ts,
        e.unit, e.interval_count, None, e.margin_bp, e.effective_at))


@settings(max_examples=200, deadline=None)
@given(st.lists(subscription_events("A", "c"), min_size=1, max_size=2), st.randoms(use_true_random=False),
       st.integers(1, 3))
def test_held_folds_equal_folding_the_whole_text(subs: list[list[SubEvent]], rnd: random.Random,
                                                 limit: int) -> None:
    # two subscriptions at most, their events arriving in time order mostly, one by one or
    # a few at a time; as_of moves forward mostly, sometimes back; a tiny cache drops them
    events = [e._replace(subscription_id=sid, event_id=f"{sid}{e.event_id}")
              for sid, evs in zip("AB", subs, strict=False) for e in evs]
    arrivals = sorted(events, key=lambda e: e.ts) if rnd.random() < 0.7 else rnd.sample(events, len(events))
    folds = SubscriberFolds(limit, GRACE)
    text, as_of, i = "", BASE, 0
    while i < len(arrivals):
        n = rnd.randint(1, 3)
        text += "".join(_line(e, "c") for e in arrivals[i:i + n])
        as_of = max([as_of, *(e.ts for e in arrivals[i:i + n])]) + rnd.randint(-10, 40) * D // 2
        i += n
        if rnd.random() < 0.2:
            folds.states(CustomerState("other", Summary(), "", "", subscriptions=text), as_of)
        state = CustomerState("c", Summary(), "", "", subscriptions=text)
        assert folds.states(state, as_of) == states_of(sub_events(text), as_of, GRACE)


def test_a_text_not_extending_the_held_one_is_folded_from_scratch() -> None:
    evs = [SubEvent("s", "s1", "A", BASE, 1000, "month", 1),
           SubEvent("n", "n1", "A", BASE + 30 * D, 1000), SubEvent("x", "x1", "A", BASE + 31 * D)]
    folds = SubscriberFolds(10, GRACE)
    whole = "".join(_line(e, "c") for e in evs)
    folds.states(CustomerState("c", Summary(), "", "", subscriptions=whole), BASE + 32 * D)
    other = "".join(_line(e, "c") for e in evs[:2])  # restored from elsewhere: shorter
    state = CustomerState("c", Summary(), "", "", subscriptions=other)
    assert folds.states(state, BASE + 32 * D) == states_of(evs[:2], BASE + 32 * D, GRACE)
