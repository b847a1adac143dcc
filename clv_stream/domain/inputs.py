"""Customer summaries -> the inputs every model reads, written once for scoring and fitting.

``x`` = purchase days - 1 (repeat purchase days), ``t_x`` = days from the first to the last
purchase day, ``T`` = days from the first purchase day to the valuation day, ``m`` = the mean
net value of the repeat purchase days (the first day's net is left out, as ``lifetimes``
does), all in whole UTC days and major currency units. A customer without a counting order
has zeros and ``active`` false.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from clv_stream.domain.aggregate import SECONDS_PER_DAY, Summary
from clv_stream.domain.arrays import FloatArray

__all__ = ["ModelInputs", "model_inputs"]


@dataclass(frozen=True, slots=True)
class ModelInputs:
    """Per-customer model inputs, one array element per summary."""

    x: FloatArray  # repeat purchase days
    t_x: FloatArray  # recency: last purchase day - first purchase day
    T: FloatArray  # age: valuation day - first purchase day
    m: FloatArray  # mean net value of the repeat purchase days (0 when x == 0)
    margin: FloatArray  # profit / net revenue (the default margin where revenue is 0)
    net: FloatArray  # net revenue
    profit: FloatArray  # historic gross profit
    orders: FloatArray  # counting orders
    active: npt.NDArray[np.bool_]  # at least one counting order

    def __len__(self) -> int:
        return int(self.x.size)


def model_inputs(summaries: Sequence[Summary], as_of: float | FloatArray, decimals: int,
                 default_margin: float) -> ModelInputs:
    """The inputs of ``summaries`` valued at ``as_of`` (epoch seconds, one for all or one per
    summary); money divided by ``10**decimals``. One pass per field over the summaries and
    the rest in numpy: this runs on every scored batch."""
    scale = 10.0**decimals
    orders = np.array([s.orders for s in summaries], dtype=np.float64)
    first_day = np.array([s.first_ts // SECONDS_PER_DAY for s in summaries], dtype=np.float64)
    last_day = np.array([s.last_ts // SECONDS_PER_DAY for s in summaries], dtype=np.float64)
    net = np.array([s.net_minor for s in summaries], dtype=np.float64) / scale
    profit = np.array([s.profit_minor for s in summaries], dtype=np.float64) / scale
    first_net = np.array([s.first_day_net_minor for s in summaries], dtype=np.float64) / scale
    x = np.maximum(np.array([s.purchase_days for s in summaries], dtype=np.float64) - 1, 0)
    today = np.asarray(as_of, dtype=np.float64) // SECONDS_PER_DAY
    active = orders > 0
    t_x = np.where(active, last_day - first_day, 0.0)
    big_t = np.where(active, np.maximum(today - first_day, 0.0), 0.0)
    monetary = np.where(x > 0, (net - first_net) / np.maximum(x, 1), 0.0)
    margin = np.where(net > 0, profit / np.where(net > 0, net, 1.0), default_margin)
    return ModelInputs(x=x, t_x=t_x, T=big_t, m=monetary, margin=margin, net=net, profit=profit,
                       orders=orders, active=active)
