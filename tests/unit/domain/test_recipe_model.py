"""Adding a model family is one class plus one registration: a toy purchase model, end to end.

The toy customer buys as a Poisson process of a constant daily ``rate`` and never leaves,
so every figure it implies has a closed form: ``p_alive = 1``, ``rate * t`` purchases in
``t`` days, ``exp(-rate * t)`` chance of none, a median wait of ``ln 2 / rate`` days.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import orjson
import pytest
from numpy.typing import ArrayLike, NDArray
from typer.testing import CliRunner

from clv_stream.cli.main import app
from clv_stream.domain import kinds
from clv_stream.domain.aggregate import Summary
from clv_stream.domain.bgnbd import BgNbdParams
from clv_stream.domain.gamma_gamma import GammaGammaParams
from clv_stream.domain.inputs import ModelInputs
from clv_stream.domain.mle import FitResult
from clv_stream.domain.model import ScoringModel
from clv_stream.domain.value import ValueConfig, score
from clv_stream.exceptions import ModelError
from clv_stream.fit import CustomerArrays, fit_model
from clv_stream.settings import Settings
from clv_stream.sources import synthetic_orders

Arr = NDArray[np.float64]
DAY = 86400
T0 = 1_704_067_200  # 2024-01-01T00:00:00Z
CFG = ValueConfig(decimals=2, horizon_months=12, discount_rate=0.01)


@dataclass(frozen=True, slots=True)
class AlwaysPoisson:
    """Purchases at ``rate`` per day, for ever."""

    rate: float

    def _ones(self, *values: ArrayLike) -> Arr:
        return np.ones(np.broadcast(*values).shape)

    def p_alive(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Arr:
        return self._ones(x, t_x, T)

    def expected_purchases(self, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, *,
                           alive: ArrayLike | None = None) -> Arr:
        return self.rate * np.asarray(t) * self._ones(t, x, t_x, T)

    def prob_no_purchase(self, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, *,
                         alive: ArrayLike | None = None) -> Arr:
        return np.exp(-self.rate * np.asarray(t)) * self._ones(t, x, t_x, T)

    def median_time_to_next_purchase(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, *,
                                     alive: ArrayLike | None = None) -> Arr:
        return math.log(2) / self.rate * self._ones(x, t_x, T)

    def discounted_purchases(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, *, periods: int,
                             period: float, discount_rate: float,
                             alive: ArrayLike | None = None) -> Arr:
        factor = sum((1 + discount_rate) ** -i for i in range(1, periods + 1))
        return self.rate * period * factor * self._ones(x, t_x, T)


def fit_always_poisson(inputs: ModelInputs) -> FitResult[AlwaysPoisson]:
    """Maximum likelihood in closed form: repeat purchases over days observed."""
    rate = float(inputs.x.sum() / inputs.T.sum())
    return FitResult(AlwaysPoisson(rate), 0.0, True, 0, len(inputs), 0.0, "closed form")


@pytest.fixture
def always_poisson() -> Iterator[kinds.ModelKind]:
    registered = kinds.register(
        kinds.ModelKind("always_poisson", "purchases", AlwaysPoisson, fit_always_poisson))
    try:
        yield registered
    finally:
        kinds.unregister("always_poisson")


def test_a_registered_kind_is_stored_loaded_and_scored(always_poisson: kinds.ModelKind) -> None:
    model = ScoringModel("toy-1", AlwaysPoisson(rate=0.05), GammaGammaParams.DEFAULT)
    stored = orjson.loads(orjson.dumps(model.to_json_dict()))  # as in Redis P:models
    assert stored["purchases"] == {"kind": "always_poisson", "params": {"rate": 0.05}}
    loaded = ScoringModel.from_json_dict(stored)
    assert loaded == model

    as_of = T0 + 40 * DAY
    customers = [
        Summary(orders=1, net_minor=5000, profit_minor=5000, first_ts=T0, last_ts=T0,
                purchase_days=1, first_day_net_minor=5000),
        Summary(orders=3, net_minor=15000, profit_minor=7500, first_ts=T0,
                last_ts=T0 + 10 * DAY, purchase_days=3, first_day_net_minor=5000),
    ]
    aov = GammaGammaParams.DEFAULT.expected_order_value([0.0, 2.0], [0.0, 50.0])
    months = sum(1.01**-i for i in range(1, 13))
    for v, value, margin in zip(score(customers, as_of, loaded, CFG), aov, (1.0, 0.5),
                                strict=True):
        assert v["p_alive"] == 1.0
        assert v["expected_orders"] == pytest.approx(0.05 * 360, abs=1e-6)
        assert v["churn_risk"] == pytest.approx(math.exp(-0.05 * 90), abs=1e-6)
        predicted = 0.05 * 30 * months * value * margin
        assert float(v["predicted_clv"]) == pytest.approx(predicted, abs=0.005)
        wait = datetime.fromisoformat(v["expected_next_order_at"]).timestamp() - as_of
        assert wait == pytest.approx(math.log(2) / 0.05 * DAY, abs=1.0)


def test_a_registered_kind_is_fitted_by_name(always_poisson: kinds.ModelKind) -> None:
    rng = random.Random(3)
    summaries = []
    for _ in range(3000):
        days = rng.choice([1, 1, 2, 3, 6])
        first = T0 + rng.randrange(200) * DAY
        last = first + (rng.randrange(1, 150) * DAY if days > 1 else 0)
        spend = [int(rng.gammavariate(20, rng.gammavariate(6, 300) / 20)) + 1
                 for _ in range(days)]
        summaries.append(Summary(days, sum(spend), sum(spend) // 2, first, last, days, spend[0]))
    arrays = CustomerArrays.from_summaries(summaries, T0 + 400 * DAY, 2, 1.0)

    report = fit_model(arrays, Settings(), "toy-fit", purchases="always_poisson")

    rate = arrays.x.sum() / arrays.T.sum()
    assert report.model.purchases == AlwaysPoisson(rate)
    assert report.model.diagnostics["always_poisson"]["message"] == "closed form"
    assert report.model.diagnostics["gamma_gamma"]["converged"]
    stored = report.model.to_json_dict()
    assert ScoringModel.from_json_dict(stored) == report.model
    v = score(summaries[:1], T0 + 400 * DAY, report.model, CFG)[0]
    assert v["expected_orders"] == pytest.approx(rate * 360, abs=1e-6)
    assert Decimal(v["total_clv"]) > Decimal(v["historic_clv"])


def test_a_model_of_an_unknown_kind_is_refused(always_poisson: kinds.ModelKind) -> None:
    stored = ScoringModel("toy-2", AlwaysPoisson(0.1), GammaGammaParams.DEFAULT).to_json_dict()
    kinds.unregister("always_poisson")
    try:
        with pytest.raises(ModelError, match="unknown purchases model kind 'always_poisson'"):
            ScoringModel.from_json_dict(stored)
    finally:
        kinds.register(always_poisson)


def test_the_fit_command_fits_a_registered_kind_named_on_its_command_line(
        always_poisson: kinds.ModelKind, tmp_path: Path) -> None:
    orders = tmp_path / "orders.jsonl"
    end = datetime(2024, 6, 1, tzinfo=UTC)
    orders.write_bytes(b"\n".join(orjson.dumps(e) for e in synthetic_orders(400, end=end)))

    result = CliRunner().invoke(app, ["fit", "--transactions", str(orders), "--dry-run",
                                      "--json", "--purchases", "always_poisson"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{"):])
    assert report["model"]["purchases"]["kind"] == "always_poisson"
    assert report["model"]["purchases"]["params"]["rate"] > 0


@dataclass(frozen=True, slots=True)
class ConstantRetention:
    """Renews each period with probability ``p``, whatever the history (a toy sBG)."""

    p: float

    def retention_probability(self, renewals: ArrayLike) -> Arr:
        return np.full(np.shape(renewals), self.p)

    def expected_renewals(self, periods: ArrayLike, renewals: ArrayLike) -> Arr:
        n = np.asarray(periods, dtype=np.float64) + 0 * np.asarray(renewals)
        return self.p * (1 - self.p**n) / (1 - self.p)

    def discounted_residual_lifetime(self, renewals: ArrayLike, discount_rate: float) -> Arr:
        return np.full(np.shape(renewals), self.p / (1 + discount_rate - self.p))


def test_a_retention_kind_rides_along_in_the_stored_model() -> None:
    kinds.register(kinds.ModelKind("constant_retention", "retention", ConstantRetention))
    try:
        model = ScoringModel("subs-1", BgNbdParams.DEFAULT, GammaGammaParams.DEFAULT,
                             retention=ConstantRetention(0.9))
        stored = orjson.loads(orjson.dumps(model.to_json_dict()))
        assert stored["retention"] == {"kind": "constant_retention", "params": {"p": 0.9}}
        assert ScoringModel.from_json_dict(stored) == model
        assert "retention" not in ScoringModel.default().to_json_dict()
        assert ScoringModel.from_json_dict(ScoringModel.default().to_json_dict()).retention is None
    finally:
        kinds.unregister("constant_retention")
