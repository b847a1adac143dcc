"""Differential: fast path (when it answers) = pydantic model path = the published JSON Schema.

For every generated raw message:

1. :class:`OrderValidator` with its fast path and without it (the model path alone) give the
   same :class:`Order` or the same error code; when the fast path answers, its result is that
   ``Order``.
2. ``schemas/orders.schema.json`` under standard JSON Schema semantics accepts the message if
   and only if our validator accepts it or rejects it for a rule that depends on settings:

   - the schema is read as Draft 2020-12 with ``pattern`` as ECMA-262 (``regress``, with the
     ``u`` flag JSON Schema recommends), and ``format: date-time`` asserted as RFC 3339
     (jsonschema's ``FormatChecker``, which uses ``rfc3339-validator``);
   - the message is read as RFC 8259 JSON (stdlib ``json``) with the limits RFC 8259 lets a
     reader set, and that our reader (orjson, shared by both paths) sets: UTF-8 without a
     byte order mark, no ``NaN``/``Infinity``, numbers within the range of a double
     (section 6), no unpaired surrogate escapes (section 8.2). Nesting depth (section 9) is
     kept below the stdlib's recursion limit here; the reader's own limit (1024 levels) is
     pinned in ``test_validation.py``.

How settings-dependent rejections are factored out: the schema cannot say which currencies
have a rate, how many decimals a currency has, the time window (``CLV_MIN_EVENT_TIME`` ..
now + ``CLV_MAX_CLOCK_SKEW``) or the message size limit (``CLV_MAX_EVENT_BYTES``). For a
message the schema accepts, :func:`_settings_rules_broken` recomputes those four rules from
the parsed message, independently of the code under test, and the validator must then
answer exactly: accepted when none is broken, else the code of the first broken rule in the
order the validator checks them (size, time window, currency, decimals). A message the
schema rejects must be rejected with a code that is not one of these four (except
``too_large``, which no generated message reaches). So every message is either accepted by
both, rejected by both for a schema rule, or accepted by the schema and rejected by us for
a named settings rule that a separate computation confirms.
"""

from __future__ import annotations

import calendar
import json
import math
import re
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import regress
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from clv_stream.events.validation import ErrorCode, Order, OrderValidator
from clv_stream.exceptions import InvalidEvent
from clv_stream.settings import Settings
from tests.corpus import order

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[3] / "schemas" / "orders.schema.json").read_text("utf-8")
)
NOW = 1_767_225_600  # 2026-01-01T00:00:00Z, a fixed wall clock: the examples replay alike
SETTINGS = Settings(fx_rates={"EUR": Decimal("1.10"), "JPY": Decimal("0.0067")},
                    default_margin=Decimal("0.35"))
#: The settings rules, restated by hand from SETTINGS: currency -> decimals, for those with a rate.
CONVERTIBLE = {"USD": 2, "EUR": 2, "JPY": 0}
WINDOW = (Fraction(0), Fraction(NOW + 86_400))  # 1970-01-01T00:00:00Z .. NOW + one day
MAX_BYTES = 64 * 1024
assert SETTINGS.min_event_time.timestamp() == WINDOW[0]
assert SETTINGS.max_clock_skew.total_seconds() == 86_400
assert SETTINGS.max_event_bytes == MAX_BYTES

VALIDATOR = OrderValidator(SETTINGS)
MODEL_ONLY = OrderValidator(SETTINGS)
MODEL_ONLY._fast = type("NoFast", (), {"decode": staticmethod(lambda *_: None)})()  # type: ignore[assignment]


# --- the reference: JSON Schema with ECMA-262 patterns and RFC 3339 date-times --------------

_REGEXES: dict[str, regress.Regex] = {}


def _ecma_pattern(validator: Any, pattern: str, instance: Any, _schema: Any,
                  ) -> Iterator[jsonschema.ValidationError]:
    if not validator.is_type(instance, "string"):
        return
    compiled = _REGEXES.get(pattern)
    if compiled is None:
        compiled = _REGEXES[pattern] = regress.Regex(pattern, flags="u")
    if compiled.find(instance) is None:
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


_EcmaValidator = jsonschema.validators.extend(jsonschema.Draft202012Validator,
                                              {"pattern": _ecma_pattern})
FORMATS = jsonschema.Draft202012Validator.FORMAT_CHECKER
SCHEMA_VALIDATOR = _EcmaValidator(SCHEMA, format_checker=FORMATS)


class NotJson(Exception):
    """The message is not JSON as RFC 8259 with our reader's limits reads it."""


def _no_constant(name: str) -> Any:
    raise NotJson(name)  # NaN, Infinity, -Infinity: not JSON


def _double(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotJson(text)
    return value


def _integer(text: str) -> int:
    value = int(text)
    float(value)  # OverflowError beyond a double's range
    return value


def standard_json(raw: bytes) -> Any:
    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=_no_constant, parse_float=_double,
                         parse_int=_integer)
        json.dumps(doc, ensure_ascii=False).encode("utf-8")  # unpaired surrogates are no text
    except (ValueError, OverflowError, UnicodeError) as exc:  # JSONDecodeError is a ValueError
        raise NotJson(str(exc)) from None
    return doc


def schema_accepts(raw: bytes) -> bool:
    try:
        doc = standard_json(raw)
    except NotJson:
        return False
    return bool(SCHEMA_VALIDATOR.is_valid(doc))


_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|([+-])(\d\d):(\d\d))",
                      re.ASCII)


def _epoch(text: str) -> Fraction:
    """An RFC 3339 time the schema accepted, in epoch seconds, at datetime's microseconds."""
    m = _RFC3339.fullmatch(text)
    assert m is not None
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    micros = Fraction(int((m[7] or "").ljust(6, "0")[:6]), 10**6)
    offset = 0 if m[8] == "Z" else (int(m[10]) * 3600 + int(m[11]) * 60) * (1 if m[9] == "+" else -1)
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) + micros - offset


def _decimals(amount: Any) -> int:
    """Decimals of a decimal string, or of a JSON number's shortest round-trip form."""
    exact = Decimal(amount) if type(amount) in (str, int) else Decimal(repr(amount))
    return max(0, -int(exact.normalize().as_tuple().exponent))


def _settings_rules_broken(raw: bytes, doc: dict[str, Any]) -> list[str]:
    """The settings rules this message breaks, in the order the validator checks them."""
    broken = []
    if len(raw) > MAX_BYTES:
        broken.append(ErrorCode.TOO_LARGE)
    if not WINDOW[0] <= _epoch(doc["occurred_at"]) <= WINDOW[1]:
        broken.append(ErrorCode.TIMESTAMP_OUT_OF_RANGE)
    if doc["currency"] not in CONVERTIBLE:
        broken.append(ErrorCode.UNKNOWN_CURRENCY)
    elif _decimals(doc["amount"]) > CONVERTIBLE[doc["currency"]]:
        broken.append(ErrorCode.TOO_MANY_DECIMALS)
    return broken


SETTINGS_CODES = {ErrorCode.TOO_LARGE, ErrorCode.TIMESTAMP_OUT_OF_RANGE,
                  ErrorCode.UNKNOWN_CURRENCY, ErrorCode.TOO_MANY_DECIMALS}


def _outcome(validator: OrderValidator, raw: bytes) -> Order | str:
    try:
        return validator.validate(raw, NOW)
    except InvalidEvent as exc:
        return str(exc.code)


def check(raw: bytes) -> str:
    """Assert the agreement; return what happened (for hypothesis' statistics)."""
    ours = _outcome(VALIDATOR, raw)
    assert ours == _outcome(MODEL_ONLY, raw), "the fast path and the model path disagree"
    fast = VALIDATOR._fast.decode(raw) is not None
    if fast:
        assert isinstance(ours, Order) or ours == ErrorCode.TIMESTAMP_OUT_OF_RANGE
    if not schema_accepts(raw):
        assert not isinstance(ours, Order), "accepted what the schema rejects"
        assert ours not in SETTINGS_CODES - {ErrorCode.TOO_LARGE}, "a settings code for a schema reject"
        return f"schema rejects: {ours}"
    broken = _settings_rules_broken(raw, standard_json(raw))
    if broken:
        assert ours == broken[0]
        return f"schema accepts, settings reject: {ours}"
    assert isinstance(ours, Order), f"rejected ({ours}) what the schema and settings accept"
    return "accepted, by the fast path" if fast else "accepted, by the model path"


# --- generated messages -------------------------------------------------------------------

#: Digits Python's ``\d`` (and ``str.isdigit``, ``Decimal``) take: Arabic-Indic, Extended
#: Arabic-Indic, Devanagari, fullwidth, superscript two, mathematical double-struck zero.
_UNICODE_DIGITS = "\u0660\u0665\u06f5\u0967\uff15\u00b2\U0001d7d8"
_ODD = ["", " ", "\n", "\t", "_", "\u00a0", "+", "-", "e2", "E-3", "e+400", ".", "0x"]
# Strategies are built once, here: hypothesis spends more on building one than on a draw.
_WHERE = st.integers(0, 2**16)  # a position, taken modulo the length
#: ``draw(_ONE_IN[n]) == 1`` holds about once in n (not ``== 0``: hypothesis favours zeros)
_ONE_IN = {n: st.integers(0, n - 1) for n in (2, 3, 4, 6, 10, 16)}
_ODD_PIECES, _FOREIGN_DIGITS = st.sampled_from(_ODD), st.sampled_from(_UNICODE_DIGITS)


def _digits(min_size: int = 0, max_size: int = 11) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=min_size, max_size=max_size)


_FRACTIONS = _digits(0, 14)


def _foreign_digit(draw: st.DrawFn, text: str) -> str:
    """``text`` with one character replaced by a digit of another script."""
    where = draw(_WHERE) % len(text)
    return text[:where] + draw(_FOREIGN_DIGITS) + text[where + 1:]


@st.composite
def decimal_texts(draw: st.DrawFn, whole: st.SearchStrategy[str]) -> str:
    """Mostly plain decimals, some with a sign, an exponent, padding or foreign digits."""
    text = draw(whole)
    if draw(_ONE_IN[2]) == 1:
        text += "." + draw(_FRACTIONS)
    if draw(_ONE_IN[4]) == 1:
        where = draw(_WHERE) % (len(text) + 1)
        text = text[:where] + draw(_ODD_PIECES) + text[where:]
    if text and draw(_ONE_IN[6]) == 1:
        text = _foreign_digit(draw, text)
    return text


_SPECIAL_NUMBERS = st.sampled_from([
    "NaN", "-NaN", "sNaN", "Infinity", "-Infinity", "inf", "-0", "-0.0", "1e300", "1E+2", "0e0",
    "", " ", "twelve", "1000000000", "999999999.999", "0999999999.5", "1,5", "0x1F",
])
_SHAPES = st.sampled_from([
    [0, [1, 2], -2], [2, [1], 0], [0, [1], 0], [1, [], "F"], ["25.00"], [], {}, {"v": 1}, True,
    False, None,
])
_FLOATS = st.floats(allow_nan=True, allow_infinity=True)
_NUMBERS = st.one_of(st.integers(-5, 2 * 10**9), st.integers(), _FLOATS,
                     st.sampled_from([0.1, 25.0, 1e-7, 12.345, 999999999.99, 1e9, -0.0, 1e16,
                                      2**63, 2**64 + 1, 10**20, 10**308, 2 * 10**308]))
AMOUNTS = st.one_of(decimal_texts(st.one_of(_digits(1, 3), _digits(0, 12))), _NUMBERS,
                    _SPECIAL_NUMBERS, _SHAPES, st.text(max_size=6))
MARGINS = st.one_of(st.none(), decimal_texts(st.sampled_from(["0", "1", "00", "01", "2", ""])),
                    st.floats(-0.5, 1.5), st.sampled_from([0, 1, 2, -1, 1e-5, 1.0000001]),
                    _SPECIAL_NUMBERS, _SHAPES)

_ID_CHARS = st.one_of(st.sampled_from("ab-:\x00\x1f\x7f\x80\x9f\xa0\n\r\u2028\u00e9\U0001f600 "),
                      st.characters(codec="utf-8"))
IDENTIFIERS = st.one_of(
    st.text(_ID_CHARS, max_size=8),
    st.builds(lambda c, n: c * n, st.sampled_from(["a", "\u00e9", "\U0001f600"]),
              st.integers(126, 130)),  # the length limit counts characters
    st.builds(lambda s, tail: s + tail, st.text("abc", min_size=1, max_size=4),
              st.sampled_from(["\n", "\r\n", " "])),
    st.sampled_from([None, 7, 1.5, True, ["o-1"], {"id": "o"}]),
)
TENANTS = st.one_of(
    st.none(), st.text("Aa09._-", max_size=6), st.text(_ID_CHARS, max_size=4),
    st.builds(lambda n: "t" * n, st.integers(62, 66)),
    st.sampled_from(["", "...", "-", "t\n", "a b", "\u00e4", "t/1", "Shop-1.eu_2", 5, True, ["t"]]),
)
CURRENCIES = st.one_of(
    st.sampled_from(["USD", "EUR", "JPY", "GBP", "XYZ", "usd", "US", "USDD", "USD\n", "\uff35SD"]),
    st.text("UDSEJPYGBX", min_size=2, max_size=4), st.sampled_from([1, None, ["USD"]]),
)

_TIME_EDGES = st.sampled_from([
    1709287200, None, ["2024-03-01T10:00:00Z"], "", "yesterday at noon",
    "1970-01-01T00:00:00Z", "1969-12-31T23:59:59.999999Z", "1969-12-31T23:59:59.9999999Z",
    "1970-01-01T00:59:59+01:00", "0001-01-01T00:00:00+01:00", "0000-01-01T00:00:00Z",
    "2026-01-02T00:00:00Z", "2026-01-02T00:00:00.000001Z", "2026-01-01T23:59:59-00:01",
    "2024-02-29T10:00:00Z", "2023-02-29T10:00:00Z", "2024-04-31T10:00:00Z",
    "2024-03-01T10:00:60Z", "2024-03-01T24:00:00Z",
])
_YEARS = st.one_of(st.integers(1960, 2030), st.integers(0, 9999),
                   st.sampled_from([1, 999, 1969, 1970, 2026, 9999]))
_TIME_FRACTIONS = st.one_of(st.just(""), st.builds(lambda d: "." + d, _digits(1, 10)))
_OFFSETS = ["Z", "+00:00", "-00:00", "+01:00", "-05:30", "+23:59", "-23:59"]
#: (month, day, hour, minute, second, offset, separator, year format, tail): in range, or odd
_TIME_PARTS = {
    False: st.tuples(st.integers(1, 12), st.integers(1, 31), st.integers(0, 23), st.integers(0, 59),
                     st.integers(0, 59), st.sampled_from(_OFFSETS), st.just("T"), st.just("{:04d}"),
                     st.just("")),
    True: st.tuples(st.integers(0, 13), st.integers(0, 32), st.integers(0, 25), st.integers(0, 60),
                    st.integers(0, 60),
                    st.sampled_from([*_OFFSETS, "z", "+24:00", "+12:60", "+0100", "+01", ""]),
                    st.sampled_from(["T", "t", " ", "_"]), st.sampled_from(["{:04d}", "{:d}", "{:05d}"]),
                    st.sampled_from(["", "\n", " ", "Z"])),
}


@st.composite
def times(draw: st.DrawFn) -> Any:
    """RFC 3339-ish strings around the rules: ranges, offsets, separators, digits, window edges."""
    if draw(_ONE_IN[16]) == 1:
        return draw(_TIME_EDGES)
    odd = draw(_ONE_IN[3]) == 1  # else every part in its range, in the canonical form
    year, frac = draw(_YEARS), draw(_TIME_FRACTIONS)
    month, day, hour, minute, second, offset, sep, year_form, tail = draw(_TIME_PARTS[odd])
    text = (f"{year_form.format(year)}-{month:02d}-{day:02d}{sep}{hour:02d}:{minute:02d}:"
            f"{second:02d}{frac}{offset}{tail}")
    if odd and draw(_ONE_IN[4]) == 1:
        text = _foreign_digit(draw, text)
    return text


_JSON_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                         st.text(max_size=4))
JSON_VALUES = st.one_of(_JSON_LEAVES, st.lists(_JSON_LEAVES, max_size=2),
                        st.dictionaries(st.sampled_from(["a", "b", "amount"]), _JSON_LEAVES, max_size=2))
_EXTRA_KEYS = st.one_of(st.sampled_from(["coupon", "meta", "", "Amount", "amount ", "\u00e9"]),
                        st.text(max_size=3))

FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "schema_version": st.sampled_from([1, 1.0, 2, 0, -1, True, False, None, "1", [1], {"v": 1},
                                       1.5, 10**20, 1e-300]),
    "event_type": st.sampled_from(["order_placed", "order_refunded", "order_cancelled",
                                   "order_shipped", "ORDER_PLACED", "", "order_placed\n", 3,
                                   None, ["order_placed"]]),
    "event_id": IDENTIFIERS,
    "order_id": IDENTIFIERS,
    "customer_id": IDENTIFIERS,
    "amount": AMOUNTS,
    "currency": CURRENCIES,
    "occurred_at": times(),
    "margin": MARGINS,
    "channel": st.one_of(st.none(), st.text(max_size=6), st.just("x" * 256), st.just("x" * 257),
                         st.sampled_from([5, ["web"], {"c": 1}])),
    "tenant_id": TENANTS,
}
_BASE_AMOUNTS = st.sampled_from(["25.00", 12.5, "0", 7])
_CHANGED = st.lists(st.sampled_from(sorted(FIELDS)), min_size=1, max_size=3)
_DEPTHS, _MIXES = st.integers(1, 400), st.integers(0, 2**32 - 1)
_EDITS = st.sampled_from(["none"] * 12 + ["duplicate", "bom", "spaces", "nan", "surrogate",
                                          "truncate", "array", "trailing"])
_FIELD_NAMES = st.sampled_from(sorted(FIELDS))
_NOT_JSON_NUMBERS = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "1" + "0" * 400])
_TRAILERS = st.sampled_from([",", "}", "x", "\x00"])


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    """A valid order with a few fields changed or dropped, extras, and a few byte-level edits."""
    message: dict[str, Any] = order(amount=draw(_BASE_AMOUNTS))
    for name in draw(_CHANGED):
        if draw(_ONE_IN[10]) == 1:
            message.pop(name, None)
        else:
            message[name] = draw(FIELDS[name])
    if draw(_ONE_IN[4]) == 1:
        message.setdefault(draw(_EXTRA_KEYS), draw(JSON_VALUES))
    if draw(_ONE_IN[10]) == 1:  # an extra nested up to 400 levels, lists and objects mixed
        depth, mix = draw(_DEPTHS), draw(_MIXES)
        deep: Any = draw(_JSON_LEAVES)
        for level in range(depth):
            deep = [deep] if mix >> (level % 32) & 1 else {"k": deep}
        message["deep"] = deep
    text = json.dumps(message, ensure_ascii=draw(_ONE_IN[2]) == 1, allow_nan=True)
    edit = draw(_EDITS)
    if edit == "duplicate":  # the last of two equal keys counts, for every reader here
        key = draw(_FIELD_NAMES)
        text = text[:-1] + f", {json.dumps(key)}: {json.dumps(draw(FIELDS[key]), allow_nan=True)}}}"
    elif edit == "bom":
        text = "\ufeff" + text
    elif edit == "spaces":
        text = " \n\t" + text + "\r\n "
    elif edit == "nan":
        text = text[:-1] + ', "x": ' + draw(_NOT_JSON_NUMBERS) + "}"
    elif edit == "surrogate":
        text = text[:-1] + ', "x": "\\ud800"}'
    elif edit == "truncate":
        text = text[:-1]
    elif edit == "array":
        text = f"[{text}]"
    elif edit == "trailing":
        text += draw(_TRAILERS)
    return text.encode("utf-8")


def _raw(**overrides: Any) -> bytes:
    return json.dumps(order(**overrides)).encode()


def _deep(depth: int) -> bytes:
    return _raw()[:-1] + b', "meta": ' + b"[" * depth + b"]" * depth + b"}"


@settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=messages())
# the review's shapes: a Decimal tuple, strings the schema rejects, deep extras, far-past times
@example(raw=_raw(amount=[0, [1, 2], -2]))
@example(raw=_raw(amount=[2, [1], 0]))
@example(raw=_raw(amount="1_000"))
@example(raw=_raw(amount="1e2"))
@example(raw=_raw(amount=" 5"))
@example(raw=_raw(amount="+5"))
@example(raw=_raw(amount="\u0665"))
@example(raw=_raw(amount="5\n"))
@example(raw=_raw(margin="+0.5"))
@example(raw=_raw(margin="0.5\n"))
@example(raw=_raw(margin="\u0660.5"))
@example(raw=_raw(order_id="o-1\n"))
@example(raw=_raw(currency="USD\n"))
@example(raw=_raw(tenant_id="t\n"))
@example(raw=_raw(tenant_id="Shop-1.eu_2"))
@example(raw=_raw(schema_version=1.0))
@example(raw=_deep(300))
@example(raw=_raw(occurred_at="0001-01-01T00:00:00+01:00"))
@example(raw=_raw(occurred_at="0999-12-31T23:59:59Z"))
@example(raw=_raw(occurred_at="2024-03-01T10:00:00Z\n"))
@example(raw=_raw(occurred_at="2024-03-01t10:00:00z"))
@example(raw=_raw(occurred_at="2024-02-30T10:00:00Z"))
@example(raw=_raw(occurred_at="2999-01-01T00:00:00Z"))
def test_fast_path_model_and_schema_agree(raw: bytes) -> None:
    event(check(raw))


@pytest.mark.parametrize("raw", [
    _raw(amount="12.345"), _raw(amount="100.5", currency="JPY"), _raw(currency="XYZ"),
    _raw(occurred_at="1969-12-31T23:59:59Z"), _raw(amount=12.345),
])
def test_settings_rejections_are_named_and_confirmed(raw: bytes) -> None:
    """The factoring-out at work: the schema accepts these, a settings rule rejects them."""
    assert schema_accepts(raw)
    assert _settings_rules_broken(raw, standard_json(raw))
    check(raw)


def test_the_reference_is_strict() -> None:
    """The reference itself: patterns as ECMA-262, date-time as RFC 3339, JSON as RFC 8259."""
    assert "date-time" in FORMATS.checkers  # rfc3339-validator is installed: the format asserts
    assert schema_accepts(_raw())
    assert not schema_accepts(_raw(occurred_at="2024-02-30T10:00:00Z"))  # only the format says so
    assert not schema_accepts(_raw(amount="\u0665"))  # \d would take it under Python's re
    assert not schema_accepts(_raw()[:-1] + b', "x": NaN}')
    assert not schema_accepts(b"\xef\xbb\xbf" + _raw())
