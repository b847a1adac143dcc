"""Hypothesis strategies for order event sequences (few customers and orders: many collisions).

The same ``event_id`` always carries the same content, as a producer's retry would: two
different events under one id are a producer bug, not a reordering.
"""

from __future__ import annotations

from hypothesis import strategies as st

from clv_stream.events.validation import Order

DAY = 86400
BASE = 1_700_000_000 - 1_700_000_000 % DAY


@st.composite
def event_lists(draw: st.DrawFn, max_size: int = 30, customers: int = 3) -> list[Order]:
    catalog: dict[tuple[int, int], tuple[int, int, int]] = {}
    events = []
    for _ in range(draw(st.integers(0, max_size))):
        c, o = draw(st.integers(0, customers - 1)), draw(st.integers(0, 4))
        if (c, o) not in catalog:
            catalog[(c, o)] = (
                draw(st.integers(0, 50_000)),
                BASE + draw(st.integers(0, 40)) * DAY // 2 + draw(st.integers(0, 3600)),
                draw(st.sampled_from([10000, 3000, 4567, 0])),
            )
        amount, ts, margin = catalog[(c, o)]
        kind = draw(st.sampled_from("pppprc"))
        oid, suffix = f"c{c}-o{o}", kind
        if kind == "r":
            n = draw(st.integers(0, 2))
            suffix, amount, ts = f"r{n}", amount * (n + 1) // 5, ts + (n + 1) * 3600
        elif kind == "c":
            ts += 7200
        events.append(Order(f"{oid}:{suffix}", kind, oid, f"c{c}", amount, ts, margin))
    return events
