"""The patterns of the contract's string fields, read alike by JSON Schema and Python.

Every pattern is read alike by ECMA-262 (what JSON Schema specifies) and by Python's ``re``
(what most Python JSON Schema tools use, and what the models validate with): ASCII classes
only (``[0-9]``, never ``\\d``, which is Unicode in Python), and the end anchored with
``$(?!\\n)``, as Python's ``$`` also matches before a final newline.
"""

from __future__ import annotations

import re

__all__ = ["AMOUNT_PATTERN", "AMOUNT_RE", "CURRENCY_PATTERN", "IDENTIFIER_PATTERN",
           "MARGIN_PATTERN", "MARGIN_RE", "NAIVE_TIME_RE", "TENANT_PATTERN", "TIME_PATTERN",
           "TIME_RE", "is_tenant_id"]

_END = r"$(?!\n)"
#: 1-128 printable characters: no C0/C1 control characters, no DEL.
IDENTIFIER_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]+" + _END
#: 1-64 of ``A-Z a-z 0-9 . _ -`` (``CLV_DEFAULT_TENANT`` is checked against the same).
TENANT_PATTERN = r"^[A-Za-z0-9._-]{1,64}" + _END
CURRENCY_PATTERN = r"^[A-Z]{3}" + _END
#: A plain decimal below 10^9: digits, then optionally a point and digits; no sign, exponent,
#: spaces or underscores (leading zeros are fine).
AMOUNT_PATTERN = r"^0*[0-9]{1,9}(?:\.[0-9]+)?" + _END
#: A plain decimal from 0 to 1.
MARGIN_PATTERN = r"^0*(?:0(?:\.[0-9]+)?|1(?:\.0+)?)" + _END
_LOCAL_TIME = (r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
               r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?")
_OFFSET = r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
#: RFC 3339 ``date-time`` with upper-case ``T`` and ``Z``, seconds 00-59 (no leap second), and
#: an offset; the schema also says ``"format": "date-time"`` for the days of each month.
TIME_PATTERN = "^" + _LOCAL_TIME + _OFFSET + _END
TIME_RE = re.compile(TIME_PATTERN)
NAIVE_TIME_RE = re.compile(_LOCAL_TIME)
AMOUNT_RE = re.compile(AMOUNT_PATTERN)
MARGIN_RE = re.compile(MARGIN_PATTERN)
_TENANT_RE = re.compile(TENANT_PATTERN)


def is_tenant_id(value: object) -> bool:
    """Whether ``value`` is a tenant id (``TENANT_PATTERN``)."""
    return isinstance(value, str) and _TENANT_RE.match(value) is not None
