"""The worker's one retry policy: wait out outages, fail on what retrying cannot fix."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.errors import KafkaError

from clv_stream.exceptions import (
    BrokerError,
    ClvStreamError,
    Fenced,
    StateLost,
    StateRolledBack,
    StoreError,
)
from clv_stream.worker.health import Health

__all__ = ["Retrying", "Stopped", "pause"]

logger = logging.getLogger(__name__)

#: First and longest wait between two tries (seconds): capped exponential backoff.
FIRST_DELAY_S, MAX_DELAY_S = 0.05, 5.0


class Stopped(ClvStreamError):
    """The loop is stopping: a lane leaves its batch where it is (redelivered later)."""


async def pause(stopping: asyncio.Event, seconds: float) -> None:
    """Sleep, waking at once when ``stopping`` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)


class Retrying:
    """Runs a step until it succeeds, reporting the dependency that fails as ``degraded``.

    Redis errors (all of them: lost connections, OOM, READONLY, MISCONF, ...) and retriable
    Kafka errors pause the step with capped exponential backoff; a non-retriable Kafka error
    (authorisation, a record the broker refuses) fails the worker, as Kafka Streams'
    default handler does, since retrying cannot help. Fences, rollbacks and lost state are
    decisions for the caller, never retried. ``on_event`` hears ``retry_redis`` or
    ``retry_kafka`` per retry.
    """

    def __init__(self, health: Health, stopping: asyncio.Event,
                 on_event: Callable[[str], None]) -> None:
        self._health, self._stopping, self._event = health, stopping, on_event

    async def __call__(self, step: Callable[[], Awaitable[Any]], check: str = "redis") -> Any:
        """``check``: the dependency a Kafka error points at (Redis errors always point at
        Redis)."""
        delay, failing = FIRST_DELAY_S, ""
        failed: set[str] = set()
        while True:
            try:
                result = await step()
            except (Fenced, StateRolledBack, StateLost):
                raise
            except StoreError as exc:
                failing, reason = "redis", _reason(exc)
            except KafkaError as exc:
                if not exc.retriable:
                    raise BrokerError(f"non-retriable Kafka error: {type(exc).__name__}") from exc
                failing, reason = check, type(exc).__name__
            else:
                for check_ in failed:
                    self._health.ok(check_)
                    logger.info("%s is back", check_)
                return result
            if self._stopping.is_set():
                raise Stopped
            failed.add(failing)
            self._health.degraded(failing)
            self._event(f"retry_{failing}")
            logger.warning("%s unavailable (%s); retrying in %.2fs", failing, reason, delay)
            await pause(self._stopping, delay)
            if self._stopping.is_set():
                raise Stopped
            delay = min(delay * 2, MAX_DELAY_S)


def _reason(exc: StoreError) -> str:
    """Why the store failed, without hosts or ports (see ``StoreError.reason``)."""
    return exc.reason or type(exc).__name__
