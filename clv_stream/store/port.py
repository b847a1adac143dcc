"""The state store port: what the pipeline, the worker and the edges need of a store.

Typing only. :class:`~clv_stream.store.redis_store.RedisStore` implements it; a store is
opened by :func:`clv_stream.store.factory.open_store`, the one place that names the
implementations. Every failure of a store surfaces as
:class:`~clv_stream.exceptions.StoreError` (``StoreUnavailable`` for what passes by itself,
``Fenced`` / ``StateRolledBack`` for a refused fence).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Protocol

from clv_stream.domain.model import ScoringModel
from clv_stream.domain.tenant import TenantSettings
from clv_stream.store.types import (
    ApplyResult,
    Claim,
    Customer,
    CustomerKey,
    CustomerState,
    DueLook,
    Fence,
    Positioned,
    PublishEntry,
)

__all__ = ["ApplyResult", "Claim", "Customer", "CustomerKey", "CustomerState", "DueLook",
           "Fence", "Positioned", "PublishEntry", "StateStore"]


class StateStore(Protocol):
    """Per-customer aggregates, offsets kept with them, the due index, leases and models."""

    async def apply(self, topic: str, records: Sequence[Positioned], home: bool = False,
                    look: DueLook | None = None, fence: Fence | None = None,
                    positions: Mapping[int, int] | None = None, as_of: int = 0,
                    model_version: str = "") -> ApplyResult:
        """Apply a batch atomically, once per (partition, offset) and per event_id."""
        ...

    async def publish(self, entries: Sequence[PublishEntry], topic: str = "",
                      fence: Fence | None = None,
                      confirmed: Mapping[int, int] | None = None) -> None:
        """Record what was emitted and, per partition, the offset now confirmed."""
        ...

    async def customers(self, ids: Sequence[Customer]) -> list[CustomerState]:
        """The state of each customer known (a plain id: of the default tenant)."""
        ...

    async def customer(self, customer: Customer) -> CustomerState | None: ...

    async def history(self, customer: Customer) -> list[str]:
        """The customer's kept history points, newest first (``PublishEntry.history``)."""
        ...

    def scan_customer_ids(self, count: int = 1000,
                          tenant: str | None = None) -> AsyncIterator[list[CustomerKey]]:
        """Every customer in pages (of ``tenant`` only, when given)."""
        ...

    async def clock(self) -> int: ...

    async def due(self, until: int, limit: int, home: int = -1) -> list[CustomerKey]: ...

    async def postpone(self, states: Sequence[CustomerState], until: int) -> None: ...

    async def take_lease(self, name: str, owner: str, ttl_s: int) -> bool: ...

    async def renew_lease(self, name: str, owner: str, ttl_s: int) -> bool: ...

    async def release_lease(self, name: str, owner: str) -> None: ...

    async def flag(self, name: str) -> bool: ...

    async def set_flag(self, name: str, ttl_s: int) -> None: ...

    async def current_model(self) -> ScoringModel | None: ...

    async def model(self, version: str) -> ScoringModel | None: ...

    async def save_model(self, model: ScoringModel, make_current: bool = True) -> None: ...

    async def tenants(self) -> dict[str, TenantSettings]:
        """Every tenant's own settings (tenants never set are not listed)."""
        ...

    async def set_tenant(self, tenant: str, settings: TenantSettings) -> None:
        """Store ``tenant``'s settings whole, and bump :meth:`tenants_revision`."""
        ...

    async def tenants_revision(self) -> int:
        """A number that changes whenever a tenant's settings do (0: never set)."""
        ...

    async def tenant_customers(self) -> dict[str, int]:
        """Customers per tenant, counted as they are first stored (kept with the state)."""
        ...

    async def subscription_totals(self, tenant: str) -> dict[tuple[str, str], int]:
        """The sum over ``tenant``'s customers of the subscription totals they published
        (:class:`PublishEntry.subscription_totals`): ``(month "YYYY-MM", name) -> integer``."""
        ...

    async def subscription_tenants(self) -> set[str]:
        """The tenants with subscription totals."""
        ...

    async def portfolio_totals(self, tenant: str) -> dict[str, int]:
        """``tenant``'s portfolio totals (``store/portfolio.lua`` names the fields): what its
        customers add to them, kept as they change; zeros left out."""
        ...

    async def marketing_spend(self, tenant: str) -> dict[tuple[int, str], int]:
        """``tenant``'s marketing spend: (month index, channel) -> minor units, the latest
        event of each."""
        ...

    async def recent_transitions(self, tenant: str) -> list[str]:
        """``tenant``'s last segment transitions, newest first
        (``domain.portfolio.transition_line`` lines)."""
        ...

    async def claim(self, topic: str, partitions: Mapping[int, int],
                    now: float | None = None) -> tuple[bool, list[Claim]]: ...

    async def applied_offsets(self, topic: str) -> dict[int, int]: ...

    async def confirmed_offsets(self, topic: str) -> dict[int, int]: ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...
