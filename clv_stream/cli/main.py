"""``clv-stream``: the command line. Settings come from ``CLV_*`` variables and ``.env``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import typer
from rich.console import Console

from clv_stream.settings import Settings

if TYPE_CHECKING:
    from clv_stream.store.port import StateStore

__all__ = ["app", "main", "redacted"]

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Streaming, real-time customer lifetime value on Kafka and Redis.")
console = Console()
T = TypeVar("T")


def _settings() -> Settings:
    settings = Settings()
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("kafka", "aiokafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return settings


def _run(factory: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(factory())  # type: ignore[arg-type]


@app.command()
def worker() -> None:
    """Run the worker against CLV_KAFKA_BOOTSTRAP and CLV_REDIS_URL."""
    from clv_stream.worker.app import Worker, create_app

    settings = _settings()
    faust_app, _ = create_app(settings)
    Worker(faust_app, settings, loglevel=settings.log_level.lower(),
           loop=_uvloop()).execute_from_commandline()


def _uvloop() -> asyncio.AbstractEventLoop | None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return None
    return uvloop.new_event_loop()


@app.command()
def dev(
    broker_port: Annotated[int, typer.Option(help="Port of the embedded broker")] = 9092,
    redis_port: Annotated[int, typer.Option(help="Port of the embedded redis-server")] = 6379,
    redis_cluster: Annotated[bool, typer.Option(
        help="An embedded Redis Cluster (3 primaries x 1 replica, free ports) instead of one "
             "redis-server; the worker runs with CLV_REDIS_CLUSTER=true")] = False,
) -> None:
    """Embedded stack: a local broker, redis-server, the worker and its HTTP API. Ctrl-C stops all."""
    from clv_stream.devinfra.stack import DevStack

    settings = _settings()
    _exit_on_sigterm()  # before anything starts: a SIGTERM during start-up also cleans up
    with DevStack(settings, broker_port=broker_port, redis_port=redis_port,
                  redis_cluster=redis_cluster) as stack:
        s = stack.settings
        redis = "redis cluster" if s.redis_cluster else "redis"
        console.print(f"[bold green]clv-stream dev[/] broker {s.kafka_bootstrap} · {redis} "
                      f"{redacted(s.redis_dsn)} · http://{s.web_host}:{s.web_port}/  (Ctrl-C stops all)")
        _wait_for_signal()


def redacted(url: str) -> str:
    """``url`` without its userinfo (password) and query (``?password=``): safe to print."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port is None else f"{host}:{port}"
    if not netloc:  # unix:///path: urlunsplit would drop the //
        return f"{parts.scheme}://{parts.path}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _exit_on_sigterm() -> None:
    """SIGTERM raises SystemExit(0), so ``with`` blocks stop the embedded stack."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


def _wait_for_signal() -> None:
    with contextlib.suppress(KeyboardInterrupt):
        signal.pause()


@app.command()
def demo(
    customers: Annotated[int, typer.Option(help="Synthetic customers to simulate")] = 150,
    rate: Annotated[float, typer.Option(help="Orders per second fed to the stack")] = 150.0,
    broker_port: Annotated[int | None, typer.Option(help="Broker port (default: free)")] = None,
    redis_port: Annotated[int | None, typer.Option(help="Redis port (default: free)")] = None,
    keep_running: Annotated[bool, typer.Option(help="Stay up after the feed")] = False,
) -> None:
    """`dev` plus sample orders, printing CLV and segment events as they happen."""
    from clv_stream.cli.demo import run_demo
    from clv_stream.devinfra.stack import DevStack

    settings = _settings()
    _exit_on_sigterm()
    with DevStack(settings, broker_port=broker_port, redis_port=redis_port) as stack:
        _run(lambda: run_demo(stack.settings, console, customers=customers, rate=rate))
        if keep_running:
            console.print("[bold]Still running: Ctrl-C stops all.[/]")
            _wait_for_signal()


@app.command()
def produce(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Orders file")],
    format: Annotated[str, typer.Option("--format", help="jsonl, csv or cdnow")] = "jsonl",
    topic: Annotated[str | None, typer.Option(help="Default: CLV_TOPIC_ORDERS")] = None,
) -> None:
    """Publish orders from JSONL or CSV (--format cdnow: the CDNOW master file), with progress."""
    from clv_stream.cli.publish import publish_file

    settings = _settings()
    sent = publish_file(settings, file, format, topic or settings.topic_orders, console)
    console.print(f"published {sent} orders to {topic or settings.topic_orders}")


@app.command()
def customer(
    customer_id: Annotated[str, typer.Argument(help="The customer id")],
    tenant: Annotated[str | None, typer.Option(
        help="Its tenant (default: CLV_DEFAULT_TENANT)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Print one customer's current CustomerValue and segments."""
    key = (tenant or _settings().default_tenant, customer_id)
    view = _with_views(lambda store, views: views.customer_view(key))
    if view is None:
        console.print(f"[red]unknown customer {customer_id!r} of tenant {key[0]!r}[/]")
        raise typer.Exit(1)
    if as_json:
        print(json.dumps(view, indent=2))
        return
    from clv_stream.cli.render import customer_table

    console.print(customer_table(view))


@app.command()
def report(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    tenant: Annotated[str | None, typer.Option(
        help="Whose customers (default: CLV_DEFAULT_TENANT)")] = None,
    period: Annotated[str, typer.Option(
        help="Measurement period ending now, ISO 8601 months or years")] = "P12M",
) -> None:
    """Portfolio view: KPIs over the period, CLV by segment, channels (CAC), cohorts."""
    from clv_stream.domain.portfolio import InvalidPeriod, parse_period
    from clv_stream.report import build_report

    settings = _settings()
    whose = tenant or settings.default_tenant
    try:
        parse_period(period)
    except InvalidPeriod as exc:
        raise typer.BadParameter(str(exc), param_hint="--period") from None
    result = _with_views(lambda store, views: build_report(store, views, settings.lifespan_years,
                                                           tenant=whose, period=period))
    if as_json:
        print(json.dumps(result, indent=2))
        return
    from clv_stream.cli.render import report_tables

    for table in report_tables(result):
        console.print(table)


@app.command()
def fit(
    transactions: Annotated[Path | None, typer.Option(
        exists=True, dir_okay=False, help="Fit from an orders file instead of Redis")] = None,
    format: Annotated[str, typer.Option("--format", help="jsonl, csv or cdnow")] = "jsonl",
    calibration_end: Annotated[datetime | None, typer.Option(
        help="With --transactions: fit on orders up to this date, test on the rest")] = None,
    holdout_end: Annotated[datetime | None, typer.Option(help="End of the holdout period")] = None,
    version: Annotated[str | None, typer.Option(help="model_version (default: v<UTC time>)")] = None,
    dry_run: Annotated[bool, typer.Option(help="Fit and report, do not store")] = False,
    force: Annotated[bool, typer.Option(help="Store a model even if a fit did not converge")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    purchases: Annotated[str, typer.Option(help="Purchase model kind")] = "bgnbd",
    spend: Annotated[str, typer.Option(help="Spend model kind")] = "gamma_gamma",
    tenant: Annotated[str | None, typer.Option(
        help="Fit this tenant's own model (if it has CLV_MIN_FIT_CUSTOMERS repeat customers)")
    ] = None,
    all_tenants: Annotated[bool, typer.Option(
        "--all-tenants", help="The platform-wide model, then each tenant's with enough data")
    ] = False,
) -> None:
    """Fit BG/NBD + Gamma-Gamma (or the kinds named) from the live aggregates (or a file);
    store a new model_version."""
    from clv_stream.cli.fitting import run_fit, run_tenant_fits

    if tenant is not None or all_tenants:
        if transactions is not None or (tenant is not None and all_tenants):
            raise typer.BadParameter("--tenant and --all-tenants fit the live aggregates, "
                                     "one or the other")
        result = run_tenant_fits(_settings(), console, tenant=tenant, version=version,
                                 store_model=not dry_run, force=force, kinds=(purchases, spend))
        if as_json:
            print(json.dumps(result, indent=2, default=str))
        return
    report = run_fit(_settings(), console, transactions=transactions, fmt=format,
                     calibration_end=_utc(calibration_end), holdout_end=_utc(holdout_end),
                     version=version, store_model=not dry_run, force=force,
                     kinds=(purchases, spend))
    if as_json:
        print(json.dumps(report, indent=2, default=str))


tenants_app = typer.Typer(help="Tenants' own settings (stored in Redis, read by running "
                          "workers); without a command: list them.")
app.add_typer(tenants_app, name="tenants")


@tenants_app.callback(invoke_without_command=True)
def tenants(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """List the tenants: their customers and their own settings."""
    if ctx.invoked_subcommand is not None:
        return

    async def listing(store: StateStore) -> dict[str, Any]:
        counts, own = await store.tenant_customers(), await store.tenants()
        return {t: {"customers": counts.get(t, 0),
                    "settings": own[t].model_dump(mode="json", exclude_none=True)
                    if t in own else {}}
                for t in sorted({*counts, *own})}

    found = _with_store(listing)
    if as_json:
        print(json.dumps(found, indent=2))
        return
    from clv_stream.cli.render import tenants_table

    console.print(tenants_table(found))


@tenants_app.command("set")
def tenants_set(
    tenant: Annotated[str, typer.Argument(help="The tenant id")],
    currency: Annotated[str | None, typer.Option(help="Reporting currency (ISO 4217)")] = None,
    fx_rate: Annotated[list[str] | None, typer.Option(
        help="CUR=RATE: units of the tenant's currency per unit of CUR (repeatable)")] = None,
    margin: Annotated[str | None, typer.Option(help="Default margin, 0..1")] = None,
    model_version: Annotated[str | None, typer.Option(
        help="Score with this stored model (fit --tenant sets it)")] = None,
    value_tier_cuts: Annotated[str | None, typer.Option(
        help="medium,high,vip lower bounds of total_clv, in the tenant's currency")] = None,
    rfm_cuts: Annotated[str | None, typer.Option(
        help='JSON, e.g. {"recency_days": [30, 90, 180, 365]}')] = None,
    force: Annotated[bool, typer.Option(
        help="Change the currency of a tenant that has customers already")] = False,
) -> None:
    """Set a tenant's own settings (the options given; the rest are kept)."""
    from pydantic import ValidationError

    from clv_stream.domain.tenant import TenantSettings
    from clv_stream.events.patterns import is_tenant_id

    if not is_tenant_id(tenant):
        raise typer.BadParameter("1-64 characters of A-Z a-z 0-9 . _ -", param_hint="TENANT")
    given: dict[str, Any] = {"currency": currency, "default_margin": margin,
                             "model_version": model_version}
    if fx_rate:
        given["fx_rates"] = dict(pair.split("=", 1) for pair in fx_rate)
    if value_tier_cuts:
        given["value_tier_cuts"] = value_tier_cuts.split(",")
    if rfm_cuts:
        given["rfm_cuts"] = json.loads(rfm_cuts)
    try:
        change = TenantSettings.model_validate({k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        raise typer.BadParameter(str(exc)) from None

    platform = Settings().currency

    async def apply(store: StateStore) -> TenantSettings:
        own = (await store.tenants()).get(tenant, TenantSettings())
        if (change.currency and change.currency != (own.currency or platform) and not force
                and (await store.tenant_customers()).get(tenant)):
            raise typer.BadParameter(
                f"tenant {tenant} has customers whose amounts are kept in its current currency;"
                " --force changes it for new events only (stored amounts are not converted)")
        merged = own.merged(change)
        await store.set_tenant(tenant, merged)
        return merged

    merged = _with_store(apply)
    console.print(f"tenant {tenant}: {merged.model_dump(mode='json', exclude_none=True)}; "
                  "running workers use it within CLV_MODEL_POLL_INTERVAL")


def _with_store(action: Callable[[StateStore], Awaitable[T]]) -> T:
    from clv_stream.store.factory import open_store

    settings = _settings()

    async def go() -> T:
        store = open_store(settings)
        try:
            return await action(store)
        finally:
            await store.close()

    return asyncio.run(go())


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _with_views(action: Callable[[Any, Any], Awaitable[T]]) -> T:
    from clv_stream.pipeline import CustomerViews
    from clv_stream.store.factory import open_store

    settings = _settings()

    async def go() -> T:
        store = open_store(settings)
        try:
            views = CustomerViews(settings, store, model=await store.current_model())
            await views.set_tenants()
            return await action(store, views)
        finally:
            await store.close()

    return asyncio.run(go())


def main() -> None:
    from clv_stream.exceptions import ClvStreamError

    try:
        app()
    except ClvStreamError as exc:
        console.print(f"[red]error:[/] {exc}")
        sys.exit(1)


if __name__ == "__main__":
    main()
