"""A subscription event's line in the store round-trips, and the scoring path's direct read
of the lines (``sub_events``) agrees with the general one (``subscription_changes``)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from clv_stream.domain.subscriptions import SubEvent
from clv_stream.events.validation import SubscriptionChange
from clv_stream.store.replies import sub_events, subscription_changes, subscription_line

ids = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20)
maybe_int = st.none() | st.integers(0, 10**12)
changes = st.builds(
    SubscriptionChange, kind=st.sampled_from("snhxa"), event_id=ids, subscription_id=ids,
    customer_id=ids, tenant=ids, amount_minor=maybe_int, ts=st.integers(0, 4 * 10**9),
    interval=st.none() | st.sampled_from(["day", "week", "month", "year"]),
    interval_count=st.none() | st.integers(1, 1095), plan_id=st.none() | ids,
    margin_bp=st.none() | st.integers(0, 10_000), effective_at=maybe_int)


@given(st.lists(changes, max_size=5))
def test_lines_round_trip_and_both_reads_agree(found: list[SubscriptionChange]) -> None:
    text = "".join(subscription_line(c) for c in found)
    assert subscription_changes(text) == found
    assert sub_events(text) == [
        SubEvent(c.kind, c.event_id, c.subscription_id, c.ts, c.amount_minor, c.interval,
                 c.interval_count, c.effective_at, c.margin_bp) for c in found]
