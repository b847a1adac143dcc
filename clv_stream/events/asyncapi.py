"""The topics as an AsyncAPI 3.0 document: ``schemas/asyncapi.yaml``.

Generated from the one list of topics (:data:`clv_stream.events.topics.TOPICS`) by
``python -m clv_stream.events.schemas``; each message's payload is that topic's JSON Schema
file next to it, so a record's shape is defined once. ``tests/unit/events/test_schemas.py``
fails when the committed file drifts from the topics.
"""

from __future__ import annotations

from typing import Any

from clv_stream.events.topics import TOPICS

__all__ = ["ASYNCAPI_FILE", "document"]

ASYNCAPI_FILE = "asyncapi.yaml"


def document() -> dict[str, Any]:
    """The AsyncAPI document, as seen from the worker: it receives the input topic and sends
    the output topics. Channel addresses are the default topic names (``CLV_TOPIC_*``)."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic in TOPICS:
        key = topic.setting.removeprefix("topic_")
        name = topic.model.__name__
        schema = topic.model.model_json_schema()
        messages[name] = {
            "name": name,
            "title": schema.get("title", name),
            "summary": next(iter((topic.model.__doc__ or "").strip().splitlines()), name),
            "contentType": "application/json",
            "payload": {"$ref": f"./{topic.schema_file}"},
        }
        channels[key] = {
            "address": topic.schema,
            "description": f"Named by CLV_{topic.setting.upper()} (default {topic.schema}).",
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
        action = "receive" if topic.direction == "input" else "send"
        operations[f"{action}_{key}"] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{key}"},
            "messages": [{"$ref": f"#/channels/{key}/messages/{name}"}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "clv-stream",
            "version": "2",
            "description": "Kafka topics of clv-stream (contract version 2): order and "
                           "subscription events in; CLV updates, segment changes and dead "
                           "letters out. JSON, one record per message, keyed by customer_id "
                           "(a dead letter by the rejected message's key).",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }
