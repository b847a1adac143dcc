"""The output codec: the bodies of ``clv.updates``, ``clv.segments`` and ``clv.deadletter``.

:class:`JsonCodec` writes the bytes ``orjson`` gives for the pydantic models of
:mod:`clv_stream.events.models` (``model_dump_json(by_alias=True)``; a property test keeps
them equal), spliced from parts instead of built as a dict per record: the parts a batch or a
customer shares (the batch's ``as_of``/``currency``/``model_version`` members, a customer's id,
a ``CustomerValue`` already encoded for the previous-value cache) are encoded once.

Another wire format (Avro, Protobuf) is another class with the same methods, given to the
pipeline; the pipeline never writes JSON itself.
"""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any, NamedTuple, Protocol

import orjson

from clv_stream.memo import BoundedMemo

__all__ = ["KEY_LIMIT", "RAW_LIMIT", "DeadLetterInput", "JsonCodec", "OutputCodec"]

#: Bytes of a rejected message a dead letter carries at most (the contract's limit).
RAW_LIMIT = 64 * 1024
#: Bytes of a rejected message's key a dead letter carries at most (its record key too).
KEY_LIMIT = 1024


class DeadLetterInput(NamedTuple):
    """What a dead letter says of the rejected record and why."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    code: str
    message: str
    field: str | None
    tenant: str | None  # the message's, when it has a readable one


class OutputCodec(Protocol):
    """Encodes the output records' bodies. ``*_json`` arguments are already encoded by this
    codec (:meth:`value`, :meth:`text`); ``event_id`` is the record's id, ASCII."""

    def value(self, value: dict[str, Any]) -> bytes:
        """A ``CustomerValue`` (a scored customer, JSON-ready)."""

    def text(self, value: str | None) -> bytes:
        """A string member from a small vocabulary (a cause, a dimension, a label)."""

    def string(self, value: str) -> bytes:
        """Any other string member (a customer id)."""

    def batch_members(self, as_of: str, currency: str, model_version: str) -> bytes:
        """The members every update of one batch carries alike."""

    def update(self, event_id: bytes, customer_json: bytes, tenant_json: bytes, cause: str,
               source: str, batch: bytes, previous_json: bytes | None, current_json: bytes,
               delta_clv: Decimal) -> bytes:
        """A ``ClvUpdate`` (``batch``: :meth:`batch_members`)."""

    def segment_tail(self, as_of: str, cause: str, value: dict[str, Any]) -> bytes:
        """The members of a ``SegmentChange`` a customer's changed dimensions share."""

    def segment(self, event_id: bytes, customer_json: bytes, tenant_json: bytes,
                dimension: str, old: str | None, new: str, tail: bytes) -> bytes:
        """A ``SegmentChange`` (``tail``: :meth:`segment_tail`)."""

    def dead_letter(self, rejected: DeadLetterInput, received_at: str, max_bytes: int,
                    ) -> tuple[bytes | None, bytes]:
        """The record key and body of a ``DeadLetter``, bounded to ``max_bytes``."""


class JsonCodec:
    """The contract's JSON (see the module docstring)."""

    def __init__(self) -> None:
        # causes, dimensions and labels: small fixed vocabularies
        self._texts: BoundedMemo[str | None, bytes] = BoundedMemo(1000)

    def value(self, value: dict[str, Any]) -> bytes:
        return right_sized(value)

    def text(self, value: str | None) -> bytes:
        found = self._texts.get(value)
        if found is None:
            found = self._texts.put(value, orjson.dumps(value))
        return found

    def string(self, value: str) -> bytes:
        return orjson.dumps(value)

    def batch_members(self, as_of: str, currency: str, model_version: str) -> bytes:
        return orjson.dumps({"as_of": as_of, "currency": currency,
                             "model_version": model_version})[1:-1]

    def update(self, event_id: bytes, customer_json: bytes, tenant_json: bytes, cause: str,
               source: str, batch: bytes, previous_json: bytes | None, current_json: bytes,
               delta_clv: Decimal) -> bytes:
        return b"".join((
            b'{"schema_version":1,"event_id":"', event_id, b'","customer_id":', customer_json,
            b',"tenant_id":', tenant_json, b',"cause":', self.text(cause),
            b',"source_event_id":', orjson.dumps(source), b",",
            batch, b',"previous":', previous_json or b"null", b',"current":', current_json,
            b',"delta_clv":', orjson.dumps(str(delta_clv)), b"}",
        ))

    def segment_tail(self, as_of: str, cause: str, value: dict[str, Any]) -> bytes:
        return b"," + orjson.dumps({"as_of": as_of, "cause": cause,
                                    "total_clv": value["total_clv"],
                                    "p_alive": value["p_alive"]})[1:]

    def segment(self, event_id: bytes, customer_json: bytes, tenant_json: bytes,
                dimension: str, old: str | None, new: str, tail: bytes) -> bytes:
        return b"".join((
            b'{"schema_version":1,"event_id":"', event_id, b'","customer_id":', customer_json,
            b',"tenant_id":', tenant_json, b',"dimension":', self.text(dimension),
            b',"from":', self.text(old), b',"to":', self.text(new), tail,
        ))

    def dead_letter(self, rejected: DeadLetterInput, received_at: str, max_bytes: int,
                    ) -> tuple[bytes | None, bytes]:
        """The key cut to :data:`KEY_LIMIT` bytes, the message to :data:`RAW_LIMIT` and then
        to fewer until the whole record fits ``max_bytes`` (a record over the broker's limit
        would stall the partition), each cut flagged."""
        key = rejected.key
        cut_key = key[:KEY_LIMIT] if key is not None else None
        head = {
            "schema_version": 1,
            "error": {"code": rejected.code, "message": rejected.message,
                      "field": rejected.field},
            "tenant_id": rejected.tenant,
            "topic": rejected.topic, "partition": rejected.partition,
            "offset": rejected.offset,
            "key": cut_key.decode("utf-8", "replace") if cut_key is not None else None,
            "key_truncated": cut_key is not None and cut_key != key,
        }
        value = rejected.value
        limit = min(RAW_LIMIT, len(value))
        while True:
            body = right_sized({**head, **_raw_payload(value, limit), "received_at": received_at})
            if len(body) <= max_bytes or limit == 0:
                return cut_key, body
            limit //= 2


def right_sized(body: dict[str, Any]) -> bytes:
    """``orjson.dumps``, right-sized. orjson (3.12 on) returns bytes that keep its whole
    write buffer, 4 KB or more, whatever the length; the previous-value cache holds one
    value per customer and a batch holds its dead letters until the broker acked them, so
    both keep a copy of the length written instead (records joined from parts are exact)."""
    return bytes(memoryview(orjson.dumps(body)))


def _raw_payload(value: bytes, limit: int) -> dict[str, Any]:
    cut = value[:limit]
    try:
        text, encoding = cut.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(cut).decode("ascii"), "base64"
    return {"raw": text, "raw_encoding": encoding, "raw_truncated": len(value) > limit}
