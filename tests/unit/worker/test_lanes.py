"""Which records the batch loop may process in parallel lanes."""

from __future__ import annotations

from typing import NamedTuple

import orjson

from clv_stream.events.fastpath import customer_keyed
from tests.corpus import order


class Msg(NamedTuple):
    key: bytes | None
    value: bytes | None


def _keyed(m: Msg) -> bool:
    return customer_keyed(m.key, m.value)


def test_a_record_keyed_by_its_customer_is_keyed() -> None:
    assert _keyed(Msg(b"c-1", orjson.dumps(order(customer_id="c-1"))))
    assert _keyed(Msg("é".encode(), b'{"customer_id": "\\u00e9", "x": 1}'))  # decoded path
    assert _keyed(Msg(b"c-1", b'{"customer_id": "c-1", "x": 1}'))  # Python's json.dumps


def test_a_wrong_or_missing_key_is_not() -> None:
    assert not _keyed(Msg(b"c-2", orjson.dumps(order(customer_id="c-1"))))
    assert not _keyed(Msg(None, orjson.dumps(order(customer_id="c-1"))))
    assert not _keyed(Msg(b"c-1", b'{"customer_id":"c-1","customer_id":"c-9"}'))
    # a key that would end the string early: {"customer_id":"a","b":1} is customer "a"
    assert not _keyed(Msg(b'a","b', b'{"customer_id":"a","b":1}'))


def test_records_that_touch_no_customer_are_harmless() -> None:
    assert _keyed(Msg(b"k", None))
    assert _keyed(Msg(b"k", b"{not json"))
    assert _keyed(Msg(b"k", b"[1, 2]"))
    assert _keyed(Msg(b"k", b'{"customer_id": 42}'))
