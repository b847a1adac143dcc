"""Output event ids: one customer's move from its last published state to its current one."""

from __future__ import annotations

import hashlib
from typing import NamedTuple

from clv_stream.events.models import EVENT_OF_KIND
from clv_stream.events.subscriptions import KIND_OF_SUBSCRIPTION_EVENT
from clv_stream.store.port import CustomerState
from clv_stream.store.snapshot import is_snapshot_of

__all__ = ["CAUSES", "ORDER_CAUSES", "Transition", "unchanged"]

#: The ``cause`` of an event's kind (``Order.kind``, ``SubscriptionChange.kind``): its event
#: type.
CAUSES = {**EVENT_OF_KIND, **{kind: event for event, kind in KIND_OF_SUBSCRIPTION_EVENT.items()}}
ORDER_CAUSES = frozenset(EVENT_OF_KIND.values())


class Transition(NamedTuple):
    """One customer's move from its last published state to its current one.

    Output ids hash *what* changed (the published snapshot before, the aggregate now, the
    model, the event time it is valued at), not which batch carried it, so a redelivery in
    other batch boundaries after a crash re-emits the same ids and downstream can
    deduplicate, and two records with one id are the same record. ``key`` is that "what",
    encoded once per transition (not once per record it yields).
    """

    customer_id: str
    cause: str
    source: str
    key: hashlib.blake2b  # of the "what", copied and extended per record
    customer_json: bytes  # the customer id, encoded once, spliced into each record
    tenant_json: bytes  # its tenant, likewise

    @classmethod
    def of(cls, state: CustomerState, summary: str, model_version: str, cause: str,
           source: str, as_of: int, customer_json: bytes, tenant_json: bytes,
           other_tenant: bool) -> Transition:
        """``summary``: ``encode_summary(state.summary)``, which the caller has already;
        ``customer_json``, ``tenant_json``: the customer id and tenant as the output codec
        writes them; ``other_tenant``: not the default tenant, whose customers' ids stay
        those from before tenants."""
        origin = source if cause not in ORDER_CAUSES else ""  # e.g. due:<t>, refit:<v>
        customer_id = state.customer_id
        key = "|".join((customer_id, state.pub, summary, model_version, state.segments, origin,
                        str(as_of)))
        if other_tenant:
            key = f"{state.tenant}\0{key}"
        hashed = hashlib.blake2b(key.encode(), digest_size=16)
        return cls(customer_id, cause, source, hashed, customer_json, tenant_json)

    def event_id(self, *parts: object) -> bytes:
        """blake2b of ``key|part|part...``, hex (the key's hash state is copied, not redone)."""
        h = self.key.copy()
        h.update(("|" + "|".join(map(str, parts))).encode())
        return h.hexdigest().encode()


def unchanged(state: CustomerState, summary: str, cause: str) -> bool:
    """Redelivered or duplicate orders: nothing changed since the last publication
    (``summary``: the state's, encoded)."""
    return cause in ORDER_CAUSES and is_snapshot_of(state.pub, summary)
