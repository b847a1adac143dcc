"""Fader & Hardie (2007)'s two cohorts streamed as subscription events through a worker,
then ``clv-stream fit``: the sBG of each cohort is the published one, within 1 %."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from clv_stream.devinfra import EmbeddedBroker, EmbeddedRedis
from tests.corpus import order, subscription
from tests.integration.harness import Harness

#: (start, customers alive at the start of years 0..7, published alpha and beta)
COHORTS = {
    "regular": ("2010-01-01", (1000, 631, 468, 382, 326, 289, 262, 241), (0.704, 1.182)),
    "high end": ("2010-02-01", (1000, 869, 743, 653, 593, 551, 517, 491), (0.668, 3.806)),
}


def _at(start: str, years: int) -> str:
    begin = datetime.fromisoformat(start).replace(tzinfo=UTC)
    return begin.replace(year=begin.year + years).strftime("%Y-%m-%dT%H:%M:%SZ")


def _events() -> list[dict[str, Any]]:
    """Each customer a yearly subscription; one lost in year t renewed t - 1 times, a
    survivor 7 times (its next renewal is not due yet)."""
    events: list[dict[str, Any]] = []
    for name, (start, alive, _) in COHORTS.items():
        paid = [t for t in range(1, 8) for _ in range(alive[t - 1] - alive[t])]
        paid += [8] * alive[7]
        for i, periods in enumerate(paid):
            who = {"customer_id": f"{name[0]}-{i}", "subscription_id": f"{name[0]}-{i}"}
            events.append(subscription(occurred_at=_at(start, 0), interval="year",
                                       amount="100.00", **who))
            events += [subscription("subscription_renewed", occurred_at=_at(start, k),
                                    amount="100.00", **who) for k in range(1, periods)]
    # the stream's clock: past the last renewals and every grace
    events.append(order(customer_id="clock", occurred_at="2017-03-15T00:00:00Z"))
    return events


async def test_the_published_cohort_parameters_come_out_of_the_stream(
        kafka_broker: EmbeddedBroker, redis_server: EmbeddedRedis) -> None:
    with Harness.running(kafka_broker, redis_server) as h:
        await h.wait_applied(await h.produce_events(_events()))
        s = h.settings
        env = {**os.environ, "CLV_REDIS_URL": s.redis_dsn,
               "CLV_REDIS_KEY_PREFIX": s.redis_key_prefix}
        fit = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "clv_stream.cli.main", "fit", "--json", "--dry-run", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(fit.communicate(), 120)
    assert fit.returncode == 0, (out.decode()[-2000:], err.decode()[-2000:])
    text = out.decode()
    fitted = json.loads(text[text.index("{"):])
    assert fitted["subscriptions"] == 2000
    cohorts = fitted["model"]["retention"]["params"]["cohorts"]
    for (start, _, (alpha, beta)) in COHORTS.values():
        got = cohorts[f"{start[:7]}|year"]
        assert got["alpha"] == pytest.approx(alpha, rel=0.01)
        assert got["beta"] == pytest.approx(beta, rel=0.01)
