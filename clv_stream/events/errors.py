"""The reasons an input event is dead-lettered: ``error.code`` on the dead-letter topic."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ErrorCode"]


class ErrorCode(StrEnum):
    """Machine-readable reasons for a dead-lettered event."""

    TOO_LARGE = "too_large"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    UNSUPPORTED_SCHEMA_VERSION = "unsupported_schema_version"
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    INVALID_AMOUNT = "invalid_amount"
    NEGATIVE_AMOUNT = "negative_amount"
    NON_FINITE_AMOUNT = "non_finite_amount"
    AMOUNT_TOO_LARGE = "amount_too_large"
    TOO_MANY_DECIMALS = "too_many_decimals"
    INVALID_CURRENCY = "invalid_currency"
    UNKNOWN_CURRENCY = "unknown_currency"
    INVALID_TIMESTAMP = "invalid_timestamp"
    NAIVE_TIMESTAMP = "naive_timestamp"
    #: before ``CLV_MIN_EVENT_TIME`` or after now + ``CLV_MAX_CLOCK_SKEW`` (contract v2:
    #: replaces ``future_timestamp``)
    TIMESTAMP_OUT_OF_RANGE = "timestamp_out_of_range"
    INVALID_CUSTOMER_ID = "invalid_customer_id"
    INVALID_ORDER_ID = "invalid_order_id"
    INVALID_EVENT_ID = "invalid_event_id"
    INVALID_MARGIN = "invalid_margin"
    INVALID_TENANT_ID = "invalid_tenant_id"
    INVALID_SUBSCRIPTION_ID = "invalid_subscription_id"
    INVALID_PLAN_ID = "invalid_plan_id"
    INVALID_INTERVAL = "invalid_interval"
    #: not an integer from 1, or more than three years of periods of its interval
    INVALID_INTERVAL_COUNT = "invalid_interval_count"
    #: not an RFC 3339 date-time with an offset (before ``CLV_MIN_EVENT_TIME`` is
    #: ``timestamp_out_of_range``, as for ``occurred_at``)
    INVALID_EFFECTIVE_AT = "invalid_effective_at"
    INVALID_FIELD = "invalid_field"
    PROCESSING_ERROR = "processing_error"  # a bug tripped by this record; see the worker log
