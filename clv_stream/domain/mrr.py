"""Monthly recurring revenue, exact: :class:`Mrr`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from fractions import Fraction
from functools import lru_cache

__all__ = ["UNIT_WEIGHT", "ZERO", "Mrr", "mrr_of"]

#: g(unit): MRR of ``amount`` per ``interval_count`` c is ``amount x g / (48 c)`` minor units a
#: month (month 48/48, year 4/48 = 1/12, week 208/48 = 52/12, day 1461/48 = 365.25/12).
UNIT_WEIGHT = {"month": 48, "year": 4, "week": 208, "day": 1461}


class Mrr(Mapping[int, int]):
    """An exact monthly amount: ``{c: N_c}`` worth ``sum N_c / (48 c)`` minor units a month.

    Integers per interval count ``c`` add and subtract exactly (a store can keep them as
    integer counters); the value is a :class:`~fractions.Fraction`, rounded half-even once by
    :meth:`to_minor`. ``==`` compares the components, as a mapping; ``<`` and friends, and
    :attr:`value`, compare the amounts (``{1: 48}`` and ``{2: 96}`` are different mappings
    worth the same).
    """

    __slots__ = ("_parts", "_value")
    _parts: tuple[tuple[int, int], ...]
    _value: Fraction | None

    def __init__(self, parts: Mapping[int, int] | Iterable[tuple[int, int]] = ()) -> None:
        acc: dict[int, int] = {}
        for c, n in parts.items() if isinstance(parts, Mapping) else parts:
            if c < 1:
                raise ValueError(f"interval count must be >= 1, not {c}")
            acc[c] = acc.get(c, 0) + n
        self._parts = tuple(sorted((c, n) for c, n in acc.items() if n))
        self._value = None  # computed once, when asked (Fractions cost)

    @classmethod
    def of(cls, amount_minor: int, unit: str, count: int) -> Mrr:
        """The MRR of ``amount_minor`` charged every ``count`` ``unit``s."""
        return mrr_of(amount_minor, unit, count)

    def __eq__(self, other: object) -> bool:  # the components (Mapping's is generic, slow)
        if isinstance(other, Mrr):
            return self._parts == other._parts
        return super().__eq__(other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    @property
    def value(self) -> Fraction:
        if self._value is None:
            parts = self._parts
            self._value = (Fraction(parts[0][1], 48 * parts[0][0]) if len(parts) == 1 else
                           sum((Fraction(n, 48 * c) for c, n in parts), Fraction(0)))
        return self._value

    def to_minor(self) -> int:
        """Minor units a month, rounded half-even (the one rounding)."""
        return round(self.value)

    def __getitem__(self, c: int) -> int:
        for k, n in self._parts:
            if k == c:
                return n
        raise KeyError(c)

    def __iter__(self) -> Iterator[int]:
        return (c for c, _ in self._parts)

    def __len__(self) -> int:
        return len(self._parts)

    def __hash__(self) -> int:
        return hash(self._parts)

    def __add__(self, other: Mrr) -> Mrr:
        if not other._parts:
            return self
        if not self._parts:
            return other
        return Mrr(self._parts + other._parts)

    def __sub__(self, other: Mrr) -> Mrr:
        if not other._parts:
            return self
        return Mrr(self._parts + tuple((c, -n) for c, n in other._parts))

    def _key(self, other: Mrr) -> tuple[Fraction | int, Fraction | int]:
        """Comparable amounts: the integers when both are one and the same interval count
        (most are), else the exact values."""
        a, b = self._parts, other._parts
        if len(a) == 1 == len(b) and a[0][0] == b[0][0]:
            return a[0][1], b[0][1]
        return self.value, other.value

    def __lt__(self, other: Mrr) -> bool:
        a, b = self._key(other)
        return a < b

    def __le__(self, other: Mrr) -> bool:
        a, b = self._key(other)
        return a <= b

    def __gt__(self, other: Mrr) -> bool:
        a, b = self._key(other)
        return a > b

    def __ge__(self, other: Mrr) -> bool:
        a, b = self._key(other)
        return a >= b

    def __repr__(self) -> str:
        return f"Mrr({dict(self._parts)!r})"


ZERO = Mrr()


@lru_cache(maxsize=65536)
def mrr_of(amount_minor: int, unit: str, count: int) -> Mrr:
    """The MRR of ``amount_minor`` charged every ``count`` ``unit``s."""
    # Mrr is immutable: one object per terms, shared (a subscription's terms repeat)
    return Mrr({count: amount_minor * UNIT_WEIGHT[unit]})
