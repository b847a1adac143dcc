"""The Lua scripts of the Redis store, each with the modules it is built from.

A Redis script cannot include another, so a script's source is its modules concatenated
in order: ``summary.lua`` (the summary string and snapshot text), ``common.lua`` (keys,
the fence, customer rows), then any module of its own, then the script.
"""

from __future__ import annotations

import importlib.resources

__all__ = ["APPLY_SOURCE", "SCRIPTS", "script_source"]

_BASE = ("summary", "common")

#: script name -> the .lua files (without the suffix) it is built from, in order.
SCRIPTS: dict[str, tuple[str, ...]] = {
    "apply": (*_BASE, "portfolio", "due_look", "apply_batch"),
    "publish": (*_BASE, "portfolio", "publish"),
    "read": (*_BASE, "read_customers"),
    "claim": (*_BASE, "claim"),
    "lease": ("lease",),
}


def script_source(name: str) -> str:
    """The full Lua source of script ``name`` (a key of :data:`SCRIPTS`)."""
    files = importlib.resources.files("clv_stream.store")
    return "\n".join(files.joinpath(f"{module}.lua").read_text() for module in SCRIPTS[name])


#: The batch script (benchmarks measure it alone).
APPLY_SOURCE = script_source("apply")
