"""The shifted-beta-geometric (sBG) retention model of Fader & Hardie (2007).

Each subscriber renews each period with a probability of its own, beta(alpha, beta) across
subscribers. Time is counted in renewal periods; ``renewals`` is how many a subscriber has
made so far (0 right after the first payment), still subscribed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import hyp2f1

from clv_stream.domain.arrays import FloatArray

__all__ = ["DEFAULT_SBG", "SbgParams"]


@dataclass(frozen=True, slots=True)
class SbgParams:
    alpha: float
    beta: float

    def retention_probability(self, renewals: ArrayLike) -> FloatArray:
        """P(the next renewal | ``renewals`` made): (beta + r) / (alpha + beta + r)."""
        r = np.asarray(renewals, dtype=np.float64)
        return np.asarray((self.beta + r) / (self.alpha + self.beta + r), dtype=np.float64)

    def expected_renewals(self, periods: ArrayLike, renewals: ArrayLike) -> FloatArray:
        """Expected renewals within the next ``periods``: sum over k of S(r + k) / S(r)."""
        h = np.asarray(periods, dtype=np.float64)
        r = np.asarray(renewals, dtype=np.float64)
        h, r = np.broadcast_arrays(h, r)
        out = np.zeros(h.shape, dtype=np.float64)
        for i in np.ndindex(h.shape):
            k = np.arange(1, int(h[i]) + 1, dtype=np.float64)
            steps = (self.beta + r[i] + k - 1) / (self.alpha + self.beta + r[i] + k - 1)
            out[i] = float(np.cumprod(steps).sum())
        return out

    def discounted_residual_lifetime(self, renewals: ArrayLike,
                                     discount_rate: float) -> FloatArray:
        """DERL: sum over k >= 1 of S(r + k) / S(r) / (1 + d)^k, the payments to come (the
        current paid period excluded), = 2F1(1, beta + r; alpha + beta + r; 1/(1 + d)) - 1."""
        r = np.asarray(renewals, dtype=np.float64)
        x = 1.0 / (1.0 + discount_rate)
        return np.asarray(hyp2f1(1.0, self.beta + r, self.alpha + self.beta + r, x) - 1.0,
                          dtype=np.float64)


#: Until ``clv-stream fit`` fits one: Fader & Hardie's (2007) "regular" cohort.
DEFAULT_SBG = SbgParams(0.704, 1.182)
