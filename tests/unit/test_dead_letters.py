"""Dead letters are bounded: one hostile message must never stall a partition (review row 4)."""

from __future__ import annotations

import orjson
import pytest

from clv_stream.pipeline import KEY_LIMIT, RAW_LIMIT, Pipeline, RawRecord
from clv_stream.settings import Settings
from clv_stream.store.redis_store import RedisStore


@pytest.fixture
def pipeline() -> Pipeline:
    # batches of invalid records never reach the store: nothing listens on this address
    store = RedisStore.from_url("redis://127.0.0.1:9/0")
    return Pipeline(Settings(max_deadletter_bytes=128 * 1024), store)


async def _dead_letter(pipeline: Pipeline, key: bytes | None, value: bytes) -> tuple[bytes, dict]:  # type: ignore[type-arg]
    outcome = await pipeline.process([RawRecord("orders", 0, 7, key, value)])
    [record] = outcome.records
    assert record.topic == "clv.deadletter"
    return record.key or b"", orjson.loads(record.value)


async def test_a_huge_key_is_cut_and_flagged(pipeline: Pipeline) -> None:
    key, body = await _dead_letter(pipeline, b"k" * 400_000, b"{not json")
    assert len(key) == KEY_LIMIT
    assert body["key"] == "k" * KEY_LIMIT
    assert body["key_truncated"] is True
    assert body["raw"] == "{not json"
    assert body["raw_truncated"] is False


async def test_a_record_fits_the_limit_even_when_escaping_inflates_it(pipeline: Pipeline) -> None:
    # control characters become \u00XX in JSON: 64 KiB of them would be a 384 KiB record
    _, body = await _dead_letter(pipeline, b"c-1", b"\x01" * 200_000)
    assert len(orjson.dumps(body)) <= 128 * 1024
    assert body["raw_truncated"] is True
    assert 0 < len(body["raw"]) < RAW_LIMIT
    assert body["raw"] == "\x01" * len(body["raw"])
    assert body["key_truncated"] is False


async def test_small_messages_are_kept_whole(pipeline: Pipeline) -> None:
    _, body = await _dead_letter(pipeline, None, b'{"schema_version": 1}')
    assert body["raw"] == '{"schema_version": 1}'
    assert body["key"] is None
    assert (body["key_truncated"], body["raw_truncated"]) == (False, False)
    assert body["error"]["code"] == "missing_field"
