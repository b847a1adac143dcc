"""A customer's value history: the last ``CLV_HISTORY_POINTS`` values it was published with.

A point is written with the customer's publication (``publish.lua`` keeps them in a list
beside the customer's hash, newest first, cut to the number to keep) as one tab-separated
line: event time, cause, ``total_clv``, ``predicted_clv``, ``p_alive``, ``churn_risk`` and
the encoded segment labels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from clv_stream.events.times import iso

__all__ = ["history_point", "read_points"]


def history_point(clock: int, cause: str, value: Mapping[str, Any], labels: str) -> str:
    """The point of a value published at event time ``clock`` for ``cause``."""
    return "\t".join((str(clock), cause, value["total_clv"], value["predicted_clv"],
                      repr(value["p_alive"]), repr(value["churn_risk"]), labels))


def read_points(stored: Sequence[str], decode: Callable[[str], dict[str, str]],
                ) -> list[dict[str, Any]]:
    """Stored points (newest first) as the contract's history, oldest first."""
    found = []
    for text in reversed(stored):
        at, cause, total, predicted, alive, risk, labels = text.split("\t")
        found.append({"as_of": iso(int(at)), "cause": cause, "total_clv": total,
                      "predicted_clv": predicted, "p_alive": float(alive),
                      "churn_risk": float(risk), "segments": decode(labels)})
    return found
