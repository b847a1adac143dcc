"""Fit-time benchmark: clv_stream's BG/NBD + Gamma-Gamma fits against lifetimes 0.11.3.

Synthetic customers are drawn from the models themselves (daily scale, seeded), so both
libraries fit the same data and should find the same maximum-likelihood parameters::

    python -m benchmarks.fit_bench                       # 100k and 1M customers
    python -m benchmarks.fit_bench --customers 20000     # quick look

Each library's time is its full ``fit`` call (lifetimes' includes the autograd Hessian it
computes for standard errors; ours computes none). lifetimes runs in a child process with a
time limit (``--lifetimes-timeout``); if it runs out, the table says so. Results go to
``benchmarks/results/fit_bench.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing as mp
import platform
import time
from pathlib import Path
from queue import Empty
from typing import Any

import numpy as np
from numpy.typing import NDArray

from clv_stream.domain.fitting import fit_bgnbd, fit_gamma_gamma
from clv_stream.domain.predictive import BgNbdParams, GammaGammaParams

Arr = NDArray[np.float64]
RESULTS = Path(__file__).resolve().parent / "results" / "fit_bench.json"
TRUE_BG = BgNbdParams(r=0.243, alpha=4.414 * 7, a=0.793, b=2.426)  # CDNOW on the day scale
TRUE_GG = GammaGammaParams(p=6.25, q=3.74, v=15.44)


def simulate(n: int, seed: int = 2024, max_age_days: int = 730) -> dict[str, Arr]:
    """``n`` customers from BG/NBD + Gamma-Gamma with :data:`TRUE_BG`, :data:`TRUE_GG`.

    Ages ``T`` are uniform whole days in [1, max_age_days] (first purchases spread over two
    years); while alive a customer buys at Poisson rate ``lambda ~ Gamma(r, alpha)`` and dies
    after a ``Geometric(p)``-th repeat purchase, ``p ~ Beta(a, b)``. Given ``K`` events in
    ``(0, T]``, the ``x``-th is ``T * Beta(x, K-x+1)``; recency is floored to whole days, as in
    a day-resolution event store. Order values are ``Gamma(p, nu)``, ``nu ~ Gamma(q, v)``.
    """
    rng = np.random.default_rng(seed)
    T = rng.integers(1, max_age_days + 1, n).astype(np.float64)
    lam = rng.gamma(TRUE_BG.r, 1.0 / TRUE_BG.alpha, n)
    events = rng.poisson(lam * T).astype(np.float64)
    x = np.minimum(events, rng.geometric(rng.beta(TRUE_BG.a, TRUE_BG.b, n)))
    rep = x > 0
    t_x = np.zeros(n)
    t_x[rep] = np.floor(T[rep] * rng.beta(x[rep], events[rep] - x[rep] + 1.0))
    nu = rng.gamma(TRUE_GG.q, 1.0 / TRUE_GG.v, n)
    m = np.zeros(n)
    m[rep] = rng.gamma(TRUE_GG.p * x[rep], 1.0 / nu[rep]) / x[rep]
    return {"x": x, "t_x": t_x, "T": T, "m": m}


def _lifetimes_child(data: dict[str, Arr], queue: Any) -> None:
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    started = time.perf_counter()
    bgf = BetaGeoFitter().fit(data["x"], data["t_x"], data["T"])
    bg_s = time.perf_counter() - started
    rep = data["x"] > 0
    started = time.perf_counter()
    ggf = GammaGammaFitter().fit(data["x"][rep], data["m"][rep])
    gg_s = time.perf_counter() - started
    queue.put({"bg_seconds": bg_s, "gg_seconds": gg_s, "bg": bgf.params_.to_dict(),
               "gg": ggf.params_.to_dict()})


def run_lifetimes(data: dict[str, Arr], timeout: float) -> dict[str, Any] | None:
    """lifetimes' fits in a child process, or None if they exceed ``timeout`` seconds."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_lifetimes_child, args=(data, queue))
    proc.start()
    deadline = time.monotonic() + timeout
    result: dict[str, Any] = {}
    while not result and time.monotonic() < deadline and (proc.is_alive() or not queue.empty()):
        try:
            result = queue.get(timeout=1.0)
        except Empty:
            continue
    proc.join(timeout=5)
    if proc.is_alive():
        proc.terminate()
        proc.join()
    return result or None


def run_ours(data: dict[str, Arr]) -> dict[str, Any]:
    bg = fit_bgnbd(data["x"], data["t_x"], data["T"])
    gg = fit_gamma_gamma(data["x"], data["m"])
    return {"bg_seconds": bg.seconds, "gg_seconds": gg.seconds,
            "bg": dataclasses.asdict(bg.params), "gg": dataclasses.asdict(gg.params),
            "bg_iterations": bg.iterations, "gg_iterations": gg.iterations,
            "bg_log_likelihood": bg.log_likelihood, "converged": bg.converged and gg.converged}


def max_rel_diff(ours: dict[str, float], theirs: dict[str, float]) -> float:
    return max(abs(ours[k] / theirs[k] - 1.0) for k in ours)


def bench(n: int, timeout: float) -> dict[str, Any]:
    data = simulate(n)
    rows = np.unique(np.stack([data["x"], data["t_x"], data["T"]]), axis=1).shape[1]
    ours = run_ours(data)
    theirs = run_lifetimes(data, timeout)
    row: dict[str, Any] = {"customers": n, "repeat_customers": int((data["x"] > 0).sum()),
                           "distinct_rows": rows, "ours": ours, "lifetimes": theirs,
                           "lifetimes_timeout_s": timeout}
    if theirs is not None:
        our_s = ours["bg_seconds"] + ours["gg_seconds"]
        their_s = theirs["bg_seconds"] + theirs["gg_seconds"]
        row |= {"speedup": their_s / our_s,
                "bg_speedup": theirs["bg_seconds"] / ours["bg_seconds"],
                "max_rel_param_diff": max(max_rel_diff(ours["bg"], theirs["bg"]),
                                          max_rel_diff(ours["gg"], theirs["gg"]))}
    return row


def _fmt_params(params: dict[str, float] | None) -> str:
    return "-" if params is None else " ".join(f"{k}={v:.4f}" for k, v in params.items())


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (f"{'customers':>10} {'ours s':>8} {'lifetimes s':>12} {'speedup':>8} "
            f"{'max rel diff':>12}  params (ours | lifetimes)")
    print(head)
    print("-" * len(head))
    for row in rows:
        ours, theirs = row["ours"], row["lifetimes"]
        our_s = ours["bg_seconds"] + ours["gg_seconds"]
        their = "timeout"
        if theirs is not None:
            their = f"{theirs['bg_seconds'] + theirs['gg_seconds']:.2f}"
        speed = f"{row['speedup']:.1f}x" if "speedup" in row else "-"
        diff = f"{row['max_rel_param_diff']:.1e}" if "max_rel_param_diff" in row else "-"
        print(f"{row['customers']:>10} {our_s:>8.2f} {their:>12} {speed:>8} {diff:>12}  "
              f"BG {_fmt_params(ours['bg'])} | {_fmt_params(theirs and theirs['bg'])}")
        print(f"{'':>55}GG {_fmt_params(ours['gg'])} | {_fmt_params(theirs and theirs['gg'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--lifetimes-timeout", type=float, default=900.0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    rows = [bench(n, args.lifetimes_timeout) for n in args.customers]
    print_table(rows)
    print(f"true params: BG {dataclasses.asdict(TRUE_BG)}  GG {dataclasses.asdict(TRUE_GG)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"python": platform.python_version(), "machine": platform.machine(),
            "true_bg": dataclasses.asdict(TRUE_BG), "true_gg": dataclasses.asdict(TRUE_GG)}
    args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
