"""Fitting reads customers exactly as scoring does, and reports each component by kind."""

from __future__ import annotations

import random

from rich.console import Console

from clv_stream.cli.fitting import _print
from clv_stream.domain.aggregate import Summary
from clv_stream.domain.bgnbd import BgNbdParams
from clv_stream.domain.gamma_gamma import GammaGammaParams
from clv_stream.domain.model import ScoringModel
from clv_stream.domain.value import ValueConfig, score
from clv_stream.fit import CustomerArrays, FitReport

DAY = 86400
T0 = 1_704_067_200


def test_fit_inputs_are_the_scored_figures() -> None:
    rng = random.Random(11)
    summaries = [Summary()]
    for _ in range(400):
        days = rng.choice([1, 2, 3, 8])
        first = T0 + rng.randrange(300 * DAY)
        last = first + (rng.randrange(DAY, 200 * DAY) if days > 1 else rng.randrange(3600))
        net = rng.randrange(0, 90_000)
        summaries.append(Summary(days + 1, net, net * rng.randrange(10_001) // 10_000, first,
                                 last, days, rng.randrange(0, net + 1)))
    as_of = T0 + 600 * DAY + 123
    model = ScoringModel.default()

    arrays = CustomerArrays.from_summaries(summaries, as_of, 2, 0.25)
    scored = [v for v in score(summaries, as_of, model, ValueConfig(default_margin_bp=2500))
              if v["orders"]]

    assert len(arrays) == len(scored) == 400
    assert arrays.x.tolist() == [v["frequency"] for v in scored]
    assert arrays.t_x.tolist() == [v["recency_days"] for v in scored]
    assert arrays.T.tolist() == [v["age_days"] for v in scored]
    order_value = model.spend.expected_order_value(arrays.x, arrays.m)
    assert [f"{a:.2f}" for a in order_value] == [v["expected_average_order_value"] for v in scored]


def test_the_fit_command_prints_each_component_by_kind() -> None:
    bg, gg = BgNbdParams(0.61, 35.2, 0.42, 2.9), GammaGammaParams(5.1, 3.2, 20.5)
    diagnostics = {"bgnbd": {"log_likelihood": -1234.5, "converged": True},
                   "gamma_gamma": {"log_likelihood": -678.25, "converged": False}}
    report = FitReport(ScoringModel("v-print", bg, gg, diagnostics=diagnostics), 10, 4, 0.1)
    console = Console(record=True, width=200)

    _print(console, report.to_json_dict())

    rows = [" ".join(line.replace("│", " ").split()) for line in console.export_text().splitlines()]
    assert "bgnbd r=0.61, alpha=35.2, a=0.42, b=2.9 -1234.50 True" in rows
    assert "gamma_gamma p=5.1, q=3.2, v=20.5 -678.25 False" in rows
