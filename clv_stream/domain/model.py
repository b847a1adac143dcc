"""The scoring model a worker uses: its predictive components plus segment cut points, versioned.

Stored as JSON (Redis hash ``P:models``) and read by running workers, so the shape is a
contract: each component is ``{"kind": ..., "params": {...}}``, its kind looked up in
:mod:`~clv_stream.domain.kinds`. Models stored before kinds existed (``"bgnbd"`` and
``"gamma_gamma"`` parameter objects) still load, as those two kinds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from clv_stream.domain import kinds
from clv_stream.domain.bgnbd import BgNbdParams
from clv_stream.domain.gamma_gamma import GammaGammaParams
from clv_stream.domain.protocols import PurchaseModel, RetentionModel, SpendModel

__all__ = ["DEFAULT_VERSION", "ScoringModel"]

#: The version name of the built-in parameters used until ``clv-stream fit`` stores a model.
DEFAULT_VERSION = "default"
#: Where a model stored before kinds existed kept each role's parameters, and its kind.
_LEGACY = {"purchases": "bgnbd", "spend": "gamma_gamma"}


@dataclass(frozen=True, slots=True)
class ScoringModel:
    """Everything needed to turn a customer's aggregate into a value, for one model version.

    ``purchases`` and ``spend`` are the models of those roles (BG/NBD and Gamma-Gamma by
    default). ``time_unit_days`` is the length of the purchase model's time unit: BG/NBD
    parameters fitted on weekly periods have ``alpha`` in weeks, and scoring converts days
    to that unit. ``tier_cuts`` are the lower bounds of the ``medium``, ``high`` and ``vip``
    value tiers on ``total_clv``; ``None`` means "use the configured ``CLV_VALUE_TIER_CUTS``".
    """

    version: str
    purchases: PurchaseModel
    spend: SpendModel
    time_unit_days: float = 1.0
    tier_cuts: tuple[float, float, float] | None = None
    #: RFM quintile cut points {"recency_days": [4], "orders": [4], "net_revenue": [4]}.
    rfm_cuts: dict[str, tuple[float, float, float, float]] | None = None
    diagnostics: dict[str, Any] = field(default_factory=dict)
    #: The subscriptions' contractual model, when one is fitted (stored only then).
    retention: RetentionModel | None = None
    #: ``total_clv`` at the percentiles 1..100 of the customers fitted on: a customer's
    #: ``clv_percentile`` is how many of them its value reaches.
    clv_quantiles: tuple[float, ...] | None = None

    @classmethod
    def default(cls) -> ScoringModel:
        return cls(DEFAULT_VERSION, BgNbdParams.DEFAULT, GammaGammaParams.DEFAULT)

    def to_json_dict(self) -> dict[str, Any]:
        stored: dict[str, Any] = {
            "version": self.version,
            "purchases": kinds.dump(self.purchases),
            "spend": kinds.dump(self.spend),
            "time_unit_days": self.time_unit_days,
            "tier_cuts": list(self.tier_cuts) if self.tier_cuts else None,
            "rfm_cuts": {k: list(v) for k, v in self.rfm_cuts.items()} if self.rfm_cuts else None,
            "clv_quantiles": list(self.clv_quantiles) if self.clv_quantiles else None,
            "diagnostics": self.diagnostics,
        }
        if self.retention is not None:
            stored["retention"] = kinds.dump(self.retention)
        # also in the shape before kinds, while workers of that version may read it
        for role, legacy in _LEGACY.items():
            component = stored[role]
            if component["kind"] == legacy:
                stored[legacy] = component["params"]
        return stored

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> ScoringModel:
        cuts = data.get("tier_cuts")
        rfm = data.get("rfm_cuts")
        return cls(
            version=str(data["version"]),
            purchases=_component(data, "purchases"),
            spend=_component(data, "spend"),
            time_unit_days=float(data.get("time_unit_days", 1.0)),
            tier_cuts=(float(cuts[0]), float(cuts[1]), float(cuts[2])) if cuts else None,
            rfm_cuts={k: (float(v[0]), float(v[1]), float(v[2]), float(v[3]))
                      for k, v in rfm.items()} if rfm else None,
            clv_quantiles=tuple(float(q) for q in data["clv_quantiles"])
            if data.get("clv_quantiles") else None,
            diagnostics=dict(data.get("diagnostics") or {}),
            retention=kinds.load(data["retention"], "retention") if "retention" in data else None,
        )


def _component(data: dict[str, Any], role: kinds.Role) -> Any:
    """A role's model from the stored JSON, in today's shape or the one before kinds."""
    if role in data:
        return kinds.load(data[role], role)
    legacy = _LEGACY[role]
    return kinds.load({"kind": legacy, "params": data[legacy]}, role)
