from __future__ import annotations

import time
from decimal import Decimal

import orjson
import pytest

from clv_stream.events.validation import ErrorCode, OrderValidator
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
