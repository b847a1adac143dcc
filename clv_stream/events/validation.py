"""Raw Kafka bytes -> a normalised :class:`Order` or :class:`SubscriptionChange`, or
:class:`~clv_stream.exceptions.InvalidEvent`.

Everything the aggregate step needs is computed here, once, at the edge: the amount in the
reporting currency's minor units (an exact integer), the event time in epoch seconds, the
margin in basis points, the tenant, and the idempotency key. Every rejection carries one
:class:`ErrorCode`, which is what lands in ``error.code`` on the dead-letter topic.

A message is read once per path with the same JSON reader (orjson): the fast path
(:mod:`clv_stream.events.fastpath`) answers the common case, and whatever it leaves goes to
:class:`~clv_stream.events.models.OrderEvent`, which names the error. Both accept exactly
what ``schemas/orders.schema.json`` accepts, then apply the rules that depend on settings.

Subscription events (:mod:`clv_stream.events.subscriptions`) take the model path, when the
caller asks for them (``subscriptions=True``, as the pipeline does).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal, NamedTuple, overload

import orjson
from pydantic import ValidationError

from clv_stream.events.errors import ErrorCode
from clv_stream.events.fastpath import FastDecoder, FastSubscription
from clv_stream.events.models import KIND_OF_EVENT, OrderEvent
from clv_stream.events.money import Money
from clv_stream.events.patterns import is_tenant_id
from clv_stream.events.spend import MarketingSpend
from clv_stream.events.subscriptions import (
    KIND_OF_SUBSCRIPTION_EVENT,
    SUBSCRIPTION_EVENTS,
    Priced,
    SubscriptionCancelled,
    SubscriptionChanged,
    SubscriptionEvent,
    SubscriptionStarted,
    Terms,
)
from clv_stream.exceptions import InvalidEvent
from clv_stream.settings import Settings

__all__ = ["ErrorCode", "Event", "Money", "Order", "OrderValidator", "SpendChange",
           "SubscriptionChange"]

_AMOUNT_CODES = {
    "finite_number": ErrorCode.NON_FINITE_AMOUNT,
    "greater_than_equal": ErrorCode.NEGATIVE_AMOUNT,
    "less_than": ErrorCode.AMOUNT_TOO_LARGE,
}
_FIELD_CODES = {
    "customer_id": ErrorCode.INVALID_CUSTOMER_ID,
    "order_id": ErrorCode.INVALID_ORDER_ID,
    "event_id": ErrorCode.INVALID_EVENT_ID,
    "currency": ErrorCode.INVALID_CURRENCY,
    "margin": ErrorCode.INVALID_MARGIN,
    "event_type": ErrorCode.UNKNOWN_EVENT_TYPE,
    "schema_version": ErrorCode.UNSUPPORTED_SCHEMA_VERSION,
    "tenant_id": ErrorCode.INVALID_TENANT_ID,
    "subscription_id": ErrorCode.INVALID_SUBSCRIPTION_ID,
    "plan_id": ErrorCode.INVALID_PLAN_ID,
    "interval": ErrorCode.INVALID_INTERVAL,
    "interval_count": ErrorCode.INVALID_INTERVAL_COUNT,
    "effective_at": ErrorCode.INVALID_EFFECTIVE_AT,
}
#: errors of rules across fields (no field in their location): the code and the field to blame
_MODEL_RULES = {"invalid_interval_count": (ErrorCode.INVALID_INTERVAL_COUNT, "interval_count")}


class Order(NamedTuple):
    """A validated order event, normalised for the aggregate step.

    A named tuple rather than a frozen dataclass: one is built per event on the hot path,
    and a tuple is built several times faster.
    """

    event_id: str
    kind: str  # "p" placed, "r" refunded, "c" cancelled
    order_id: str
    customer_id: str
    amount_minor: int  # in the reporting currency's minor units
    ts: int  # occurred_at, epoch seconds (UTC)
    margin_bp: int  # gross margin rate in basis points, 0..10000
    channel: str | None = None
    tenant: str = "default"  # the shop on the platform (contract v2 ``tenant_id``)


class SubscriptionChange(NamedTuple):
    """A validated subscription event, normalised as :class:`Order` is: exact minor units of
    the tenant's reporting currency, epoch seconds, basis points.

    A field the event does not carry is ``None``: ``amount_minor`` of a cancellation,
    ``interval`` and ``interval_count`` of a renewal or cancellation, ``plan_id`` where none
    is named, ``effective_at`` unless a cancellation gives one (``None``: the end of the paid
    period). ``margin_bp`` is set by ``subscription_started`` only (its ``margin``, else the
    tenant's default margin); later events keep the subscription's.
    """

    kind: str  # "s" started, "n" renewed, "h" changed, "x" cancelled, "a" reactivated
    event_id: str
    subscription_id: str
    customer_id: str
    tenant: str
    amount_minor: int | None  # per billing period, in the reporting currency's minor units
    ts: int  # occurred_at, epoch seconds (UTC)
    interval: str | None  # "day", "week", "month" or "year"
    interval_count: int | None
    plan_id: str | None
    margin_bp: int | None
    effective_at: int | None  # epoch seconds (UTC)


class SpendChange(NamedTuple):
    """A validated ``marketing_spend``: the amount in the tenant's reporting currency's minor
    units, its month as an index (year x 12 + month - 1). It names no customer; ``kind`` and
    ``customer_id`` are there so a batch reads every event alike."""

    event_id: str
    channel: str
    month: int
    amount_minor: int
    ts: int  # occurred_at, epoch seconds (UTC)
    tenant: str
    kind: str = "m"
    customer_id: str = ""


#: What validation returns: an event the store applies.
Event = Order | SubscriptionChange | SpendChange


def tenant_of(raw: bytes | None, default_tenant: str) -> str | None:
    """The tenant a rejected message names (``default_tenant`` when it names none), or None
    when it is not a JSON object or its ``tenant_id`` is not a tenant id."""
    try:
        event = orjson.loads(raw or b"")
    except orjson.JSONDecodeError:
        return None
    if not isinstance(event, dict):
        return None
    tenant = event.get("tenant_id")
    if tenant is None:
        return default_tenant
    return tenant if is_tenant_id(tenant) else None


class OrderValidator:
    """Validates raw order messages against the contract and the settings."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._max_bytes = settings.max_event_bytes
        self._skew_s = settings.max_clock_skew.total_seconds()
        self._min_ts = settings.min_event_time.timestamp()
        self._default_tenant = settings.default_tenant
        self.money = Money.of(settings)
        self._tenant_money: dict[str, Money] = {}
        self._fast = FastDecoder(self.money, _basis_points, self._default_tenant)

    def set_tenants(self, money: Mapping[str, Money]) -> None:
        """Tenants whose currency, rates or default margin are their own (others: the
        platform's)."""
        self._tenant_money = dict(money)
        self._fast.tenant_money = self._tenant_money

    def _money(self, tenant: str) -> Money:
        return self._tenant_money.get(tenant, self.money)

    @overload
    def validate(self, raw: bytes | None, now: float, *,
                 subscriptions: Literal[False] = False) -> Order: ...
    @overload
    def validate(self, raw: bytes | None, now: float, *,
                 subscriptions: bool) -> Event: ...

    def validate(self, raw: bytes | None, now: float, *,
                 subscriptions: bool = False) -> Event:
        """Return the normalised event, or raise :class:`InvalidEvent`.

        ``now`` is the wall clock (epoch seconds), used only to reject far-future dates
        (``math.inf`` accepts any). Without ``subscriptions``, a subscription event is
        ``unknown_event_type``, as every event but the three order events was before them.
        """
        if raw is None:
            raise InvalidEvent(ErrorCode.INVALID_JSON, "message has no value (tombstone)")
        if len(raw) > self._max_bytes:
            raise InvalidEvent(
                ErrorCode.TOO_LARGE, f"{len(raw)} bytes exceeds the limit of {self._max_bytes}"
            )
        fields = self._fast.decode(raw, subscriptions)
        if isinstance(fields, FastSubscription):
            at = fields.effective_at
            if self._min_ts <= fields.ts <= now + self._skew_s and (at is None or at >= self._min_ts):
                return SubscriptionChange(*fields[:6], int(fields.ts // 1), *fields[7:11],
                                          None if at is None else int(at // 1))
        elif fields is not None and self._min_ts <= fields[5] <= now + self._skew_s:
            event_id, kind, order_id, customer_id, amount, ts, margin_bp, channel, tenant = fields
            return Order(event_id, kind, order_id, customer_id, amount, int(ts // 1), margin_bp,
                         channel, tenant)
        try:  # the fast path's reader, so both agree on what JSON is (and on nesting)
            message = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidEvent(ErrorCode.INVALID_JSON, str(exc)[:300]) from None
        model = _subscription_model(message) if subscriptions else None
        try:
            if model is not None:
                return self._subscription(model.model_validate(message), now)
            if subscriptions and type(message) is dict \
                    and message.get("event_type") == "marketing_spend":
                return self._spend(MarketingSpend.model_validate(message), now)
            event = OrderEvent.model_validate(message)
        except ValidationError as exc:
            raise _translate(exc) from None
        return self._normalise(event, now)

    def _spend(self, event: MarketingSpend, now: float) -> SpendChange:
        tenant = self._default_tenant if event.tenant_id is None else event.tenant_id
        year, month = event.month.split("-")
        return SpendChange(event.event_id, event.channel, int(year) * 12 + int(month) - 1,
                           self._money(tenant).to_minor(event.amount, event.currency),
                           self._ts(event, now), tenant)

    def _ts(self, event: OrderEvent | SubscriptionEvent | MarketingSpend, now: float) -> int:
        """``occurred_at`` in epoch seconds, if it lies in the accepted window."""
        ts = event.occurred_at.timestamp()
        if not self._min_ts <= ts <= now + self._skew_s:
            raise InvalidEvent(
                ErrorCode.TIMESTAMP_OUT_OF_RANGE,
                f"occurred_at is before {self._settings.min_event_time.isoformat()} or more than"
                f" {self._settings.max_clock_skew} in the future",
                "occurred_at",
            )
        return int(ts // 1)

    def _subscription(self, event: SubscriptionEvent, now: float) -> SubscriptionChange:
        ts = self._ts(event, now)
        tenant = self._default_tenant if event.tenant_id is None else event.tenant_id
        money = self._money(tenant)
        amount = money.to_minor(event.amount, event.currency) if isinstance(event, Priced) else None
        margin_bp = plan_id = None
        if isinstance(event, SubscriptionStarted | SubscriptionChanged):
            plan_id = event.plan_id
        if isinstance(event, SubscriptionStarted):
            margin_bp = (money.default_margin_bp if event.margin is None
                         else _basis_points(event.margin))
        return SubscriptionChange(
            kind=KIND_OF_SUBSCRIPTION_EVENT[event.event_type],
            event_id=event.idempotency_key,
            subscription_id=event.subscription_id,
            customer_id=event.customer_id,
            tenant=tenant,
            amount_minor=amount,
            ts=ts,
            interval=event.interval.value if isinstance(event, Terms) else None,
            interval_count=event.interval_count if isinstance(event, Terms) else None,
            plan_id=plan_id,
            margin_bp=margin_bp,
            effective_at=self._effective_at(event),
        )

    def _effective_at(self, event: SubscriptionEvent) -> int | None:
        """A cancellation's ``effective_at`` in epoch seconds: any time from
        ``CLV_MIN_EVENT_TIME`` on (earlier than ``occurred_at`` is a backdated cancellation)."""
        if not isinstance(event, SubscriptionCancelled) or event.effective_at is None:
            return None
        at = event.effective_at.timestamp()
        if at < self._min_ts:
            raise InvalidEvent(
                ErrorCode.TIMESTAMP_OUT_OF_RANGE,
                f"effective_at is before {self._settings.min_event_time.isoformat()}",
                "effective_at",
            )
        return int(at // 1)

    def _normalise(self, event: OrderEvent, now: float) -> Order:
        ts = self._ts(event, now)
        tenant = self._default_tenant if event.tenant_id is None else event.tenant_id
        money = self._money(tenant)
        margin_bp = (
            money.default_margin_bp if event.margin is None else _basis_points(event.margin)
        )
        return Order(
            event_id=event.idempotency_key,
            kind=KIND_OF_EVENT[event.event_type],
            order_id=event.order_id,
            customer_id=event.customer_id,
            amount_minor=money.to_minor(event.amount, event.currency),
            ts=ts,
            margin_bp=margin_bp,
            channel=event.channel,
            tenant=tenant,
        )


def _subscription_model(message: Any) -> type[SubscriptionEvent] | None:
    event_type = message.get("event_type") if type(message) is dict else None
    return SUBSCRIPTION_EVENTS.get(event_type) if type(event_type) is str else None


def _basis_points(rate: Decimal) -> int:
    return int((rate * 10000).to_integral_value(rounding=ROUND_HALF_EVEN))


def _translate(exc: ValidationError) -> InvalidEvent:
    """Map pydantic's first error to one :class:`ErrorCode`."""
    error = exc.errors(include_url=False)[0]
    kind, loc = error["type"], error["loc"]
    if not loc and kind in _MODEL_RULES:
        code, rule_field = _MODEL_RULES[kind]
        return InvalidEvent(code, _message(error), rule_field)
    field = str(loc[0]) if loc else None
    return InvalidEvent(_code_for(kind, field), _message(error), field)


def _code_for(kind: str, field: str | None) -> ErrorCode:
    if kind == "json_invalid":
        return ErrorCode.INVALID_JSON
    if kind in ("model_type", "model_attributes_type"):
        return ErrorCode.NOT_AN_OBJECT
    if kind == "missing":
        return ErrorCode.MISSING_FIELD
    if field == "amount":
        return _AMOUNT_CODES.get(kind, ErrorCode.INVALID_AMOUNT)
    if field == "occurred_at":
        if kind == "timezone_aware":
            return ErrorCode.NAIVE_TIMESTAMP
        return ErrorCode.INVALID_TIMESTAMP
    return _FIELD_CODES.get(field or "", ErrorCode.INVALID_FIELD)


def _message(error: Any) -> str:
    return str(error.get("msg", "invalid"))[:300]

