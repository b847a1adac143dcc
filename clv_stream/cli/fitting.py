"""``clv-stream fit`` glue: progress, printing, storing the model."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from clv_stream.exceptions import ModelError
from clv_stream.fit import (
    CustomerArrays,
    arrays_from_store,
    arrays_from_transactions,
    fit_model,
    holdout_table,
)
from clv_stream.settings import Settings
from clv_stream.store.factory import open_store
from clv_stream.store.port import StateStore

__all__ = ["run_fit"]


def run_fit(settings: Settings, console: Console, *, transactions: Path | None, fmt: str,
            calibration_end: datetime | None, holdout_end: datetime | None,
            version: str | None, store_model: bool, force: bool = False,
            kinds: tuple[str, str] = ("bgnbd", "gamma_gamma")) -> dict[str, Any]:
    """``kinds``: the purchase and the spend model kinds to fit (``domain.kinds``)."""
    return asyncio.run(_run(settings, console, transactions, fmt, calibration_end, holdout_end,
                            version, store_model, force, kinds))


async def _run(settings: Settings, console: Console, transactions: Path | None, fmt: str,
               calibration_end: datetime | None, holdout_end: datetime | None,
               version: str | None, store_model: bool, force: bool,
               kinds: tuple[str, str]) -> dict[str, Any]:
    store = open_store(settings)
    try:
        holdout = None
        if transactions is not None:
            arrays, holdout = arrays_from_transactions(transactions, fmt, settings,
                                                       calibration_end, holdout_end)
        else:
            arrays = await _scan_with_progress(store, settings, console)
        report = fit_model(arrays, settings, version, force=force, purchases=kinds[0],
                           spend=kinds[1])
        result = report.to_json_dict()
        if holdout is not None and calibration_end is not None:
            days = ((holdout_end.timestamp() if holdout_end else arrays.as_of)
                    - calibration_end.timestamp()) / 86400
            result["holdout"] = holdout_table(arrays, report.model, holdout, days)
        _print(console, result)
        if store_model:
            if await store.model(report.model.version) is not None:
                raise ModelError(f"model version {report.model.version} exists; choose another"
                                 " --version (workers switch on a new version name)")
            await store.save_model(report.model)
            console.print(f"[green]stored model {report.model.version} as current[/]; "
                          "running workers switch to it within "
                          f"{settings.model_poll_interval:g} s")
        return result
    finally:
        await store.close()


async def _scan_with_progress(store: StateStore, settings: Settings,
                              console: Console) -> CustomerArrays:
    columns = (SpinnerColumn(), TextColumn("{task.description}: {task.completed} customers"),
               TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("scanning aggregates", total=None)
        return await arrays_from_store(store, settings,
                                       lambda n: progress.advance(task, n))


def _print(console: Console, result: dict[str, Any]) -> None:
    model = result["model"]
    table = Table(title=f"model {model['version']}: {result['customers']} customers "
                        f"({result['repeat_customers']} repeat) in {result['seconds']} s")
    table.add_column("model")
    table.add_column("parameters")
    table.add_column("log-likelihood", justify="right")
    table.add_column("converged")
    for role in ("purchases", "spend"):
        name = model[role]["kind"]
        diag = model["diagnostics"][name]
        params = ", ".join(f"{k}={v:.4g}" for k, v in model[role]["params"].items())
        table.add_row(name, params, f"{diag['log_likelihood']:.2f}", str(diag["converged"]))
    console.print(table)
    console.print(f"value tier cut points (total_clv): {model['tier_cuts']}")
    if result.get("holdout"):
        h = result["holdout"]
        console.print(f"holdout ({h['horizon_days']:.0f} days): actual {h['actual_total']:.0f} "
                      f"vs predicted {h['predicted_total']:.0f} repeat purchase days")
