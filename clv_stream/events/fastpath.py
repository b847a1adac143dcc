"""The common case of event validation, without pydantic: orjson and a few hand checks.

:class:`FastDecoder` accepts only a conservative subset of what :class:`OrderEvent` and the
subscription events' models accept
(plain decimal strings, the model's RFC 3339 times, printable identifiers, known
currencies, plain tenant ids) and returns ``None`` for anything else, so the caller falls
back to the pydantic model, which decides and names the error. Whatever it does accept, it
normalises exactly as the model path does (differential tests pin that, and both against
``schemas/orders.schema.json``). Several times cheaper than the model path per event.

It reads with orjson, as the model path does, so the two agree on what JSON is; extra
fields are not looked at, however deep they nest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, NamedTuple, TypeGuard

import orjson

from clv_stream.events.models import KIND_OF_EVENT, MAX_AMOUNT
from clv_stream.events.money import Money
from clv_stream.events.subscriptions import KIND_OF_SUBSCRIPTION_EVENT, MAX_INTERVAL_COUNT
from clv_stream.events.times import PARSED, parse_time
from clv_stream.exceptions import InvalidEvent

__all__ = ["FastDecoder", "FastFields", "FastSubscription", "customer_keyed"]

#: (event_id, kind, order_id, customer_id, amount_minor, ts_float, margin_bp, channel, tenant)
FastFields = tuple[str, str, str, str, int, float, int, str | None, str]


class FastSubscription(NamedTuple):
    """A subscription event's fields in ``SubscriptionChange``'s order; times unfloored, as
    the caller checks them against its window first."""

    kind: str
    event_id: str
    subscription_id: str
    customer_id: str
    tenant: str
    amount_minor: int | None
    ts: float
    interval: str | None
    interval_count: int | None
    plan_id: str | None
    margin_bp: int | None
    effective_at: float | None


_MAX_AMOUNT = int(MAX_AMOUNT)  # the model's bound, so both paths agree
_MAX_DIGITS = len(str(_MAX_AMOUNT))  # a whole part this long or longer takes the model path
_MAX_CHANNEL = 256
_MAX_TENANT = 64
_TENANT_PUNCTUATION = str.maketrans("", "", "._-")
_MOST_PERIODS = {unit.value: most for unit, most in MAX_INTERVAL_COUNT.items()}


def _identifier(value: Any) -> TypeGuard[str]:
    # printable implies "no C0/C1 control character", the model's rule (a subset of it)
    return type(value) is str and 0 < len(value) <= 128 and value.isprintable()


def _tenant(value: Any) -> TypeGuard[str]:
    # the model's TENANT_PATTERN, less ids of punctuation only (those take the model path)
    return (type(value) is str and 0 < len(value) <= _MAX_TENANT and value.isascii()
            and (value.isalnum() or value.translate(_TENANT_PUNCTUATION).isalnum()))


class FastDecoder:
    """Decodes and checks the common shape of an order event; ``None`` means "ask pydantic".

    ``money`` (and ``tenant_money`` for tenants of their own currency or margin) says which
    currencies the model path accepts and converts, and how (the model path's conversion);
    ``basis_points(rate)`` is that path's margin conversion.
    """

    def __init__(self, money: Money, basis_points: Callable[[Decimal], int],
                 default_tenant: str = "default") -> None:
        self._money = money
        self._bp = basis_points
        self._default_tenant = default_tenant
        #: tenant -> its money rules, where they are not the platform's (replaced whole)
        self.tenant_money: Mapping[str, Money] = {}

    def decode(self, raw: bytes, subscriptions: bool = False,
               ) -> FastFields | FastSubscription | None:
        """An order's fields, or with ``subscriptions`` a subscription event's too."""
        try:
            event = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        if type(event) is not dict or event.get("schema_version") != 1:
            return None
        if type(event["schema_version"]) is not int:
            return None
        event_type = event.get("event_type")
        if type(event_type) is not str:
            return None
        kind = KIND_OF_EVENT.get(event_type)
        if kind is None:
            if subscriptions and event_type in KIND_OF_SUBSCRIPTION_EVENT:
                return self._subscription(event, event_type)
            return None
        order_id, customer_id = event.get("order_id"), event.get("customer_id")
        if not _identifier(order_id) or not _identifier(customer_id):
            return None
        event_id = event.get("event_id")
        if event_id is None:
            event_id = f"{order_id}:{event_type}"
        elif not _identifier(event_id):
            return None
        channel = event.get("channel")
        if channel is not None and (type(channel) is not str or len(channel) > _MAX_CHANNEL):
            return None
        tenant = self._tenant_of(event)
        if tenant is None:
            return None
        money = self.tenant_money.get(tenant, self._money) if self.tenant_money else self._money
        amount = self._amount(event.get("amount"), event.get("currency"), money)
        ts = _time(event.get("occurred_at"))
        rate = event.get("margin")
        margin = money.default_margin_bp if rate is None else self._margin(rate)
        if amount is None or ts is None or margin is None:
            return None
        return event_id, kind, order_id, customer_id, amount, ts, margin, channel, tenant

    def _tenant_of(self, event: dict[str, Any]) -> str | None:
        tenant = event.get("tenant_id")
        if tenant is None:
            return self._default_tenant
        return tenant if _tenant(tenant) else None

    def _subscription(self, event: dict[str, Any], event_type: str) -> FastSubscription | None:
        """The fields of a subscription event of the common shape (only those of its type
        are read: the models ignore the others)."""
        kind = KIND_OF_SUBSCRIPTION_EVENT[event_type]
        sub_id, customer_id = event.get("subscription_id"), event.get("customer_id")
        occurred = event.get("occurred_at")
        ts = _time(occurred)
        if ts is None or not _identifier(sub_id) or not _identifier(customer_id):
            return None
        event_id = event.get("event_id")
        if event_id is None:
            event_id = f"{sub_id}:{event_type}:{occurred}"  # occurred_at as sent
        elif not _identifier(event_id):
            return None
        tenant = self._tenant_of(event)
        if tenant is None:
            return None
        money = self.tenant_money.get(tenant, self._money) if self.tenant_money else self._money
        amount = unit = count = plan = margin = effective = None
        if kind != "x":
            amount = self._amount(event.get("amount"), event.get("currency"), money)
            if amount is None:
                return None
        if kind in "sha":  # terms
            unit, count = event.get("interval"), event.get("interval_count")
            most = _MOST_PERIODS.get(unit) if type(unit) is str else None
            if count is None:
                count = 1
            if most is None or type(count) is not int or not 1 <= count <= most:
                return None
        if kind in "sh":
            plan = event.get("plan_id")
            if plan is not None and not _identifier(plan):
                return None
        if kind == "s":
            rate = event.get("margin")
            margin = money.default_margin_bp if rate is None else self._margin(rate)
            if margin is None:
                return None
        if kind == "x" and event.get("effective_at") is not None:
            effective = _time(event["effective_at"])
            if effective is None:
                return None
        return FastSubscription(kind, event_id, sub_id, customer_id, tenant, amount, ts, unit,
                                count, plan, margin, effective)

    def _amount(self, value: Any, currency: Any, money: Money) -> int | None:
        if type(currency) is not str or currency not in money.convertible:
            return None
        if type(value) is float:
            value = repr(value)  # as the model does: Decimal(str(float))
        if type(value) is int:
            if not 0 <= value < _MAX_AMOUNT:
                return None
            exact = Decimal(value)
        elif type(value) is str and value.isascii():
            whole, dot, frac = value.partition(".")
            if not (whole.isdigit() and len(whole) < _MAX_DIGITS and (frac.isdigit() or not dot)):
                return None
            if currency == money.currency and len(frac) <= money.decimals:
                return int(whole) * money.scale + int(frac.ljust(money.decimals, "0") or 0)
            exact = Decimal(value)
        else:
            return None
        try:
            return money.to_minor(exact, currency)
        except InvalidEvent:  # the model path names it
            return None

    def _margin(self, value: Any) -> int | None:
        if type(value) is float:
            value = repr(value)
        elif type(value) is int:
            value = str(value)
        if type(value) is not str or not value.isascii():
            return None
        whole, dot, frac = value.partition(".")
        if not (whole.isdigit() and len(whole) <= 12 and (frac.isdigit() or not dot)):
            return None
        rate = Decimal(value)
        return self._bp(rate) if rate <= 1 else None


def _time(value: Any) -> float | None:
    ts = PARSED.get(value) if type(value) is str else None
    return parse_time(value) if ts is None else ts


def customer_keyed(key: bytes | None, value: bytes | None) -> bool:
    """Whether a raw order's Kafka key is its ``customer_id`` (or it can touch no customer:
    a tombstone, or no order at all, is dead-lettered and changes no state).

    The batch loop asks this of every record to know whether a batch's customers all stay
    in their partitions' lane. Fast path: the value holds the field once, as
    ``"customer_id":"<key>"`` (or with the one space of Python's ``json.dumps``) and the key
    has no quote or backslash, so that string cannot end elsewhere; else it is read as the
    validator reads it (orjson).
    """
    if value is None:
        return True
    if (key is not None and b'"' not in key and b"\\" not in key
            and value.count(b'"customer_id"') == 1
            and (b'"customer_id":"' + key + b'"' in value
                 or b'"customer_id": "' + key + b'"' in value)):
        return True
    try:
        event = orjson.loads(value)
    except orjson.JSONDecodeError:
        return True
    cid = event.get("customer_id") if type(event) is dict else None
    return type(cid) is not str or (key is not None and cid.encode() == key)
