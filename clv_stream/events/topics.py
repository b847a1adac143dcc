"""The public topics: each one's name setting, its model and its JSON Schema file.

One list, read by schema generation (:mod:`clv_stream.events.schemas`), by the topics the
dev stack creates and by the demo's printer: a new output topic is a model in
:mod:`clv_stream.events.models`, a ``topic_*`` setting and one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from clv_stream.events.models import ClvUpdate, DeadLetter, InputEvent, SegmentChange
from clv_stream.settings import Settings

__all__ = ["TOPICS", "Topic", "output_topics", "topic_names"]


@dataclass(frozen=True, slots=True)
class Topic:
    #: the :class:`~clv_stream.settings.Settings` attribute holding the topic's name
    setting: str
    #: the model of its records: what is accepted (input) or emitted (output)
    model: type[BaseModel]
    direction: Literal["input", "output"]
    #: its schema's file in ``schemas/`` is ``<schema>.schema.json`` (the default topic name)
    schema: str

    def name(self, settings: Settings) -> str:
        return str(getattr(settings, self.setting))

    @property
    def schema_file(self) -> str:
        return f"{self.schema}.schema.json"


TOPICS: list[Topic] = [
    Topic("topic_orders", InputEvent, "input", "orders"),
    Topic("topic_updates", ClvUpdate, "output", "clv.updates"),
    Topic("topic_segments", SegmentChange, "output", "clv.segments"),
    Topic("topic_deadletter", DeadLetter, "output", "clv.deadletter"),
]


def output_topics(settings: Settings) -> list[str]:
    return [t.name(settings) for t in TOPICS if t.direction == "output"]


def topic_names(settings: Settings) -> list[str]:
    """Every topic's name, input first."""
    return [t.name(settings) for t in TOPICS]
