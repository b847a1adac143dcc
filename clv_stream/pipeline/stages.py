"""Output stages: further records from a batch's scored customers, beside the built-in
``clv.updates`` and ``clv.segments`` (which the emitter builds itself, being the hot path).

A stage sees each batch's scored customers once, after the built-in records, in the scoring
thread. Its records must be a function of what it is given (ids from
:meth:`Transition.event_id`), so a redelivered or replayed batch emits the same records.
A stage that raises loses its own records of that batch (logged), never the built-in ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple, Protocol

from clv_stream.events.records import OutRecord
from clv_stream.pipeline.transition import Transition
from clv_stream.settings import Settings
from clv_stream.store.port import CustomerState

__all__ = ["STAGES", "OutputStage", "Scored"]


class Scored(NamedTuple):
    """A batch's scored customers, index-aligned."""

    states: Sequence[CustomerState]
    values: Sequence[dict[str, Any]]  # the ``CustomerValue`` of each, JSON-ready
    labels: Sequence[str]  # encoded segment labels (``domain.segments``)
    transitions: Sequence[Transition]
    clock: int  # the event time they are valued at
    model_version: str


class OutputStage(Protocol):
    def records(self, scored: Scored) -> Iterable[OutRecord]:
        """The stage's records for one batch (none is fine)."""


#: Factories of the stages every pipeline runs, in order (empty by default).
STAGES: list[Callable[[Settings], OutputStage]] = []
