"""The read side: customers' current values and segments, for HTTP, the CLI and reports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clv_stream.domain import segments as seg
from clv_stream.domain.model import ScoringModel
from clv_stream.events.times import iso
from clv_stream.pipeline.scoring import Scorer
from clv_stream.settings import Settings
from clv_stream.store.port import Customer, StateStore

__all__ = ["CustomerViews"]


class CustomerViews:
    """Values as of the stream's event time, with the scorer's current model (a running
    worker's, so a hot-reloaded model shows at once; or a fixed one for the CLI)."""

    def __init__(self, settings: Settings, store: StateStore, scorer: Scorer | None = None,
                 model: ScoringModel | None = None) -> None:
        self._store = store
        self._scorer = scorer or Scorer(settings, store, model)
        self.currency = settings.currency

    @property
    def model(self) -> ScoringModel:
        return self._scorer.model

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
        scoring = self._scorer.current
        values = self._scorer.score([s.summary for s in states], clock, scoring.model)
        rules = scoring.rules
        cols = seg.Columns.of(values, [s.summary.last_ts for s in states])
        labels = rules.encoded_labels(cols, [""] * len(values))
        return [
            {"customer_id": s.customer_id, "tenant_id": s.tenant, "as_of": iso(clock),
             "currency": self.currency, "model_version": scoring.model.version, "value": v,
             "segments": rules.decode(label)}
            for s, v, label in zip(states, values, labels, strict=True)
        ]
