"""The README documents every setting and shows the two commands."""

from __future__ import annotations

from pathlib import Path

from clv_stream.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_readme() -> None:
    missing = [f"CLV_{name.upper()}" for name in Settings.model_fields
               if f"`CLV_{name.upper()}`" not in README]
    assert not missing


def test_the_two_commands_are_shown() -> None:
    assert "make demo" in README
    assert "make test" in README
