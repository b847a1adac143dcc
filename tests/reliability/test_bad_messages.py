"""Scenario 8: fuzzed bad messages between valid ones.

Every bad message must reach ``clv.deadletter`` with a specific ``error.code`` (never
``processing_error``; from the expected family where the codes are stable), every dead
letter must stay under 1 MiB (a 400 KB key, or a key that grows when escaped, included),
every valid order must be applied, no customer of a bad message may get state, and the
worker must never restart.

An otherwise valid order with an extra field nested 300 deep is judged either way: the
contract says unknown extra fields are ignored (then it is applied, once, like any valid
order), and a worker may also refuse the nesting (then it is dead-lettered with a specific
code and applies nothing); never ``processing_error``, never both, never neither."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson

from clv_stream.devinfra import EmbeddedBroker, EmbeddedRedis
from tests.reliability.rig import (
    MIB,
    Rig,
    crash_reason,
    exit_code,
    highest,
    make_orders,
    pick,
    scenario,
)

BAD = pick(300, 1_200)
BIG_KEYS = pick(3, 12)  # 400 KB message keys
BIG_VALUES = pick(3, 12)  # values over CLV_MAX_EVENT_BYTES (up to 900 KB)
DEEP = pick(2, 10)  # an extra field nested 300 deep
SEED = 20268

AMOUNT = frozenset({"invalid_amount", "negative_amount", "non_finite_amount", "amount_too_large",
                    "too_many_decimals"})
TIME = frozenset({"timestamp_out_of_range", "future_timestamp", "invalid_timestamp",
                  "naive_timestamp"})
JSON = frozenset({"invalid_json"})
NOT_OBJECT = frozenset({"not_an_object"})
MISSING = frozenset({"missing_field"})
SIZE = frozenset({"too_large"})


class Bad(NamedTuple):
    family: str
    key: bytes | None
    value: bytes | None
    codes: frozenset[str] | None  # None: any specific code
    customer: str | None  # a valid customer id the message names (must get no state)
    order: dict[str, Any] | None = None  # the valid order it is, if it may be accepted


def _order(cid: str, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"schema_version": 1, "event_type": "order_placed",
                             "order_id": f"{cid}-o", "customer_id": cid, "amount": "12.50",
                             "currency": "USD", "occurred_at": "2025-05-01T10:00:00Z"}
    event.update(fields)
    return event


def _raw(cid: str, field: str, fragment: bytes) -> bytes:
    """A valid order with ``field`` replaced by a raw JSON ``fragment`` (added if absent)."""
    event = _order(cid)
    event.pop(field, None)
    body = orjson.dumps(event)
    return body[:-1] + b',"' + field.encode() + b'":' + fragment + b"}"


_BAD_AMOUNTS: list[tuple[Any, frozenset[str]]] = [
    ([0, [1, 2], -2], AMOUNT), ([2, [1], 0], AMOUNT), ("1_000", AMOUNT), ("1e2", AMOUNT),
    ("1E2", AMOUNT), (" 5", AMOUNT), ("5 ", AMOUNT), ("\t5", AMOUNT), ("+5", AMOUNT),
    ("5\n", AMOUNT), ("\u0665", AMOUNT), ("\u0661\u0662\u0663.\u0664\u0665", AMOUNT),
    ("\uff15", AMOUNT), ("\u096b", AMOUNT), ("0x10", AMOUNT), ("", AMOUNT), ("1,000", AMOUNT),
    ("5 USD", AMOUNT), ("\u00bd", AMOUNT), ({"value": 5}, AMOUNT), (True, AMOUNT),
    (False, AMOUNT), ("-1.00", AMOUNT), (-1, AMOUNT), ("NaN", AMOUNT), ("Infinity", AMOUNT),
    ("-Infinity", AMOUNT), ("12.345", AMOUNT), ("0.001", AMOUNT), ("1000000000", AMOUNT),
    ("1e300", AMOUNT), (None, AMOUNT | MISSING),
]
_RAW_AMOUNTS: list[tuple[bytes, frozenset[str]]] = [
    (b"1e400", AMOUNT | JSON), (b"-0.5", AMOUNT), (b"12.345", AMOUNT), (b"[]", AMOUNT),
]


def _dates(now: datetime) -> list[str]:
    return ["0001-01-01T00:00:00+01:00", "0999-05-01T00:00:00Z", "0001-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z", "1900-01-01T00:00:00Z", "1970-01-01T00:00:00+00:01",
            "9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59Z", "2999-01-01T00:00:00Z",
            (now + timedelta(days=3)).isoformat(), (now + timedelta(days=400)).isoformat(),
            "2024-02-30T00:00:00Z", "2024-13-01T00:00:00Z", "2024-03-01T25:00:00Z",
            "yesterday", "2024-03-01T10:00:00", ""]


_FIELDS: list[tuple[str, list[Any], frozenset[str]]] = [
    ("customer_id", ["", "a\x00b", "c" * 129, 42, None, "c\x85d", "tab\there"],
     frozenset({"invalid_customer_id"}) | MISSING),
    ("order_id", ["", "o\n1", "o" * 129, 7, None], frozenset({"invalid_order_id"}) | MISSING),
    ("event_id", ["", "e\x01", "e" * 129, 9], frozenset({"invalid_event_id"})),
    ("schema_version", [2, "1", True, 0, None],
     frozenset({"unsupported_schema_version"}) | MISSING),
    ("event_type", ["order_shipped", "", "ORDER_PLACED", None, 1],
     frozenset({"unknown_event_type"}) | MISSING),
    ("currency", ["usd", "US", "XYZ", "", 840, None],
     frozenset({"invalid_currency", "unknown_currency"}) | MISSING),
    ("margin", ["1.5", "-0.1", "abc", [], True], frozenset({"invalid_margin"})),
]
_NOT_JSON = [b"{", b"not json", b'{"a":1', b"\x00\x01\x02", b"", b'{"schema_version":1,',
             b"\xff\xfe{}", b'{"a": "\xff"}', b"{'single': 'quotes'}", b'{"a":1}}']
_NOT_OBJECTS = [(b"[1,2,3]", NOT_OBJECT), (b'"order"', NOT_OBJECT), (b"42", NOT_OBJECT),
                (b"true", NOT_OBJECT), (b"[]", NOT_OBJECT), (b'[{"schema_version":1}]', NOT_OBJECT),
                (b"null", NOT_OBJECT | JSON)]
_REQUIRED = ["schema_version", "event_type", "order_id", "customer_id", "amount", "currency",
             "occurred_at"]


def _nested(depth: int, kind: str) -> bytes:
    if kind == "array":
        return b"[" * depth + b"1" + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


def bad_messages(rng: random.Random) -> list[Bad]:
    now = datetime.now(UTC)
    out: list[Bad] = []

    def cid() -> str:
        return f"bm-bad{len(out):05d}"

    def key(c: str | None) -> bytes | None:
        return rng.choice([None, b"", b"someone", (c or "x").encode()])

    # the heavy ones first, by count
    big_keys = [b"\xff" * 400_000, b'"' * 400_000, b"\x01" * 400_000, b"k" * 400_000]
    for i in range(BIG_KEYS):
        c = cid()
        value = rng.choice([b"{oops", _raw(c, "amount", b'"1_000"'), b"[1]"])
        out.append(Bad("400KB key", big_keys[i % len(big_keys)], value, None, c))
    for i in range(BIG_VALUES):
        c = cid()
        size = [70_000, 300_000, 900_000][i % 3]
        value = orjson.dumps(_order(c, channel="x" * size)) if i % 2 == 0 else b"\xff" * size
        out.append(Bad("over-size value", key(c), value, SIZE, c))
    for i in range(DEEP):
        c = cid()
        nested = _nested(300, "array" if i % 2 else "object")
        out.append(Bad("nested 300 deep", c.encode(), _raw(c, "extra", nested), None, c, _order(c)))
    # then every named case once, then random draws of the families
    named: list[Bad] = []
    for amount, codes in _BAD_AMOUNTS:
        c = cid() + f"-{len(named)}"
        named.append(Bad(f"amount {amount!r}"[:40], c.encode(), orjson.dumps(_order(c, amount=amount)),
                         codes, c))
    for fragment, codes in _RAW_AMOUNTS:
        c = cid() + f"-{len(named)}"
        named.append(Bad(f"amount {fragment!r}", c.encode(), _raw(c, "amount", fragment), codes, c))
    for date in _dates(now):
        c = cid() + f"-{len(named)}"
        named.append(Bad(f"occurred_at {date!r}"[:40], c.encode(),
                         orjson.dumps(_order(c, occurred_at=date)), TIME | (MISSING if not date else
                                                                            frozenset()), c))
    out += named
    while len(out) < BAD:
        c = cid()
        family = rng.randrange(8)
        if family == 0:
            amount, codes = rng.choice(_BAD_AMOUNTS)
            out.append(Bad(f"amount {amount!r}"[:40], key(c), orjson.dumps(_order(c, amount=amount)),
                           codes, c))
        elif family == 1:
            date = rng.choice(_dates(now))
            out.append(Bad(f"occurred_at {date!r}"[:40], key(c),
                           orjson.dumps(_order(c, occurred_at=date)), TIME | MISSING, c))
        elif family == 2:
            name, values, codes = rng.choice(_FIELDS)
            value = rng.choice(values)
            event = _order(c, **{name: value})
            if value is None:
                event.pop(name)
            named_customer = c if name != "customer_id" else None
            out.append(Bad(f"{name} {value!r}"[:40], key(c), orjson.dumps(event), codes,
                           named_customer))
        elif family == 3:
            event = _order(c)
            missing = rng.choice(_REQUIRED)
            event.pop(missing)
            codes = MISSING | (frozenset({"unsupported_schema_version"})
                               if missing == "schema_version" else frozenset())
            out.append(Bad(f"no {missing}", key(c), orjson.dumps(event), codes,
                           c if missing != "customer_id" else None))
        elif family == 4:
            out.append(Bad("invalid JSON", key(None), rng.choice(_NOT_JSON), JSON, None))
        elif family == 5:
            value, codes = rng.choice(_NOT_OBJECTS)
            out.append(Bad("not an object", key(None), value, codes, None))
        elif family == 6:
            out.append(Bad("tombstone", rng.choice([b"someone", c.encode()]), None, None, None))
        else:
            body = orjson.dumps(_order(c, amount=rng.choice(["1_000", "+5", " 5", "5\n"])))
            cut = rng.randrange(1, len(body) - 1)  # a truncated record
            out.append(Bad("truncated", key(c), body[:cut], JSON, None))
    return out


async def test_bad_messages_are_dead_lettered(rel_broker: EmbeddedBroker,
                                              rel_redis: EmbeddedRedis) -> None:
    async with scenario("bad_messages") as sc:
        rng = random.Random(SEED)
        rig = sc.rig = Rig(rel_broker, rel_redis, batch_max_records=200)
        try:
            bad = bad_messages(rng)
            rng.shuffle(bad)
            valid = make_orders("bm-", customers=BAD // 3, orders=BAD, seed=SEED)
            messages: list[tuple[bytes | None, bytes | None]] = []
            kinds: list[int] = []  # index into bad, or -1 - index into valid
            for i in range(max(len(bad), len(valid))):
                if i < len(bad):
                    messages.append((bad[i].key, bad[i].value))
                    kinds.append(i)
                if i < len(valid):
                    messages.append((valid[i]["customer_id"].encode(), orjson.dumps(valid[i])))
                    kinds.append(-1 - i)
            worker = await rig.aspawn()
            pid = worker.pid
            positions = await rig.publish_raw(messages)
            rig.events.extend(valid)
            high = highest(positions)
            applied_high = highest(p for p, k in zip(positions, kinds, strict=True) if k < 0)
            settled = await rig.settle(high, applied_high=applied_high, limit_s=pick(120, 300))
            sc.check(settled, f"not settled: applied {await rig.applied()}, committed "
                     f"{await rig.committed()}, published up to {high}")

            letters: dict[tuple[int, int], list[tuple[int, dict[str, Any]]]] = {}
            for r in await rig.read_topic(rig.settings.topic_deadletter):
                assert r.value is not None
                doc = orjson.loads(r.value)
                size = len(r.value) + len(r.key or b"")
                letters.setdefault((doc["partition"], doc["offset"]), []).append((size, doc))
            missing, wrong, big, valid_lettered = [], [], [], []
            codes: Counter[str] = Counter()
            either: Counter[str] = Counter()  # what became of the ones that may be valid
            for pos, k in zip(positions, kinds, strict=True):
                got = letters.get(pos, [])
                if k < 0:
                    if got:
                        valid_lettered.append(f"{pos}: {got[0][1]['error']}")
                    continue
                b = bad[k]
                if not got and b.order is not None:  # accepted as the valid order it is
                    either["applied"] += 1
                    rig.events.append(b.order)
                    continue
                if b.order is not None:
                    either["dead-lettered"] += 1
                if not got:
                    missing.append(b.family)
                    continue
                for size, doc in got:
                    code = (doc.get("error") or {}).get("code")
                    codes[str(code)] += 1
                    if (not code or code == "processing_error"
                            or (b.codes is not None and code not in b.codes)):
                        wrong.append(f"{b.family}: {code} ({(doc.get('error') or {}).get('message')!s:.80})"
                                     f" expected {sorted(b.codes) if b.codes else 'a specific code'}")
                    if size >= MIB:
                        big.append(f"{b.family}: {size} bytes")
            sizes = [size for found in letters.values() for size, _ in found]
            sc.set(bad=len(bad), valid=len(valid),
                   dead_lettered=len(bad) - len(missing) - either["applied"],
                   not_dead_lettered=len(missing), wrong_code=len(wrong), over_1mib=len(big),
                   deadletter_max_bytes=max(sizes, default=0),
                   nested_300="/".join(f"{k}:{n}" for k, n in either.items()) or "none",
                   codes="/".join(f"{c}:{n}" for c, n in codes.most_common()))
            sc.check(not missing, f"{len(missing)} of {len(bad)} bad messages not dead-lettered: "
                     f"{dict(Counter(missing).most_common(20))}")
            sc.check(not wrong, f"{len(wrong)} dead letters without the specific code: {wrong[:12]}")
            sc.check(not big, f"{len(big)} dead letters of 1 MiB or more: {big[:5]}")
            sc.check(not valid_lettered, f"valid orders dead-lettered: {valid_lettered[:5]}")
            sc.check(worker.running and worker.pid == pid and rig.runs == 1,
                     f"the worker exited (code {exit_code(worker)}): {crash_reason(worker)}")
            applied = {e["customer_id"] for e in rig.events}
            await sc.judge(rig, absent=[b.customer for b in bad
                                        if b.customer and b.customer not in applied])
        finally:
            rig.close()
