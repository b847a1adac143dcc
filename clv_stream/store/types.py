"""The values the state store port speaks (see :mod:`clv_stream.store.port`).

They live here, not in a store implementation, so the pipeline, the worker and the edges
depend on what a store means, never on which store it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from clv_stream.domain.aggregate import Summary
from clv_stream.events.validation import Event
from clv_stream.store.snapshot import Published

__all__ = ["ApplyResult", "Claim", "Customer", "CustomerKey", "CustomerState", "DueLook", "Fence",
           "Positioned", "PublishEntry", "customer_ref", "key_of"]

#: A customer: (tenant, customer_id) (contract v2: the same id under two tenants is two
#: customers).
CustomerKey = tuple[str, str]
#: How callers name a customer to a store: its key, or a plain id for one of the default
#: tenant (``CLV_DEFAULT_TENANT``; the v1 surface).
Customer = str | CustomerKey


def customer_ref(tenant: str, customer_id: str, default_tenant: str) -> str:
    """One string naming a customer: the id alone for the default tenant (the v1 keys),
    else tenant, NUL, id (ids have no control characters). The Redis scripts name customers
    so (common.lua: customer_key), and the worker's previous-value cache keys them so."""
    return customer_id if tenant == default_tenant else f"{tenant}\0{customer_id}"


def key_of(ref: str, default_tenant: str) -> CustomerKey:
    """The (tenant, customer_id) of a :func:`customer_ref`."""
    tenant, sep, customer_id = ref.partition("\0")
    return (tenant, customer_id) if sep else (default_tenant, ref)

#: partition -> (generation, an offset the partition's applied offset must have reached):
#: a store refuses a write whose fence is stale (``Fenced``) or ahead of what it holds
#: (``StateRolledBack``). Empty: unfenced.
Fence = Mapping[int, tuple[int, int]]

class PublishEntry(NamedTuple):
    """What a batch published for one customer."""

    customer: Customer
    snapshot: str  # as ``Published.encode``
    segments: str
    next_due: int | None  # event time of its next time-driven look; None: never
    #: what the customer adds to its tenant's subscription totals now (``SUB_TOTALS``
    #: lines, "" for nothing), replacing what it added before; None: unchanged
    subscription_totals: str | None = None
    #: a point of its value history (``domain.history``) to add, and how many to keep
    history: str | None = None
    history_points: int = 0
    #: its value in its tenant's portfolio totals (``domain.portfolio.value_inputs``; "" when
    #: it counts in none), replacing what it added before; None: unchanged
    portfolio: str | None = None
    #: its segment transitions (``domain.portfolio.transition_line`` lines), or None
    transitions: str | None = None


class Claim(NamedTuple):
    """A partition as a worker takes it: its generation (-1: another worker owns it now),
    the offsets stored with its state (-1: none), and the event time and model version its
    last applied batch was scored with (to replay a batch applied but not confirmed)."""

    partition: int
    generation: int
    applied: int
    confirmed: int
    as_of: int = 0
    model_version: str = ""
    look: int = 0  # the as_of of a look at due customers not published yet (0: none)


class Positioned(NamedTuple):
    """A validated event (an order, a subscription event or a marketing spend) and where it
    came from in Kafka (a tuple: one per event)."""

    partition: int
    offset: int
    order: Event


class DueLook(NamedTuple):
    """A look at due customers riding on a batch (time decay): the customers whose home is
    one of ``homes`` (-1: customers without a home) and who are due by the batch's event
    time come back with it, at most ``limit`` of them."""

    homes: Sequence[int]
    limit: int


class CustomerState(NamedTuple):
    customer_id: str
    summary: Summary
    pub: str  # the last published snapshot, encoded (``Published.encode``); "" if never
    segments: str
    home: int = -1  # the orders partition of its keyed records; -1: none known
    tenant: str = "default"
    #: its subscription events as the store keeps them (one line each; "" for none)
    subscriptions: str = ""
    #: the channel of its first counting order ("" when none was given)
    channel: str = ""

    @property
    def key(self) -> CustomerKey:
        return self.tenant, self.customer_id

    @property
    def published(self) -> Published | None:
        """The last published snapshot, decoded (the hot path compares ``pub`` as text)."""
        return Published.decode(self.pub)


@dataclass(frozen=True, slots=True)
class ApplyResult:
    clock: int
    applied: int
    duplicates: int
    redelivered: int
    customers: list[CustomerState]  # touched by the batch's records
    due: list[CustomerState]  # of the look's homes, due for a time-driven look
    looked: int = 0  # due index entries looked at (re-scored, handed over, or dropped)
