"""The models a worker scores with: the current one, and those earlier values were published
with (to recompute a ``previous``, or replay a batch as it was first scored)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clv_stream.domain import segments as seg
from clv_stream.domain.aggregate import Summary
from clv_stream.domain.model import ScoringModel
from clv_stream.domain.value import ValueConfig, score
from clv_stream.exceptions import ModelError
from clv_stream.settings import Settings
from clv_stream.store.port import StateStore

__all__ = ["Scorer", "Scoring"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Scoring:
    """A model with the segment rules it implies: swapped whole, so a batch never mixes two."""

    model: ScoringModel
    rules: seg.SegmentSet


class Scorer:
    """Scores customers' summaries with the current model or a stored one by version."""

    def __init__(self, settings: Settings, store: StateStore,
                 model: ScoringModel | None = None) -> None:
        self._s = settings
        self._store = store
        self.config = ValueConfig(
            decimals=settings.reporting_decimals,
            lifespan_years=float(settings.lifespan_years),
            horizon_months=settings.horizon_months,
            discount_rate=settings.discount_rate,
            default_margin_bp=int(settings.default_margin * 10000),
        )
        self._models: dict[str, ScoringModel] = {}
        self.model = model or ScoringModel.default()

    @property
    def model(self) -> ScoringModel:
        return self.current.model

    @model.setter
    def model(self, model: ScoringModel) -> None:
        self._models[model.version] = model
        self.current = self.scoring_of(model)  # one assignment (see Scoring)

    def scoring_of(self, model: ScoringModel) -> Scoring:
        s = self._s
        cuts = {"value_tier": model.tier_cuts or tuple(float(c) for c in s.value_tier_cuts),
                "lifecycle": (s.at_risk_days, s.lapsed_days),
                **{f"rfm.{k}": v for k, v in (model.rfm_cuts or {}).items()}}
        return Scoring(model, seg.SegmentSet.from_cuts(cuts))

    async def scoring_for(self, version: str) -> Scoring:
        """The current scoring, or that of model ``version`` ("": the current one)."""
        scoring = self.current
        if version in ("", scoring.model.version):
            return scoring
        return self.scoring_of(await self.load(version))

    async def load(self, version: str) -> ScoringModel:
        """Model ``version``, read from the store once (the built-in one if it is gone or
        cannot be read)."""
        model = self._models.get(version)
        if model is None:
            try:
                model = await self._store.model(version)
            except ModelError as exc:
                logger.error("%s; the built-in model stands in for it", exc)
            model = self._models[version] = model or ScoringModel.default()
        return model

    def score(self, summaries: Sequence[Summary], as_of: float | Sequence[float],
              model: ScoringModel | str) -> list[dict[str, Any]]:
        """``CustomerValue`` dicts; ``model`` by version must be :meth:`load`-ed already."""
        found = self._models[model] if isinstance(model, str) else model
        return score(summaries, as_of, found, self.config)
