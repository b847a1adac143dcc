"""The batch loop's policy per failure: wait out outages, fail on what retrying cannot fix."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError, RequestTimedOutError

from clv_stream.exceptions import BrokerError, ClvStreamError, Fenced, StoreError, StoreUnavailable
from clv_stream.settings import Settings
from clv_stream.worker.batch_loop import BatchLoop
from clv_stream.worker.health import Health
from clv_stream.worker.sink import KafkaSink


class _NoClaims:
    async def claim(self, topic: str, partitions: Any, now: float | None = None) -> Any:
        raise AssertionError("not claimed in these tests")


def _loop(events: list[str]) -> BatchLoop:
    settings = Settings()

    async def unused(*_: Any) -> Any:
        raise AssertionError("not processed in these tests")

    return BatchLoop(settings, unused, KafkaSink(settings), unused, _NoClaims(), Health(),
                     on_event=events.append)


def _failing(*errors: Exception) -> tuple[Callable[[], Awaitable[str]], list[int]]:
    """A step that raises ``errors`` one per call, then returns "done"."""
    calls = [0]

    async def step() -> str:
        calls[0] += 1
        if calls[0] <= len(errors):
            raise errors[calls[0] - 1]
        return "done"

    return step, calls


async def test_outages_are_waited_out_and_reported_degraded_meanwhile() -> None:
    events: list[str] = []
    loop = _loop(events)
    seen: list[dict[str, object]] = []
    step, calls = _failing(StoreUnavailable("down"), StoreError("OOM-like refusal"),
                           KafkaConnectionError(), RequestTimedOutError())

    async def watched() -> str:
        seen.append(loop.health.snapshot())
        return await step()

    assert await loop._retrying(watched, "kafka") == "done"
    assert calls[0] == 5
    assert [s["status"] for s in seen] == ["ok", "degraded", "degraded", "degraded", "degraded"]
    assert loop.health.snapshot()["status"] == "ok"  # resumed by itself
    assert events == ["retry_redis", "retry_redis", "retry_kafka", "retry_kafka"]


async def test_a_non_retriable_kafka_error_fails_instead_of_looping() -> None:
    loop = _loop([])
    step, calls = _failing(MessageSizeTooLargeError())
    with pytest.raises(BrokerError):
        await loop._retrying(step, "kafka")
    assert calls[0] == 1


async def test_a_fence_is_never_retried() -> None:
    loop = _loop([])
    step, calls = _failing(Fenced(3))
    with pytest.raises(Fenced):
        await loop._retrying(step)
    assert calls[0] == 1


async def test_stop_ends_a_retry_at_once() -> None:
    loop = _loop([])
    retried = asyncio.Event()
    loop._on_event = lambda _: retried.set()

    async def never() -> None:
        raise StoreUnavailable("down for good")

    retrying = asyncio.ensure_future(loop._retrying(never))
    await asyncio.wait_for(retried.wait(), 5.0)
    await loop.stop(budget_s=1.0)
    with pytest.raises(ClvStreamError) as caught:  # the lane leaves its batch for redelivery
        await asyncio.wait_for(retrying, 1.0)
    assert type(caught.value).__name__ == "Stopped"
