"""Money as the outputs write it: integers of minor units to decimal strings, exactly."""

from __future__ import annotations

__all__ = ["money_text"]


def money_text(minor: int, decimals: int) -> str:
    """Minor units -> decimal string, as ``str(Decimal(minor).scaleb(-decimals))``
    (``1234``, 2 -> ``"12.34"``), without a Decimal (this runs for every output value)."""
    if decimals <= 0:
        return str(minor)
    if minor < 0:
        return "-" + money_text(-minor, decimals)
    text = str(minor).rjust(decimals + 1, "0")
    return text[:-decimals] + "." + text[-decimals:]
