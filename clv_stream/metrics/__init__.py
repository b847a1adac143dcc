"""Prometheus metrics, kept out of the processing code: the worker records batch outcomes here."""

from __future__ import annotations

from clv_stream.metrics.registry import WorkerMetrics

__all__ = ["WorkerMetrics"]
