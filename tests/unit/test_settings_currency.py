"""One rule for a currency's decimals, used by validation, scoring and fitting alike."""

from __future__ import annotations

import pytest

from clv_stream.settings import DEFAULT_MINOR_UNIT, Settings


def test_the_reporting_currencys_decimals_come_from_its_minor_unit() -> None:
    assert Settings(currency="USD").reporting_decimals == 2
    assert Settings(currency="jpy").reporting_decimals == 0
    assert Settings(currency="KWD").reporting_decimals == 3
    assert Settings(currency="XAU", minor_units={"XAU": 4}).reporting_decimals == 4


def test_an_unknown_currency_gets_the_one_fallback() -> None:
    assert Settings().decimals("ZZZ") == DEFAULT_MINOR_UNIT
    assert Settings(minor_units={"EUR": 3}).decimals("EUR") == 3  # an override wins


def test_an_unknown_reporting_currency_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="unknown reporting currency"):
        Settings(currency="ZZZ")
