"""What a batch's processing hands the worker: records to send, what to record once sent."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import NamedTuple

from clv_stream.events.records import OutRecord
from clv_stream.store.port import Fence, PublishEntry

__all__ = ["BatchOutcome", "Replay"]


class Replay(NamedTuple):
    """How a batch applied but never confirmed was scored: its event time and model."""

    as_of: int
    model_version: str


@dataclass(slots=True)
class BatchOutcome:
    records: list[OutRecord] = field(default_factory=list)
    #: what to record of each customer once its records are out (``StateStore.publish``)
    publish: list[PublishEntry] = field(default_factory=list)
    received: int = 0
    due: int = 0  # customers re-scored because event time made them due (time decay)
    #: the look at due customers took as many index entries as it may: there may be more
    full_look: bool = False
    invalid: int = 0
    applied: int = 0
    duplicates: int = 0
    redelivered: int = 0
    updates: int = 0
    segment_changes: int = 0
    clock: int = 0  # the stream's event time after the batch
    started: float = field(default_factory=time.perf_counter)
    #: what the batch was applied under, checked again when it is confirmed (see ``Fence``)
    topic: str = ""
    fence: Fence = field(default_factory=dict)
    #: per partition, the batch's highest offset: confirmed with the publication
    positions: dict[int, int] = field(default_factory=dict)
