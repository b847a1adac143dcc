from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest
from pydantic import ValidationError

from clv_stream.events.validation import ErrorCode, Order, OrderValidator
from clv_stream.exceptions import InvalidEvent
from clv_stream.settings import Settings
from tests.corpus import BAD_INPUTS, order

NOW = time.time()


@pytest.fixture
def validator() -> OrderValidator:
    return OrderValidator(Settings(fx_rates={"EUR": Decimal("1.10"), "JPY": Decimal("0.0067")}))


@pytest.mark.parametrize(("raw", "code"), [(raw, code) for _, raw, code in BAD_INPUTS],
                         ids=[name for name, _, _ in BAD_INPUTS])
def test_bad_input_gets_its_code(validator: OrderValidator, raw: bytes, code: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        validator.validate(raw, NOW)
    assert caught.value.code == code
    assert caught.value.code in set(ErrorCode)


def test_valid_order_is_normalised(validator: OrderValidator) -> None:
    raw = orjson.dumps(order(amount="19.99", occurred_at="2024-03-01T12:30:00+02:00", margin=0.4))
    result = validator.validate(raw, NOW)
    assert result.amount_minor == 1999
    assert result.ts == 1709289000  # 10:30 UTC
    assert result.margin_bp == 4000
    assert result.event_id == "o-1:order_placed"
    assert result.kind == "p"


def test_json_number_amount_is_exact(validator: OrderValidator) -> None:
    result = validator.validate(orjson.dumps(order(amount=0.1)), NOW)
    assert result.amount_minor == 10


def test_foreign_currency_converts_half_even(validator: OrderValidator) -> None:
    eur = validator.validate(orjson.dumps(order(amount="10.05", currency="EUR")), NOW)
    assert eur.amount_minor == 1106  # 11.055 -> 11.06 (half even)
    jpy = validator.validate(orjson.dumps(order(amount="1500", currency="JPY")), NOW)
    assert jpy.amount_minor == 1005  # 10.05 USD


def test_explicit_event_id_and_extra_fields(validator: OrderValidator) -> None:
    raw = orjson.dumps(order(event_id="evt-9", event_type="order_refunded", coupon="X"))
    result = validator.validate(raw, NOW)
    assert (result.event_id, result.kind) == ("evt-9", "r")


def test_default_margin_applies(validator: OrderValidator) -> None:
    v = OrderValidator(Settings(default_margin=Decimal("0.3")))
    assert v.validate(orjson.dumps(order()), NOW).margin_bp == 3000


def test_trailing_zeros_beyond_minor_unit_are_fine(validator: OrderValidator) -> None:
    assert validator.validate(orjson.dumps(order(amount="12.500")), NOW).amount_minor == 1250


# --- defects of the hostile review (each test failed before its fix) ---------------------


def _code(validator: OrderValidator, raw: bytes, now: float = NOW) -> str:
    with pytest.raises(InvalidEvent) as caught:
        validator.validate(raw, now)
    return caught.value.code


def _without_fast_path(validator: OrderValidator) -> OrderValidator:
    validator._fast = type("NoFast", (), {"decode": staticmethod(lambda *_: None)})()  # type: ignore[assignment]
    return validator


@pytest.mark.parametrize("amount", [[0, [1, 2], -2], [2, [1], 0], [0, [1], 0], ["25.00"], {"v": 1}])
def test_an_array_or_object_is_no_amount(validator: OrderValidator, amount: object) -> None:
    # pydantic read a JSON array as Decimal's (sign, digits, exponent) tuple: 0.12, or a
    # bare ValueError (then processing_error)
    assert _code(validator, orjson.dumps(order(amount=amount))) == ErrorCode.INVALID_AMOUNT


@pytest.mark.parametrize("amount", ["1_000", "1e2", " 5", "5 ", "+5", "\u0665", "5\n", "7.", ".5",
                                    "0x10", "5.0\n", "1,5", "１"])
def test_amount_strings_are_plain_ascii_decimals(validator: OrderValidator, amount: str) -> None:
    raw = orjson.dumps(order(amount=amount))
    assert _code(validator, raw) == ErrorCode.INVALID_AMOUNT
    assert _code(_without_fast_path(validator), raw) == ErrorCode.INVALID_AMOUNT


@pytest.mark.parametrize(("field", "value", "code"), [
    ("margin", "+0.5", ErrorCode.INVALID_MARGIN),
    ("margin", "0.5\n", ErrorCode.INVALID_MARGIN),
    ("margin", "\u0660.5", ErrorCode.INVALID_MARGIN),
    ("margin", "5e-1", ErrorCode.INVALID_MARGIN),
    ("margin", [0, [5], -1], ErrorCode.INVALID_MARGIN),
    ("currency", "USD\n", ErrorCode.INVALID_CURRENCY),
    ("order_id", "o-1\n", ErrorCode.INVALID_ORDER_ID),
    ("occurred_at", "2024-03-01T10:00:00Z\n", ErrorCode.INVALID_TIMESTAMP),
    ("occurred_at", "2024-03-01T10:00:00.\u0665Z", ErrorCode.INVALID_TIMESTAMP),
    ("occurred_at", "2024-03-01 10:00:00Z", ErrorCode.INVALID_TIMESTAMP),
    ("occurred_at", "2024-03-01t10:00:00z", ErrorCode.INVALID_TIMESTAMP),
    ("occurred_at", "2024-03-01T10:00Z", ErrorCode.INVALID_TIMESTAMP),
    ("occurred_at", "2024-03-01T10:00:00+0100", ErrorCode.INVALID_TIMESTAMP),
    ("schema_version", "1", ErrorCode.UNSUPPORTED_SCHEMA_VERSION),
])
def test_strings_the_schema_rejects_are_rejected(validator: OrderValidator, field: str, value: object,
                                                 code: str) -> None:
    raw = orjson.dumps(order(**{field: value}))
    assert _code(validator, raw) == code
    assert _code(_without_fast_path(validator), raw) == code


def test_schema_version_one_point_zero_is_one(validator: OrderValidator) -> None:
    # JSON Schema's "integer" is a number with no fraction: 1.0 is the integer 1
    assert validator.validate(orjson.dumps(order(schema_version=1.0)), NOW).amount_minor == 2500


@pytest.mark.parametrize("depth", [2, 200, 201, 300, 1024])
def test_a_deeply_nested_extra_field_is_ignored_by_both_paths(validator: OrderValidator,
                                                              depth: int) -> None:
    raw = orjson.dumps(order())[:-1] + b',"meta":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"
    fast = validator.validate(raw, NOW)
    assert fast == _without_fast_path(validator).validate(raw, NOW)
    assert fast.amount_minor == 2500


def test_nesting_beyond_the_json_reader_is_invalid_json_on_both_paths(validator: OrderValidator) -> None:
    raw = orjson.dumps(order())[:-1] + b',"meta":' + b"[" * 1024 + b"]" * 1024 + b"}"
    assert _code(validator, raw) == ErrorCode.INVALID_JSON
    assert _code(_without_fast_path(validator), raw) == ErrorCode.INVALID_JSON


@pytest.mark.parametrize("occurred_at", [
    "0001-01-01T00:00:00+01:00",  # year 0 in UTC
    "0001-01-01T00:00:00Z", "0999-12-31T23:59:59Z", "1969-12-31T23:59:59Z",
    "1969-12-31T23:59:59.999999Z", "1970-01-01T00:59:59+01:00", "2999-01-01T00:00:00Z",
    "9999-12-31T23:59:59-23:59",
])
def test_times_outside_the_window_are_out_of_range(validator: OrderValidator, occurred_at: str) -> None:
    raw = orjson.dumps(order(occurred_at=occurred_at))
    assert _code(validator, raw) == ErrorCode.TIMESTAMP_OUT_OF_RANGE
    assert _code(_without_fast_path(validator), raw) == ErrorCode.TIMESTAMP_OUT_OF_RANGE


def test_the_window_is_min_event_time_to_now_plus_skew() -> None:
    v = OrderValidator(Settings(min_event_time=datetime(2020, 1, 1, tzinfo=UTC),
                                max_clock_skew=timedelta(hours=1)))
    now = datetime(2024, 3, 1, 10, tzinfo=UTC).timestamp()
    assert v.validate(orjson.dumps(order(occurred_at="2020-01-01T00:00:00Z")), now).ts == 1577836800
    assert v.validate(orjson.dumps(order(occurred_at="2024-03-01T11:00:00Z")), now).ts == now + 3600
    for outside in ("2019-12-31T23:59:59.5Z", "2024-03-01T11:00:00.000001Z"):
        assert _code(v, orjson.dumps(order(occurred_at=outside)), now) == "timestamp_out_of_range"
    assert "future_timestamp" not in {c.value for c in ErrorCode}


def test_min_event_time_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().min_event_time == datetime(1970, 1, 1, tzinfo=UTC)
    monkeypatch.setenv("CLV_MIN_EVENT_TIME", "2000-01-01T00:00:00+01:00")
    assert Settings().min_event_time == datetime(1999, 12, 31, 23, tzinfo=UTC)


def test_tenant_defaults_and_is_kept(validator: OrderValidator) -> None:
    assert validator.validate(orjson.dumps(order()), NOW).tenant == "default"
    assert validator.validate(orjson.dumps(order(tenant_id=None)), NOW).tenant == "default"
    raw = orjson.dumps(order(tenant_id="Shop-1.eu_2"))
    assert validator.validate(raw, NOW).tenant == "Shop-1.eu_2"
    assert _without_fast_path(validator).validate(raw, NOW).tenant == "Shop-1.eu_2"
    other = OrderValidator(Settings(default_tenant="acme"))
    assert other.validate(orjson.dumps(order()), NOW).tenant == "acme"
    assert other.validate(raw, NOW).tenant == "Shop-1.eu_2"


@pytest.mark.parametrize("tenant_id", ["", "t" * 65, "a b", "ä", "t\n", "t/1", 5, ["t"], True])
def test_a_bad_tenant_id_is_dead_lettered(validator: OrderValidator, tenant_id: object) -> None:
    raw = orjson.dumps(order(tenant_id=tenant_id))
    assert _code(validator, raw) == ErrorCode.INVALID_TENANT_ID
    assert _code(_without_fast_path(validator), raw) == ErrorCode.INVALID_TENANT_ID


def test_default_tenant_is_a_checked_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().default_tenant == "default"
    assert Settings(default_tenant="t" * 64).default_tenant == "t" * 64
    monkeypatch.setenv("CLV_DEFAULT_TENANT", "shop.eu-1_a")
    assert Settings().default_tenant == "shop.eu-1_a"
    for bad in ("", "t" * 65, "a b", "ä", "t\n"):
        with pytest.raises(ValidationError):
            Settings(default_tenant=bad)


def test_order_keeps_its_fields_and_adds_tenant_last() -> None:
    assert Order._fields == ("event_id", "kind", "order_id", "customer_id", "amount_minor", "ts",
                             "margin_bp", "channel", "tenant")
    assert Order("e", "p", "o", "c", 1, 2, 3).tenant == "default"
