"""How the cluster store merges what its slot groups answer into one answer of the port
(pure; see :mod:`clv_stream.store.redis_cluster_store`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set

from clv_stream.exceptions import Fenced, StateRolledBack, StoreUnavailable
from clv_stream.store.types import ApplyResult, Claim, CustomerState

__all__ = ["first_error", "merge_applies", "merge_claims", "merge_offsets"]


def merge_applies(results: Sequence[ApplyResult], clock: int, limits: Sequence[int],
                  limit: int, order: Mapping[str, int], default_tenant: str) -> ApplyResult:
    """One batch's result from its group calls: counts summed, the touched customers in
    the order the batch first named them (``order``: ref -> index), the due ones after.

    ``looked`` is the entries looked at in all, but at least ``limit`` when one group's
    look was full (``limits``: each call's share), so the caller looks again at once.
    """
    customers = [c for r in results for c in r.customers]
    if len(results) > 1:
        customers.sort(key=lambda c: order.get(_ref(c, default_tenant), 0))
    looked = sum(r.looked for r in results)
    if any(share > 0 and r.looked >= share for r, share in zip(results, limits, strict=True)):
        looked = max(looked, limit)
    return ApplyResult(clock, sum(r.applied for r in results),
                       sum(r.duplicates for r in results),
                       sum(r.redelivered for r in results), customers,
                       [c for r in results for c in r.due], looked)


def _ref(state: CustomerState, default_tenant: str) -> str:
    return state.customer_id if state.tenant == default_tenant else \
        f"{state.tenant}\0{state.customer_id}"


def merge_claims(per_group: Sequence[list[Claim]], generations: Mapping[int, int],
                 lost: Set[tuple[int, int]] = frozenset()) -> list[Claim]:
    """One claim per partition from every group's (all groups were claimed).

    generation: -1 when any group refused (a newer owner holds it there), else the one
    claimed. applied and confirmed: the lowest over the groups holding an applied offset
    (a group that lost writes makes the worker re-read from there; groups that applied
    more skip what is redelivered); confirmed -1 when one of them has none. as_of and
    model version: those of the group that applied the most (the last batch); look: the
    latest pending look of any group. ``lost``: (group index, partition) of groups known
    to have lost all they held of it: they count as holding nothing applied (-1).
    """
    out = []
    for p in sorted(generations):
        rows = [(g, c) for g, claims in enumerate(per_group) for c in claims if c.partition == p]
        gen = -1 if any(c.generation < 0 for _, c in rows) else generations[p]
        holding = [c for g, c in rows if c.applied >= 0 or (g, p) in lost]
        if not holding:
            out.append(Claim(p, gen, -1, -1, 0, "", max((c.look for _, c in rows), default=0)))
            continue
        last = max(holding, key=lambda c: c.applied)
        confirmed = (-1 if any(c.confirmed < 0 for c in holding)
                     else min(c.confirmed for c in holding))
        out.append(Claim(p, gen, min(c.applied for c in holding), confirmed, last.as_of,
                         last.model_version, max(c.look for _, c in rows)))
    return out


def merge_offsets(per_group: Iterable[Mapping[str, str]], kind: str) -> dict[int, int]:
    """applied (``kind`` "a") or confirmed ("c") offsets per partition from each group's
    partition hash: the highest any group holds, how far the partition's batches got (a
    group a batch did not call had no records in it). Progress, for reports and waits:
    where a worker resumes is the claim's business (:func:`merge_claims`: the lowest)."""
    highest: dict[int, int] = {}
    for fields in per_group:
        for name, value in fields.items():
            if name.startswith(kind + ":"):
                p = int(name[2:])
                highest[p] = max(int(value), highest.get(p, -1))
    return dict(sorted(highest.items()))


def first_error(errors: Iterable[BaseException]) -> BaseException | None:
    """The error to raise for a call that failed in some groups: a refused fence first
    (``Fenced``, then ``StateRolledBack``), then an outage, then anything else."""
    found = list(errors)
    for kind in (Fenced, StateRolledBack, StoreUnavailable, BaseException):
        for exc in found:
            if isinstance(exc, kind):
                return exc
    return None
