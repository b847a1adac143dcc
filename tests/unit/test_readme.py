"""The README documents every setting and shows the two commands; its and the docs' links
resolve inside the repository (a user who clones it can open every one)."""

from __future__ import annotations

import re
from pathlib import Path

from clv_stream.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.MULTILINE)


def _links(text: str) -> list[str]:
    return _LINK.findall(_FENCE.sub("", text))


def _anchors(text: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-")
            for h in _HEADING.findall(_FENCE.sub("", text))}


def test_every_setting_is_in_the_readme() -> None:
    missing = [f"CLV_{name.upper()}" for name in Settings.model_fields
               if f"`CLV_{name.upper()}`" not in README]
    assert not missing


def test_the_two_commands_are_shown() -> None:
    assert "make demo" in README
    assert "make test" in README


def test_the_readme_links_the_contract_inside_the_repository() -> None:
    assert "(docs/contract.md)" in README
    assert "../shared/" not in README


def test_relative_links_point_to_files_and_headings_that_exist() -> None:
    broken = []
    for doc in DOCS:
        for target in _links(doc.read_text(encoding="utf-8")):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            file = (doc.parent / path).resolve() if path else doc
            if not file.is_file() or ROOT not in file.parents:
                broken.append(f"{doc.name}: {target}")
            elif anchor and file.suffix == ".md" and (
                    anchor not in _anchors(file.read_text(encoding="utf-8"))):
                broken.append(f"{doc.name}: {target} (no such heading)")
    assert not broken
