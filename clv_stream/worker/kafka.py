"""Kafka at the edge: the batch sink and the batch-first consume loop.

Why a loop of our own under Faust: Faust's per-event stream path (agent -> stream -> event)
costs far more per event than the broker and one Redis Lua call per batch do (measured in
``docs/performance.md``). So the worker keeps Faust for what it is good at (app lifecycle, web
server, timers, CLI, logging) and drives an aiokafka consumer (the client Faust is built on)
in batches, inside a Faust service. See the README (Architecture) and
``docs/performance.md``.

The adapter by job: :mod:`~clv_stream.worker.batch_loop` (consume, process, send, confirm,
commit), :mod:`~clv_stream.worker.ownership` (partition claims in Redis, where each
resumes), :mod:`~clv_stream.worker.retry` (the one retry policy),
:mod:`~clv_stream.worker.sink` (output records, in bulk) and
:mod:`~clv_stream.worker.credentials` (client settings). This module names them together.
"""

from __future__ import annotations

from clv_stream.worker.batch_loop import BatchLoop, Confirm, Process
from clv_stream.worker.ownership import Claims
from clv_stream.worker.sink import KafkaSink, Unsent

__all__ = ["BatchLoop", "Claims", "Confirm", "KafkaSink", "Process", "Unsent"]
