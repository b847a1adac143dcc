"""The output codec's spliced records are byte for byte the pydantic models' JSON.

The worker never builds a model per record (too slow); this pins that the bytes it splices
are what ``model_dump_json(by_alias=True)`` of the contract's models gives, for values the
scoring code really produces and for any ids, causes and labels.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from clv_stream.domain.aggregate import Summary
from clv_stream.domain.model import ScoringModel
from clv_stream.domain.value import ValueConfig, iso, score
from clv_stream.events.codec import DeadLetterInput, JsonCodec
from clv_stream.events.models import Cause, ClvUpdate, DeadLetter, Dimension, SegmentChange

T0 = 1_704_067_200  # 2024-01-01T00:00:00Z
DAY = 86400
EVENT_ID = b"0123456789abcdef0123456789abcdef"
texts = st.text(max_size=40)
tenants = st.from_regex(r"[A-Za-z0-9._-]{1,64}", fullmatch=True)


@st.composite
def summaries(draw: st.DrawFn) -> Summary:
    orders = draw(st.integers(0, 300))
    days = draw(st.integers(min(orders, 1), max(orders, 1)))
    first = T0 - draw(st.integers(0, 3000)) * DAY + draw(st.integers(0, DAY - 1))
    last = first + (draw(st.integers(0, 2000)) * DAY if days > 1 else 0)
    net = draw(st.integers(0, 10**11))
    return Summary(orders, net, draw(st.integers(0, net)), first, last, days,
                   draw(st.integers(0, net)))


@st.composite
def values(draw: st.DrawFn) -> tuple[dict[str, Any], int]:
    """A ``CustomerValue`` as the worker scores it, and the event time it is valued at."""
    summary = draw(summaries())
    as_of = max(summary.last_ts, T0) + draw(st.integers(0, 4000)) * DAY
    decimals = draw(st.sampled_from([0, 2, 3]))
    return score([summary], as_of, ScoringModel.default(), ValueConfig(decimals=decimals))[0], as_of


@settings(max_examples=300, deadline=None)
@given(values(), st.one_of(st.none(), values()), texts, tenants, st.sampled_from(list(Cause)),
       texts, st.sampled_from(["USD", "JPY", "KWD"]), texts)
def test_an_update_is_the_models_json(current: tuple[dict[str, Any], int],
                                      previous: tuple[dict[str, Any], int] | None,
                                      customer_id: str, tenant: str, cause: Cause, source: str,
                                      currency: str, version: str) -> None:
    codec = JsonCodec()
    cur, as_of = current
    prev = previous[0] if previous else None
    delta = Decimal(cur["total_clv"]) - Decimal(prev["total_clv"] if prev else 0)
    body = codec.update(EVENT_ID, codec.string(customer_id), codec.string(tenant), cause.value,
                        source,
                        codec.batch_members(iso(as_of), currency, version),
                        codec.value(prev) if prev else None, codec.value(cur), delta)
    model = ClvUpdate(event_id=EVENT_ID.decode(), customer_id=customer_id, tenant_id=tenant,
                      cause=cause,
                      source_event_id=source, as_of=iso(as_of),  # type: ignore[arg-type]
                      currency=currency, model_version=version, previous=prev,  # type: ignore[arg-type]
                      current=cur, delta_clv=delta)  # type: ignore[arg-type]
    assert body == model.model_dump_json(by_alias=True).encode()


@settings(max_examples=300, deadline=None)
@given(values(), texts, tenants, st.sampled_from(list(Dimension)),
       st.one_of(st.none(), texts), texts, st.sampled_from(list(Cause)))
def test_a_segment_change_is_the_models_json(current: tuple[dict[str, Any], int],
                                              customer_id: str, tenant: str,
                                              dimension: Dimension, old: str | None, new: str,
                                              cause: Cause) -> None:
    codec = JsonCodec()
    cur, as_of = current
    tail = codec.segment_tail(iso(as_of), cause.value, cur)
    body = codec.segment(EVENT_ID, codec.string(customer_id), codec.string(tenant),
                         dimension.value, old, new, tail)
    model = SegmentChange.model_validate({
        "event_id": EVENT_ID.decode(), "customer_id": customer_id, "tenant_id": tenant,
        "dimension": dimension,
        "from": old, "to": new, "as_of": iso(as_of), "cause": cause,
        "total_clv": cur["total_clv"], "p_alive": cur["p_alive"]})
    assert body == model.model_dump_json(by_alias=True).encode()


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), st.binary(max_size=3000)), st.binary(max_size=3000), texts, texts,
       st.one_of(st.none(), texts), st.integers(0, 10**6), st.integers(600, 5000),
       st.one_of(st.none(), tenants))
def test_a_dead_letter_is_the_models_json_and_fits_its_bound(
        key: bytes | None, value: bytes, code: str, message: str, field: str | None,
        offset: int, max_bytes: int, tenant: str | None) -> None:
    rejected = DeadLetterInput("orders", 3, offset, key, value, code, message, field, tenant)
    record_key, body = JsonCodec().dead_letter(rejected, iso(T0), max_bytes)
    model = DeadLetter.model_validate_json(body)
    assert body == model.model_dump_json(by_alias=True).encode()
    assert len(body) <= max_bytes or model.raw == ""
    assert record_key == (key[:1024] if key is not None else None)
