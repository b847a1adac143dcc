"""The models a worker scores with: the current one, those earlier values were published
with (to recompute a ``previous``, or replay a batch as it was first scored), and each
tenant's own (its settings and, once fitted, its model)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clv_stream.domain import segments as seg
from clv_stream.domain.aggregate import Summary
from clv_stream.domain.model import ScoringModel
from clv_stream.domain.subscription_value import SubscriberValue
from clv_stream.domain.tenant import TenantSettings
from clv_stream.domain.value import ValueConfig, score
from clv_stream.exceptions import ModelError
from clv_stream.settings import Settings
from clv_stream.store.port import StateStore

__all__ = ["Scorer", "Scoring"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Scoring:
    """A model with the segment rules, value settings and currency it is used with: swapped
    whole, so a batch never mixes two."""

    model: ScoringModel
    rules: seg.SegmentSet
    config: ValueConfig
    currency: str


class Scorer:
    """Scores customers' summaries with the current model or a stored one by version, and
    each tenant with its own settings and model where it has them."""

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
        self._tenants: dict[str, TenantSettings] = {}
        self._tenant_scorings: dict[str, Scoring] = {}
        self._at: dict[tuple[str, str], Scoring] = {}  # scoring_at's, until tenants change
        self.model = model or ScoringModel.default()

    @property
    def model(self) -> ScoringModel:
        return self.current.model

    @model.setter
    def model(self, model: ScoringModel) -> None:
        self._models[model.version] = model
        self.current = self.scoring_of(model)  # one assignment (see Scoring)
        self._tenant_scorings = self._scorings_of(self._tenants)

    @property
    def tenants(self) -> Mapping[str, TenantSettings]:
        return self._tenants

    async def set_tenants(self, tenants: Mapping[str, TenantSettings]) -> None:
        """Score each tenant with its settings from now on (its model loaded first)."""
        for found in tenants.values():
            if found.model_version:
                await self.load(found.model_version)
        self._tenants = dict(tenants)
        self._tenant_scorings = self._scorings_of(self._tenants)
        self._at = {}

    def _scorings_of(self, tenants: Mapping[str, TenantSettings]) -> dict[str, Scoring]:
        own = {t: self._models.get(ts.model_version or "", self.model) for t, ts in tenants.items()}
        return {t: self.scoring_of(own[t], ts) for t, ts in tenants.items()}

    def scoring_of(self, model: ScoringModel, tenant: TenantSettings | None = None) -> Scoring:
        s = self._s
        tier_cuts = (tenant.value_tier_cuts if tenant and tenant.value_tier_cuts
                     else model.tier_cuts or s.value_tier_cuts)
        rfm_cuts = (tenant.rfm_cuts if tenant and tenant.rfm_cuts else model.rfm_cuts) or {}
        cuts = {"value_tier": tuple(float(c) for c in tier_cuts),
                "lifecycle": (s.at_risk_days, s.lapsed_days),
                **{f"rfm.{k}": v for k, v in rfm_cuts.items()}}
        return Scoring(model, seg.SegmentSet.from_cuts(cuts), self.config_of(tenant),
                       self.currency_of(tenant))

    def currency_of(self, tenant: TenantSettings | None) -> str:
        return tenant.currency if tenant and tenant.currency else self._s.currency

    def scoring_at(self, version: str, tenant: str) -> Scoring:
        """How ``tenant``'s customers were scored under model ``version`` (:meth:`load`-ed
        already), with the tenant's settings of now."""
        settings = self._tenants.get(tenant)
        model = self._models[version]
        if settings is None and model is self.model:
            return self.current
        key = (version, tenant if settings else "")
        found = self._at.get(key)
        if found is None or found.model is not model:
            found = self._at[key] = self.scoring_of(model, settings)
        return found

    def config_of(self, tenant: TenantSettings | None) -> ValueConfig:
        """The value settings of a tenant (the platform's, for one without settings)."""
        if tenant is None or (tenant.currency is None and tenant.default_margin is None):
            return self.config
        margin = self._s.default_margin if tenant.default_margin is None else tenant.default_margin
        return ValueConfig(self._s.decimals(self.currency_of(tenant)), self.config.lifespan_years,
                           self.config.horizon_months, self.config.discount_rate,
                           int(margin * 10000))

    def of_tenant(self, tenant: str, base: Scoring) -> Scoring:
        """How ``tenant``'s customers are scored in a batch scored with ``base`` (the current
        scoring, or a replay's: a tenant with a model of its own keeps it)."""
        own = self._tenant_scorings.get(tenant)
        if own is None or base is self.current:
            return own or base
        settings = self._tenants[tenant]
        return own if settings.model_version else self.scoring_of(base.model, settings)

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

    def loaded(self, version: str) -> ScoringModel:
        """Model ``version``, :meth:`load`-ed already."""
        return self._models[version]

    def score(self, summaries: Sequence[Summary], as_of: float | Sequence[float],
              model: ScoringModel | str, config: ValueConfig | None = None,
              subscribers: Sequence[SubscriberValue | None] | None = None,
              ) -> list[dict[str, Any]]:
        """``CustomerValue`` dicts; ``model`` by version must be :meth:`load`-ed already."""
        found = self._models[model] if isinstance(model, str) else model
        return score(summaries, as_of, found, config or self.config, subscribers)
