"""``clv-stream fit`` glue: progress, printing, storing the model."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from clv_stream.domain.aggregate import Summary
from clv_stream.domain.model import ScoringModel
from clv_stream.domain.tenant import TenantSettings
from clv_stream.exceptions import ModelError
from clv_stream.fit import (
    arrays_from_transactions,
    arrays_of,
    fit_model,
    fit_retention,
    holdout_table,
    summaries_from_store,
)
from clv_stream.settings import Settings
from clv_stream.store.factory import open_store
from clv_stream.store.port import CustomerState, StateStore

__all__ = ["fit_tenants", "run_fit", "run_tenant_fits"]


def run_fit(settings: Settings, console: Console, *, transactions: Path | None, fmt: str,
            calibration_end: datetime | None, holdout_end: datetime | None,
            version: str | None, store_model: bool, force: bool = False,
            kinds: tuple[str, str] = ("bgnbd", "gamma_gamma")) -> dict[str, Any]:
    """``kinds``: the purchase and the spend model kinds to fit (``domain.kinds``)."""
    return asyncio.run(_run(settings, console, transactions, fmt, calibration_end, holdout_end,
                            version, store_model, force, kinds))


def run_tenant_fits(settings: Settings, console: Console, *, tenant: str | None,
                    version: str | None, store_model: bool, force: bool = False,
                    kinds: tuple[str, str] = ("bgnbd", "gamma_gamma")) -> dict[str, Any]:
    """``fit --tenant T`` (``tenant``) or ``--all-tenants`` (None: the platform-wide model,
    then every tenant with at least ``CLV_MIN_FIT_CUSTOMERS`` repeat customers)."""
    return asyncio.run(fit_tenants(settings, console, tenant, version, store_model, force,
                                   kinds))


async def fit_tenants(settings: Settings, console: Console, only: str | None,
                      version: str | None = None, store_model: bool = True, force: bool = False,
                      kinds: tuple[str, str] = ("bgnbd", "gamma_gamma")) -> dict[str, Any]:
    """See :func:`run_tenant_fits` (``only``: its ``tenant``)."""
    store = open_store(settings)
    try:
        base = version or datetime.now(UTC).strftime("v%Y%m%dT%H%M%SZ")
        found = await _scan_with_progress(store, console, only)
        clock, tenants = await store.clock(), await store.tenants()
        result: dict[str, Any] = {"platform": None, "tenants": {}, "below_minimum": {}}
        if only is None:
            report = fit_model(arrays_of(found, clock, settings, tenants), settings, base,
                               force=force, purchases=kinds[0], spend=kinds[1])
            result["platform"] = report.to_json_dict()
            _print(console, result["platform"])
            if store_model:
                await _store(store, report.model, settings, console)
        for tenant, summaries in sorted(found.items()):
            own = tenants.get(tenant, TenantSettings())
            arrays = arrays_of({tenant: summaries}, clock, settings, tenants,
                               own.currency or settings.currency)
            repeat = int((arrays.x > 0).sum())
            if repeat < settings.min_fit_customers:
                result["below_minimum"][tenant] = repeat
                continue
            report = fit_model(arrays, settings, f"{base}@{tenant}", force=force,
                               purchases=kinds[0], spend=kinds[1])
            result["tenants"][tenant] = report.to_json_dict()
            _print(console, result["tenants"][tenant], tenant)
            if store_model:
                await _store(store, report.model, settings, console, tenant,
                             own.merged(TenantSettings(model_version=report.model.version)))
        if result["below_minimum"]:
            console.print(f"scored with the platform-wide model (fewer than "
                          f"{settings.min_fit_customers} repeat customers): "
                          + ", ".join(f"{t} ({n})" for t, n in result["below_minimum"].items()))
        return result
    finally:
        await store.close()


async def _store(store: StateStore, model: ScoringModel, settings: Settings, console: Console,
                 tenant: str | None = None, own: TenantSettings | None = None) -> None:
    if await store.model(model.version) is not None:
        raise ModelError(f"model version {model.version} exists; choose another --version"
                         " (workers switch on a new version name)")
    await store.save_model(model, make_current=tenant is None)
    if tenant is not None and own is not None:
        await store.set_tenant(tenant, own)
    whose = "as current" if tenant is None else f"for tenant {tenant}"
    console.print(f"[green]stored model {model.version} {whose}[/]; running workers switch "
                  f"to it within {settings.model_poll_interval:g} s")


async def _run(settings: Settings, console: Console, transactions: Path | None, fmt: str,
               calibration_end: datetime | None, holdout_end: datetime | None,
               version: str | None, store_model: bool, force: bool,
               kinds: tuple[str, str]) -> dict[str, Any]:
    store = open_store(settings)
    try:
        holdout, retention = None, None
        if transactions is not None:
            arrays, holdout = arrays_from_transactions(transactions, fmt, settings,
                                                       calibration_end, holdout_end)
        else:
            subscribers: dict[str, list[CustomerState]] = {}
            found = await _scan_with_progress(store, console, subscribers=subscribers)
            clock = await store.clock()
            arrays = arrays_of(found, clock, settings, await store.tenants())
            retention = fit_retention([s for ss in subscribers.values() for s in ss], clock,
                                      int(settings.subscription_grace.total_seconds()),
                                      settings.min_fit_customers)
        report = fit_model(arrays, settings, version, force=force, purchases=kinds[0],
                           spend=kinds[1], retention=None if holdout is not None else retention)
        result = report.to_json_dict()
        if holdout is not None and calibration_end is not None:
            days = ((holdout_end.timestamp() if holdout_end else arrays.as_of)
                    - calibration_end.timestamp()) / 86400
            result["holdout"] = holdout_table(arrays, report.model, holdout, days)
        _print(console, result)
        if store_model:
            await _store(store, report.model, settings, console)
        return result
    finally:
        await store.close()


async def _scan_with_progress(store: StateStore, console: Console, tenant: str | None = None,
                              subscribers: dict[str, list[CustomerState]] | None = None,
                              ) -> dict[str, list[Summary]]:
    columns = (SpinnerColumn(), TextColumn("{task.description}: {task.completed} customers"),
               TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("scanning aggregates", total=None)
        return await summaries_from_store(store, tenant, lambda n: progress.advance(task, n),
                                          subscribers)


def _print(console: Console, result: dict[str, Any], tenant: str | None = None) -> None:
    model = result["model"]
    whose = "" if tenant is None else f" (tenant {tenant})"
    table = Table(title=f"model {model['version']}{whose}: {result['customers']} customers "
                        f"({result['repeat_customers']} repeat) in {result['seconds']} s")
    table.add_column("model")
    table.add_column("parameters")
    table.add_column("log-likelihood", justify="right")
    table.add_column("converged")
    for role in ("purchases", "spend"):
        name = model[role]["kind"]
        if name not in model["diagnostics"]:  # not fitted: no orders, the built-in model
            table.add_row(name, "built-in", "", "")
            continue
        diag = model["diagnostics"][name]
        params = ", ".join(f"{k}={v:.4g}" for k, v in model[role]["params"].items())
        table.add_row(name, params, f"{diag['log_likelihood']:.2f}", str(diag["converged"]))
    console.print(table)
    if "retention" in model:
        console.print(_retention_table(model, result.get("subscriptions", 0)))
    console.print(f"value tier cut points (total_clv): {model['tier_cuts']}")
    if result.get("holdout"):
        h = result["holdout"]
        console.print(f"holdout ({h['horizon_days']:.0f} days): actual {h['actual_total']:.0f} "
                      f"vs predicted {h['predicted_total']:.0f} repeat purchase days")


def _retention_table(model: dict[str, Any], subscriptions: int) -> Table:
    """The sBG's parameters: pooled, and per cohort (those with a fit of their own)."""
    params = model["retention"]["params"]
    diag = model["diagnostics"].get("sbg", {})
    table = Table(title=f"sBG retention on {subscriptions} subscriptions")
    for name in ("cohort", "alpha", "beta", "log-likelihood", "converged"):
        table.add_column(name)
    rows = [("pooled", params["pooled"], diag.get("pooled", {}))]
    rows += [(c, p, diag.get("cohorts", {}).get(c, {})) for c, p in params["cohorts"].items()]
    for cohort, p, d in rows:
        table.add_row(cohort, f"{p['alpha']:.4g}", f"{p['beta']:.4g}",
                      f"{d.get('log_likelihood', float('nan')):.2f}", str(d.get("converged")))
    return table
