"""The scoring model a worker uses: predictive parameters plus segment cut points, versioned."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from clv_stream.domain.predictive import BgNbdParams, GammaGammaParams

__all__ = ["DEFAULT_VERSION", "ScoringModel"]

#: The version name of the built-in parameters used until ``clv-stream fit`` stores a model.
DEFAULT_VERSION = "default"


@dataclass(frozen=True, slots=True)
class ScoringModel:
    """Everything needed to turn a customer's aggregate into a value, for one model version.

    ``time_unit_days`` is the length of the model's time unit: BG/NBD parameters fitted on
    weekly periods have ``alpha`` in weeks, and scoring converts days to that unit.
    ``tier_cuts`` are the lower bounds of the ``medium``, ``high`` and ``vip`` value tiers
    on ``total_clv``; ``None`` means "use the configured ``CLV_VALUE_TIER_CUTS``".
    """

    version: str
    bgnbd: BgNbdParams
    gamma_gamma: GammaGammaParams
    time_unit_days: float = 1.0
    tier_cuts: tuple[float, float, float] | None = None
    #: RFM quintile cut points {"recency_days": [4], "orders": [4], "net_revenue": [4]}.
    rfm_cuts: dict[str, tuple[float, float, float, float]] | None = None
    diagnostics: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def default(cls) -> ScoringModel:
        return cls(DEFAULT_VERSION, BgNbdParams.DEFAULT, GammaGammaParams.DEFAULT)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "bgnbd": asdict(self.bgnbd),
            "gamma_gamma": asdict(self.gamma_gamma),
            "time_unit_days": self.time_unit_days,
            "tier_cuts": list(self.tier_cuts) if self.tier_cuts else None,
            "rfm_cuts": {k: list(v) for k, v in self.rfm_cuts.items()} if self.rfm_cuts else None,
            "diagnostics": self.diagnostics,
        }

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> ScoringModel:
        cuts = data.get("tier_cuts")
        rfm = data.get("rfm_cuts")
        return cls(
            version=str(data["version"]),
            bgnbd=BgNbdParams(**data["bgnbd"]),
            gamma_gamma=GammaGammaParams(**data["gamma_gamma"]),
            time_unit_days=float(data.get("time_unit_days", 1.0)),
            tier_cuts=(float(cuts[0]), float(cuts[1]), float(cuts[2])) if cuts else None,
            rfm_cuts={k: (float(v[0]), float(v[1]), float(v[2]), float(v[3]))
                      for k, v in rfm.items()} if rfm else None,
            diagnostics=dict(data.get("diagnostics") or {}),
        )
