"""Slot groups of a Redis Cluster's state: which group a customer is in, and each group's
hash tag (pure; no client).

The cluster store splits the state into ``G`` slot groups. Every key of group ``g`` starts
``P:{tag_g}`` (Redis hashes the first ``{...}`` of a key), so one Lua call touches one slot.

* A customer's group is Kafka's default partitioner over its ``customer_id`` with ``G``
  partitions (:func:`~clv_stream.worker.partitioner.partitions_for`): producers key orders
  by ``customer_id``, so while ``G`` equals the orders topic's partition count, a batch of
  one partition is exactly one group. Tenants do not enter it.
* ``tag_g`` is the first name of the form ``g<n>`` (n = 0, 1, ...) whose slot is the
  first slot of the group's share ``[g*16384//G, (g+1)*16384//G)``: deterministic, so
  every process computes the same tags, and the groups spread evenly over the slots (and
  so over the primaries).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from redis.crc import key_slot

from clv_stream.worker.partitioner import partitions_for

__all__ = ["SLOTS", "group_tags", "groups_of", "slot_names"]

#: Hash slots of a Redis Cluster.
SLOTS = 16384


@functools.cache
def slot_names() -> tuple[str, ...]:
    """Per hash slot, the first name ``g<n>`` that hashes to it (about 170k CRC16s, once)."""
    names: list[str | None] = [None] * SLOTS
    left, n = SLOTS, 0
    while left:
        name = f"g{n}"
        slot = key_slot(name.encode())
        if names[slot] is None:
            names[slot] = name
            left -= 1
        n += 1
    return tuple(name for name in names if name is not None)


@functools.cache
def group_tags(groups: int) -> tuple[str, ...]:
    """The hash tag of each of ``groups`` slot groups (distinct, one per share of slots)."""
    if not 1 <= groups <= SLOTS:
        raise ValueError(f"slot groups must be within 1..{SLOTS}, not {groups}")
    names = slot_names()
    return tuple(names[g * SLOTS // groups] for g in range(groups))


def groups_of(customer_ids: Sequence[str], groups: int) -> list[int]:
    """The slot group of each customer id (Kafka's murmur2 partitioner, ``groups`` ways)."""
    if groups == 1:
        return [0] * len(customer_ids)
    return partitions_for([cid.encode() for cid in customer_ids], groups)
