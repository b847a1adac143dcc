"""docs/contract.md says what the code does: its examples are records the schemas accept,
and it names every error code, CLI verb and segment label, and only settings that exist."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from clv_stream.cli.main import app
from clv_stream.domain.segments import SCHEMES
from clv_stream.events.validation import ErrorCode, OrderValidator
from clv_stream.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")
EXAMPLES = [json.loads(block) for block in re.findall(r"^```json\n(.*?)^```", DOC,
                                                      re.MULTILINE | re.DOTALL)]


def _schema(name: str) -> dict[str, Any]:
    return dict(json.loads((ROOT / "schemas" / f"{name}.schema.json").read_text()))


def _section(title: str) -> str:
    return DOC.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_there_is_an_example_of_every_record() -> None:
    kinds = {("event_type" in e, "current" in e, "dimension" in e, "error" in e)
             for e in EXAMPLES}
    assert kinds == {(True, False, False, False), (False, True, False, False),
                     (False, False, True, False), (False, False, False, True)}


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_example_is_valid_against_its_schema(example: dict[str, Any]) -> None:
    if "event_type" in example:
        name = "orders"
        OrderValidator(Settings()).validate(orjson.dumps(example), math.inf,  # not rejected
                                            subscriptions=True)
    else:
        name = ("clv.updates" if "current" in example else
                "clv.segments" if "dimension" in example else "clv.deadletter")
    jsonschema.validate(example, _schema(name))


def test_every_error_code_is_documented() -> None:
    codes = _section("Input: order events on `orders`")
    assert [c.value for c in ErrorCode if f"`{c.value}`" not in codes] == []


def test_every_cli_verb_is_documented() -> None:
    verbs = [c.name or (c.callback.__name__ if c.callback else "")
             for c in app.registered_commands]
    assert verbs
    assert [v for v in verbs if f"`clv-stream {v}" not in _section("Command line: `clv-stream`")] == []


def test_every_segment_label_is_documented() -> None:
    labels = {label for scheme in SCHEMES for label in scheme.vocabulary} | {"none"}
    segments = _section("Output records")
    assert [label for label in sorted(labels) if f"`{label}`" not in segments] == []


def test_the_settings_table_names_only_real_settings() -> None:
    named = set(re.findall(r"`CLV_([A-Z_]+)`", _section("Settings that change the contract")))
    assert named
    assert named - {name.upper() for name in Settings.model_fields} == set()
