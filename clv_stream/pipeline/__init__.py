"""Where the pieces meet: raw batch -> validation -> store -> value -> output records.

Framework-free: the worker (:mod:`clv_stream.worker`) feeds it batches of raw Kafka records
and sends what it returns. The order of a batch's life is what makes delivery safe:

1. :meth:`Pipeline.process` validates, applies the batch in one store call (idempotent by
   offset and event_id), scores every touched customer, and the customers of the batch's
   partitions that event time made due for a time-driven look, and builds the output records;
2. the worker produces those records and waits for the broker's acks;
3. :meth:`Pipeline.confirm` records what was published (snapshot, segments, next due time);
4. the worker commits the Kafka offsets.

A crash anywhere before 3 leaves the customer's ``pub`` snapshot behind its aggregate, so
the redelivered batch (skipped by the store) re-emits the same records with the same
deterministic ``event_id``: downstream sees at-least-once delivery with stable ids.

Modules, by job: :mod:`~.batch` (the batch's life), :mod:`~.emitter` (scored customers ->
records), :mod:`~.scoring` (current and stored models), :mod:`~.transition` (output ids),
:mod:`~.previous` (the previous-value cache), :mod:`~.views` (the read side),
:mod:`~.outcome` (what the worker gets back).
"""

from clv_stream.events.codec import KEY_LIMIT, RAW_LIMIT
from clv_stream.events.records import OutRecord, RawRecord
from clv_stream.pipeline.batch import Pipeline
from clv_stream.pipeline.outcome import BatchOutcome, Replay
from clv_stream.pipeline.views import CustomerViews

__all__ = ["KEY_LIMIT", "RAW_LIMIT", "BatchOutcome", "CustomerViews", "OutRecord", "Pipeline",
           "RawRecord", "Replay"]
