"""A customer's MRR movements and a tenant's subscription portfolio.

MRR is exact: see :class:`Mrr`. A customer's MRR movements are counted per *customer* from
its month-end MRR (start of month vs end of month, as billing analytics tools do), and
:func:`contributions` is what a customer adds to its tenant's per-month totals: a tenant's
figures are the sum over its customers, so a store keeps them incrementally (subtract a
customer's old contributions, add its new ones) and :func:`portfolio` reads them without a
scan.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

from clv_stream.domain.money import money_text
from clv_stream.domain.months import month_index, month_name, month_of, month_start, parse_month
from clv_stream.domain.mrr import ZERO, Mrr
from clv_stream.domain.subscriptions import SubscriptionState

__all__ = ["MOVEMENTS", "contributions", "customer_months", "portfolio"]

MOVEMENTS = ("new", "expansion", "contraction", "churned", "reactivation")


def customer_months(states: Iterable[SubscriptionState], as_of: int) -> dict[str, Mrr]:
    """A customer's month-end MRR (the sum of its subscriptions'), for every month from its
    first start to ``as_of``'s month; the current month's "end" is ``as_of``."""
    started = [s for s in states if s.started_at is not None]
    if not started:
        return {}
    first = min(month_index(s.started_at) for s in started if s.started_at is not None)
    last = max(first, month_index(as_of))
    months: dict[str, Mrr] = {}
    for index in range(first, last + 1):
        instant = min(month_start(index + 1), as_of + 1)
        months[month_name(index)] = sum((s.mrr_before(instant) for s in started), ZERO)
    return months


def contributions(states: Iterable[SubscriptionState], as_of: int) -> Counter[tuple[str, str]]:
    """What a customer adds to its tenant's per-month totals, keyed ``(month, field)``.

    Movements compare the month-end MRR with the previous month's (0 before the first):
    0 -> positive is ``new`` (first time) or ``reactivation``, positive -> 0 ``churned``, up
    ``expansion``, down ``contraction``, each as the integers of its :class:`Mrr` under
    ``"<movement>:<c>"``; with them the counts ``customers_new``, ``customers_reactivated``,
    ``customers_churned``. Each period end up to ``as_of`` (of a run that lasted to it) adds
    ``renewals_due`` in its month, and ``renewed`` when a charge extended the run from it.

    Only months where something happens get entries: a month's opening MRR and active
    subscribers are the running sums of the movements of the months before (they telescope
    to the month-end MRR), which is what lets a store keep a tenant's totals incrementally.
    """
    states = list(states)
    out: Counter[tuple[str, str]] = Counter()
    previous, ever = ZERO, False
    # Components of a sum of subscriptions' MRR are never negative: zero is "no parts".
    for index, current in _changed_month_ends(states, as_of).items():
        month = month_name(index)
        if not previous and current:
            kind = "reactivation" if ever else "new"
            _add(out, month, kind, current)
            out[(month, "customers_reactivated" if ever else "customers_new")] += 1
        elif previous and not current:
            _add(out, month, "churned", previous)
            out[(month, "customers_churned")] += 1
        elif current > previous:
            _add(out, month, "expansion", current - previous)
        elif current < previous:
            _add(out, month, "contraction", previous - current)
        ever = ever or bool(current)
        previous = current
    for state in states:
        for p in state.periods:
            if p.end <= as_of and not p.cut:
                month = month_of(p.end)
                out[(month, "renewals_due")] += 1
                out[(month, "renewed")] += p.renewed
    return Counter({k: v for k, v in out.items() if v})


def _changed_month_ends(states: list[SubscriptionState], as_of: int) -> dict[int, Mrr]:
    """:func:`customer_months` for the months whose end MRR can differ from the month
    before's (those with a change point by ``as_of``), by month index, ascending: in one
    sweep over the change points rather than a look-up per month and subscription."""
    timelines = [s.timeline for s in states if s.started_at is not None and s.timeline]
    if len(timelines) == 1:
        points = [(at, mrr) for at, mrr in timelines[0] if at <= as_of]
    else:
        merged = sorted(((at, i, mrr) for i, line in enumerate(timelines)
                         for at, mrr in line if at <= as_of), key=lambda p: (p[0], p[1]))
        current = [ZERO] * len(timelines)
        total, points = ZERO, []
        for at, i, mrr in merged:
            total, current[i] = total - current[i] + mrr, mrr
            points.append((at, total))
    return {month_index(at): mrr for at, mrr in points}  # the month's last point wins


def _add(out: Counter[tuple[str, str]], month: str, movement: str, mrr: Mrr) -> None:
    for c, n in mrr.items():
        out[(month, f"{movement}:{c}")] += n


def _text(amount: Fraction, decimals: int) -> str:
    """An exact amount of minor units, rounded half-even once, as a decimal string."""
    return money_text(round(amount), decimals)


def _rate(numerator: Fraction | int, denominator: Fraction | int) -> float | None:
    return None if denominator == 0 else float(round(Fraction(numerator) / denominator, 6))


def _month_totals(totals: Mapping[tuple[str, str], int]) -> dict[str, dict[str, Any]]:
    """Totals regrouped per month: movements as :class:`Mrr`, counts as ints."""
    months: dict[str, dict[str, Any]] = {}
    for (month, name), n in totals.items():
        row = months.setdefault(month, {})
        movement, _, c = name.partition(":")
        if c:
            row[movement] = row.get(movement, ZERO) + Mrr({int(c): n})
        else:
            row[name] = row.get(name, 0) + n
    return months


def portfolio(totals: Mapping[tuple[str, str], int], as_of: int, decimals: int) -> dict[str, Any]:
    """A tenant's subscription report from the sum of its customers' :func:`contributions`.

    Every month from the first with an entry to ``as_of``'s: opening and closing MRR and
    subscribers, the movements, logo churn (churned / opening subscribers), gross revenue
    churn ((churned + contraction) / opening MRR), net revenue churn ((churned + contraction -
    expansion) / opening MRR), renewal rate (renewed / due). Money is rounded half-even once
    per figure (so ``mrr_start + net_new`` may differ from ``mrr_end`` by a minor unit) and
    written in the reporting currency's units; rates have 6 places, None over a zero.
    """
    grouped = _month_totals(totals)
    rows: list[dict[str, Any]] = []
    mrr, active = Fraction(0), 0
    if grouped:
        first = min(parse_month(m) for m in grouped)
        last = max([month_index(as_of)] + [parse_month(m) for m in grouped])
        for index in range(first, last + 1):
            row = grouped.get(month_name(index), {})
            moves = {m: row.get(m, ZERO).value for m in MOVEMENTS}
            net = moves["new"] + moves["expansion"] + moves["reactivation"] - moves["contraction"] \
                - moves["churned"]
            joined = row.get("customers_new", 0) + row.get("customers_reactivated", 0)
            left = row.get("customers_churned", 0)
            lost = moves["churned"] + moves["contraction"]
            rows.append({
                "month": month_name(index),
                "mrr_start": _text(mrr, decimals),
                **{m: _text(v, decimals) for m, v in moves.items()},
                "net_new": _text(net, decimals),
                "mrr_end": _text(mrr + net, decimals),
                "active_start": active,
                "active_end": active + joined - left,
                "customers_new": row.get("customers_new", 0),
                "customers_reactivated": row.get("customers_reactivated", 0),
                "customers_churned": left,
                "logo_churn": _rate(left, active),
                "gross_revenue_churn": _rate(lost, mrr),
                "net_revenue_churn": _rate(lost - moves["expansion"], mrr),
                "renewals_due": row.get("renewals_due", 0),
                "renewed": row.get("renewed", 0),
                "renewal_rate": _rate(row.get("renewed", 0), row.get("renewals_due", 0)),
            })
            mrr, active = mrr + net, active + joined - left
    return {
        "mrr": _text(mrr, decimals),
        "arr": _text(12 * mrr, decimals),
        "active_subscribers": active,
        "arpu": _text(mrr / active, decimals) if active else None,
        "months": rows,
    }
