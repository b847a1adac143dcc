"""One settings object, read once at start-up from ``CLV_*`` environment variables (and ``.env``).

Construct it at the edge (the CLI) and pass it, or the sub-parts it needs, down::

    settings = Settings()              # env > .env > defaults
    settings = Settings(web_port=7000)  # explicit arguments win over both
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_MINOR_UNIT", "MINOR_UNITS", "Settings"]

#: ISO 4217 minor units for the currencies we know; any other currency needs an entry in
#: ``CLV_MINOR_UNITS`` (and a rate in ``CLV_FX_RATES``) or its events are rejected.
MINOR_UNITS: dict[str, int] = {
    "USD": 2, "EUR": 2, "GBP": 2, "CHF": 2, "CAD": 2, "AUD": 2, "NZD": 2, "SEK": 2,
    "NOK": 2, "DKK": 2, "PLN": 2, "CZK": 2, "TRY": 2, "BRL": 2, "MXN": 2, "INR": 2,
    "CNY": 2, "HKD": 2, "SGD": 2, "ZAR": 2, "JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0,
    "VND": 0, "HUF": 2, "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3,
}

#: Decimals assumed for a currency without a known minor unit (see ``Settings.decimals``).
DEFAULT_MINOR_UNIT = 2

Rate = Annotated[Decimal, Field(gt=0)]


class Settings(BaseSettings):
    """Every setting of clv-stream. Environment variables are ``CLV_`` + the upper-case name."""

    model_config = SettingsConfigDict(
        env_prefix="CLV_", env_file=".env", extra="ignore", frozen=True
    )

    # --- connections ---------------------------------------------------------------
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    redis_key_prefix: str = "clv"
    #: ``CLV_REDIS_URL`` names a node of a Redis Cluster: keys carry hash tags so each Lua call
    #: touches one slot group (docs/scaling.md).
    redis_cluster: bool = False
    #: Slot groups of a Redis Cluster's state, fixed when the state is first created (the
    #: stored number wins afterwards, so adding partitions moves no state). Unset: the orders
    #: topic's partitions (``CLV_TOPIC_PARTITIONS``), so a batch of one partition is one call.
    redis_slot_groups: int | None = Field(default=None, ge=1, le=4096)
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    #: Bearer token the HTTP API's data endpoints require (unset: open, for local use);
    #: the dashboard page and ``/healthz`` stay open.
    web_token: SecretStr | None = None
    #: Seconds between two background computations of the HTTP report (at most one per
    #: interval, and only while someone asked for it in the last minute).
    report_interval: float = Field(default=10.0, gt=0)

    # --- topics ----------------------------------------------------------------------
    topic_orders: str = "orders"
    topic_updates: str = "clv.updates"
    topic_segments: str = "clv.segments"
    topic_deadletter: str = "clv.deadletter"
    topic_partitions: int = Field(default=4, ge=1)
    consumer_group: str = "clv-stream"
    kafka_rebalance_timeout_ms: int = Field(default=30_000, ge=1000)
    kafka_session_timeout_ms: int = Field(default=10_000, ge=1000)
    #: Faust's app id (its own consumer group); must differ from ``consumer_group``.
    app_id: str = "clv-stream-worker"

    # --- money -----------------------------------------------------------------------
    currency: str = "USD"
    #: Units of ``currency`` per one unit of the key currency, e.g. ``{"EUR": "1.08"}``.
    fx_rates: dict[str, Rate] = Field(default_factory=dict)
    #: Extra or overriding ISO 4217 minor units, e.g. ``{"XAU": 4}``.
    minor_units: dict[str, int] = Field(default_factory=dict)
    default_margin: Decimal = Field(default=Decimal(1), ge=0, le=1)

    # --- CLV model ---------------------------------------------------------------------
    lifespan_years: Decimal = Field(default=Decimal(3), gt=0)
    horizon_months: int = Field(default=12, ge=1, le=120)
    #: Monthly discount rate, as lifetimes' ``customer_lifetime_value(discount_rate=...)``.
    discount_rate: float = Field(default=0.01, ge=0, lt=1)
    min_delta: Decimal = Field(default=Decimal("1.00"), ge=0)
    min_delta_pct: Decimal = Field(default=Decimal("0.01"), ge=0)

    # --- segments ------------------------------------------------------------------------
    #: Lower bounds of the value tiers ``medium``, ``high``, ``vip`` on ``total_clv`` until a
    #: fitted model supplies its own cut points.
    value_tier_cuts: tuple[Decimal, Decimal, Decimal] = (
        Decimal(100), Decimal(500), Decimal(2000)
    )
    #: A subscription whose paid period ended without a renewal is churned (at its period
    #: end) once this much event time has passed since.
    subscription_grace: timedelta = timedelta(days=3)
    at_risk_days: int = Field(default=90, ge=1)
    lapsed_days: int = Field(default=365, ge=2)

    # --- input hygiene ---------------------------------------------------------------------
    dedupe_window: timedelta = timedelta(days=7)
    max_event_bytes: int = Field(default=64 * 1024, ge=256)
    #: Events dated further than this into the future (wall clock) are rejected, so one bad
    #: timestamp cannot move the stream's event-time clock.
    max_clock_skew: timedelta = timedelta(days=1)
    #: Events dated before this are rejected (``timestamp_out_of_range``, as are those beyond
    #: ``max_clock_skew``): a far-past date would give a customer ages no output can carry.
    min_event_time: AwareDatetime = datetime(1970, 1, 1, tzinfo=UTC)
    #: The tenant of events without a ``tenant_id``: 1-64 of ``A-Z a-z 0-9 . _ -``, the
    #: pattern ``tenant_id`` is checked against (``clv_stream.events.patterns.TENANT_PATTERN``).
    default_tenant: str = Field(default="default", pattern=r"^[A-Za-z0-9._-]{1,64}$")

    # --- batching ------------------------------------------------------------------------------
    batch_max_records: int = Field(default=2000, ge=1)
    #: How long an idle consume lane waits for orders (and the consumer's fetch.max.wait.ms).
    batch_max_wait_ms: int = Field(default=20, ge=0)
    #: Concurrent consume lanes of a worker: its partitions are split between them
    #: (partition % lanes), and while some wait for Redis or the broker another computes.
    consume_lanes: int = Field(default=4, ge=1, le=64)
    #: Bytes a fetch brings per partition at most (Kafka's max.partition.fetch.bytes): enough
    #: for a lane that owns one partition to fill a batch of ``batch_max_records``.
    fetch_partition_bytes: int = Field(default=4 * 1024 * 1024, ge=64 * 1024)
    #: Customers whose last published value a worker keeps in memory (between half and all
    #: of them are held: two generations, the older dropped whole; docs/performance.md
    #: gives the memory it takes), so their next ``clv.updates`` record need not recompute
    #: ``previous``. A customer not held costs one more scoring (a time-decay pass visits
    #: every customer, so a cache smaller than the active customers mostly misses).
    previous_cache: int = Field(default=100_000, ge=0)
    #: Subscribers whose subscriptions a worker keeps folded in memory (two generations, as
    #: ``previous_cache``), so a new event is applied to the fold rather than the whole
    #: history folded again. A subscriber not held is folded from its events.
    subscription_cache: int = Field(default=10_000, ge=0)
    #: Published values a customer's history keeps (``GET .../customers/{id}/history``);
    #: 0 keeps none.
    history_points: int = Field(default=20, ge=0, le=1000)
    #: glibc's mmap threshold, fixed at start-up (bytes; 0 leaves glibc's moving threshold):
    #: larger blocks get a mapping of their own, returned on free, so fetch and batch
    #: buffers do not fragment the heap (``clv_stream.worker.memory``).
    malloc_mmap_threshold: int = Field(default=128 * 1024, ge=0, le=32 * 1024 * 1024)

    #: A tenant with fewer repeat customers than this is scored with the platform-wide
    #: model (``clv-stream fit --tenant`` / ``--all-tenants``).
    min_fit_customers: int = Field(default=500, ge=1)
    #: How often a worker checks Redis for a newly fitted model (seconds).
    model_poll_interval: float = Field(default=2.0, gt=0)
    #: Customers per second re-scored in the background after a new model version.
    refit_rate: float = Field(default=5000.0, gt=0)
    #: How often an idle consume lane looks for customers whose time-driven segments are due
    #: (seconds); a busy lane takes them with each batch.
    due_poll_interval: float = Field(default=1.0, gt=0)
    #: Due customers a lane re-scores with one batch of orders at most. Orders come first:
    #: while a lane is behind (a catch-up), time-driven looks lag and coalesce (a customer
    #: due twice meanwhile is looked at once, as of the later event time); once the lane is
    #: idle it looks at everything due, ``batch_max_records`` customers a look.
    due_batch_max: int = Field(default=500, ge=1)

    # --- reliability -------------------------------------------------------------------------
    #: Seconds a worker takes at most to stop after SIGTERM, whatever is down (lanes are
    #: cancelled mid-batch past half of it: a batch not committed is read again, applied once).
    shutdown_timeout: float = Field(default=10.0, gt=0)
    #: What a worker does when Redis has no state for a partition the consumer group has
    #: committed offsets for (Redis lost or replaced): ``replay`` it from the earliest
    #: offset Kafka retains, or ``refuse`` to go on (the worker stops; an operator decides).
    on_state_lost: Literal["replay", "refuse"] = "replay"
    #: Largest dead-letter record (bytes): the rejected message is cut to fit (flagged), so
    #: a dead letter never exceeds the broker's limit (Kafka's default is 1 MiB).
    max_deadletter_bytes: int = Field(default=512 * 1024, ge=4096)

    log_level: str = "INFO"

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @field_validator("web_token", mode="before")
    @classmethod
    def _no_empty_token(cls, value: object) -> object:
        """``CLV_WEB_TOKEN=`` (empty, as compose passes an unset variable) means unset."""
        if isinstance(value, SecretStr):
            return value if value.get_secret_value().strip() else None
        return value if not isinstance(value, str) or value.strip() else None

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.lapsed_days <= self.at_risk_days:
            raise ValueError("lapsed_days must be greater than at_risk_days")
        if self.minor_unit(self.currency) is None:
            raise ValueError(f"unknown reporting currency {self.currency}: add its minor unit"
                             " to CLV_MINOR_UNITS")
        return self

    @property
    def idle_due_max(self) -> int:
        """Due customers an idle lane re-scores with one look at most."""
        return max(self.due_batch_max, self.batch_max_records)

    def minor_unit(self, currency: str) -> int | None:
        """Decimals allowed for ``currency``, or None when the currency is unknown."""
        return self.minor_units.get(currency, MINOR_UNITS.get(currency))

    def decimals(self, currency: str) -> int:
        """Decimals of ``currency``'s amounts: its minor unit, or 2 (ISO 4217's usual) for a
        currency we do not know. Events in an unknown currency are rejected anyway; this
        is the one fallback every formatter and converter shares."""
        unit = self.minor_unit(currency)
        return DEFAULT_MINOR_UNIT if unit is None else unit

    @property
    def reporting_decimals(self) -> int:
        """Decimals of the reporting currency (always known: checked at start-up)."""
        return self.decimals(self.currency)

    def rate(self, currency: str) -> Decimal | None:
        """Reporting-currency units per unit of ``currency``; None when not convertible."""
        if currency == self.currency:
            return Decimal(1)
        return self.fx_rates.get(currency)

    @property
    def redis_dsn(self) -> str:
        return self.redis_url.get_secret_value()
