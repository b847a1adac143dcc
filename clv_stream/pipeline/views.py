"""The read side: customers' current values and segments, for HTTP, the CLI and reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from clv_stream.domain.model import ScoringModel
from clv_stream.domain.tenant import TenantSettings
from clv_stream.domain.value import add_channels
from clv_stream.events.times import iso
from clv_stream.pipeline.history import read_points
from clv_stream.pipeline.scoring import Scorer, Scoring
from clv_stream.pipeline.subscribers import segment_columns, subscribed
from clv_stream.settings import Settings
from clv_stream.store.port import Customer, CustomerState, StateStore

__all__ = ["CustomerViews"]


class CustomerViews:
    """Values as of the stream's event time, with the scorer's current model (a running
    worker's, so a hot-reloaded model shows at once; or a fixed one for the CLI)."""

    def __init__(self, settings: Settings, store: StateStore, scorer: Scorer | None = None,
                 model: ScoringModel | None = None) -> None:
        self._store = store
        self._default_tenant = settings.default_tenant
        self._scorer = scorer or Scorer(settings, store, model)
        self._grace_s = int(settings.subscription_grace.total_seconds())

    @property
    def model(self) -> ScoringModel:
        return self._scorer.model

    @property
    def tenants(self) -> Mapping[str, TenantSettings]:
        return self._scorer.tenants

    async def set_tenants(self, tenants: Mapping[str, TenantSettings] | None = None) -> None:
        """Score tenants with these settings (None: those in the store now)."""
        await self._scorer.set_tenants(await self._store.tenants() if tenants is None
                                       else tenants)

    def scoring(self, tenant: str) -> Scoring:
        """How ``tenant``'s customers are scored now (model, currency, cut points)."""
        return self._scorer.of_tenant(tenant, self._scorer.current)

    async def as_of(self) -> str:
        return iso(await self._store.clock())

    async def customer_view(self, customer: Customer) -> dict[str, Any] | None:
        """A customer's current value and segments, as of the stream's event time."""
        views = await self.customer_views([customer])
        return views[0] if views else None

    async def customer_views(self, customers: Sequence[Customer]) -> list[dict[str, Any]]:
        """Current value and segments of several customers (unknown ones left out; a plain
        id names a customer of the default tenant)."""
        states = await self._store.customers(customers)
        clock = await self._store.clock()
        views: list[dict[str, Any]] = []
        for scoring, part in self._by_scoring(states):
            subs = subscribed(part, clock, scoring.model, scoring.config, self._grace_s)
            values = self._scorer.score([s.summary for s in part], clock, scoring.model,
                                        scoring.config, [s.value if s else None for s in subs])
            add_channels(values, [s.channel for s in part])
            rules = scoring.rules
            cols = segment_columns(values, [s.summary.last_ts for s in part], subs)
            labels = rules.encoded_labels(cols, [""] * len(values))
            rules.add_value_fields(values, cols)
            views.extend(
                {"customer_id": s.customer_id, "tenant_id": s.tenant, "as_of": iso(clock),
                 "currency": scoring.currency, "model_version": scoring.model.version,
                 "value": v, "segments": rules.decode(label)}
                for s, v, label in zip(part, values, labels, strict=True))
        order = {s.key: i for i, s in enumerate(states)}
        return sorted(views, key=lambda v: order[(v["tenant_id"], v["customer_id"])])

    async def customer_history(self, customer: Customer) -> list[dict[str, Any]] | None:
        """A customer's kept history (``CLV_HISTORY_POINTS``), oldest first; None for an
        unknown customer."""
        points = await self._store.history(customer)
        if not points and await self._store.customer(customer) is None:
            return None
        tenant = customer[0] if not isinstance(customer, str) else self._default_tenant
        return read_points(points, self.scoring(tenant).rules.decode)

    def _by_scoring(self, states: Sequence[CustomerState],
                    ) -> list[tuple[Scoring, list[CustomerState]]]:
        """``states`` split by how their tenants are scored (one part for most)."""
        current = self._scorer.current
        parts: dict[int, tuple[Scoring, list[CustomerState]]] = {}
        for st in states:
            scoring = self._scorer.of_tenant(st.tenant, current)
            parts.setdefault(id(scoring), (scoring, []))[1].append(st)
        return list(parts.values())
