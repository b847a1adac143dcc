"""The worker's Prometheus metrics (served at ``GET /metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from clv_stream.pipeline import BatchOutcome

__all__ = ["WorkerMetrics"]


class WorkerMetrics:
    """One registry per worker, so tests and several apps in a process do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.orders = Counter("clv_orders", "Order messages consumed, by outcome", ["outcome"],
                              registry=r)
        self.emitted = Counter("clv_emitted", "Records produced, by kind", ["kind"], registry=r)
        self.batches = Counter("clv_batches", "Batches processed", registry=r)
        self.batch_seconds = Histogram(
            "clv_batch_seconds", "Time to process, emit and confirm one batch", registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.batch_size = Histogram("clv_batch_size", "Orders per batch", registry=r,
                                    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000))
        self.clock = Gauge("clv_stream_event_time_seconds",
                           "The stream's event time (latest occurred_at applied)", registry=r)
        self.model_info = Gauge("clv_model_info", "Current model version", ["version"], registry=r)
        self.refit_done = Gauge("clv_refit_customers", "Customers re-scored by the refit pass",
                                registry=r)
        self.time_decay = Counter("clv_time_decay_customers",
                                  "Customers re-scored because event time made them due",
                                  registry=r)

        self.reliability = Counter(
            "clv_reliability_events",
            "Faults the worker met and handled: retry_redis, retry_kafka (a step retried), "
            "rolled_back (Redis went back in time), state_lost (Redis lost a partition's "
            "state), fenced (another worker owns a partition)", ["event"], registry=r)

        self.mrr = Gauge("clv_subscription_mrr",
                         "Monthly recurring revenue per tenant, in its reporting currency",
                         ["tenant"], registry=r)
        self.subscribers = Gauge("clv_subscription_active_subscribers",
                                 "Subscribers paid up now, per tenant", ["tenant"], registry=r)
        self.lag = Gauge("clv_consumer_lag",
                         "Order messages of this worker's partitions not processed yet",
                         registry=r)
        self.degraded_checks = Gauge(
            "clv_degraded", "1 while the worker waits for a dependency (redis, kafka)",
            ["check"], registry=r)

    def degraded(self, check: str, degraded: bool) -> None:
        self.degraded_checks.labels(check).set(1 if degraded else 0)

    def reliability_event(self, name: str) -> None:
        self.reliability.labels(name).inc()

    def record(self, outcome: BatchOutcome, seconds: float) -> None:
        if outcome.due:
            self.time_decay.inc(outcome.due)
        if outcome.received:  # not an idle lane's look for due customers
            self.batches.inc()
            self.batch_seconds.observe(seconds)
            self.batch_size.observe(outcome.received)
        for name in ("invalid", "applied", "duplicates", "redelivered"):
            value = getattr(outcome, name)
            if value:
                self.orders.labels(name).inc(value)
        if outcome.updates:
            self.emitted.labels("update").inc(outcome.updates)
        if outcome.segment_changes:
            self.emitted.labels("segment").inc(outcome.segment_changes)
        if outcome.invalid:
            self.emitted.labels("deadletter").inc(outcome.invalid)

    def model(self, version: str) -> None:
        self.model_info.clear()
        self.model_info.labels(version).set(1)

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
