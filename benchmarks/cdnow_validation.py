"""Out-of-sample check of our BG/NBD on the full CDNOW transaction log (23,570 customers).

The classic split of Fader, Hardie & Lee (2005a), on a *daily* scale: calibration from each
customer's first purchase (all in Q1 1997) to 1997-09-30, holdout 1997-10-01 .. 1998-06-30
(273 days). Purchases are counted per distinct day, as in ``lifetimes``. We fit on the
calibration summary, predict each customer's holdout purchases with
``expected_purchases(params, 273, x, t_x, T)`` and compare with what they did, grouped by
calibration frequency (the paper's conditional-expectations figure)::

    python -m benchmarks.cdnow_validation

Writes ``benchmarks/results/cdnow_validation.json`` and ``cdnow_holdout.png``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from clv_stream.domain.fitting import fit_bgnbd
from clv_stream.domain.predictive import BgNbdParams, expected_purchases, expected_purchases_new

matplotlib.use("Agg")
import matplotlib.pyplot as plt

RESULTS = Path(__file__).resolve().parent / "results"
CAL_END, OBS_END = pd.Timestamp("1997-09-30"), pd.Timestamp("1998-06-30")
TOP = 7  # frequencies >= TOP are pooled as "7+"


def load_master(path: Path | None = None) -> Any:
    """CDNOW_master.txt (shipped with lifetimes) as id, date, cds, dollars; header optional."""
    if path is None:
        import lifetimes.datasets

        path = Path(lifetimes.datasets.__file__).parent / "CDNOW_master.txt"
    with path.open() as fh:
        has_header = not fh.readline().split()[0].isdigit()
    df = pd.read_csv(path, sep=r"\s+", header=0 if has_header else None,
                     names=["id", "date", "cds", "dollars"], dtype={"id": str, "date": str})
    df["date"] = pd.to_datetime(df["date"], format="%Y%m%d")
    return df


def summarise(df: Any) -> Any:
    """Per customer: x, t_x, T (days) in calibration, and holdout purchase-days."""
    days = df[["id", "date"]].drop_duplicates()
    cal = days[days["date"] <= CAL_END].groupby("id")["date"]
    first, last = cal.min(), cal.max()
    out = pd.DataFrame({
        "x": cal.size() - 1,
        "t_x": (last - first).dt.days,
        "T": (CAL_END - first).dt.days,
        "first": first,
    })
    hold = days[(days["date"] > CAL_END) & (days["date"] <= OBS_END)].groupby("id").size()
    out["holdout"] = hold.reindex(out.index, fill_value=0)
    return out.astype({"x": float, "t_x": float, "T": float, "holdout": float})


def cross_check(df: Any, summary: Any) -> dict[str, float]:
    """Largest absolute difference from ``lifetimes.utils.calibration_and_holdout_data``."""
    from lifetimes.utils import calibration_and_holdout_data

    # (lifetimes 0.11.3 on pandas 3 fails without a monetary column; string dates as documented)
    theirs = calibration_and_holdout_data(
        df, "id", "date", calibration_period_end=str(CAL_END.date()),
        observation_period_end=str(OBS_END.date()), freq="D", monetary_value_col="dollars",
    )
    theirs = theirs.reindex(summary.index)
    pairs = {"x": "frequency_cal", "t_x": "recency_cal", "T": "T_cal",
             "holdout": "frequency_holdout"}
    return {ours: float(np.abs(summary[ours].to_numpy() - theirs[col].to_numpy()).max())
            for ours, col in pairs.items()}


def holdout_table(summary: Any, params: BgNbdParams, horizon: float) -> list[dict[str, Any]]:
    """Mean actual vs predicted holdout purchases by calibration frequency 0..6, 7+."""
    x, t_x, T = (summary[c].to_numpy() for c in ("x", "t_x", "T"))
    predicted = expected_purchases(params, horizon, x, t_x, T)
    group = np.minimum(x, TOP).astype(int)
    rows = []
    for g in range(TOP + 1):
        sel = group == g
        rows.append({"x": f"{g}+" if g == TOP else str(g), "customers": int(sel.sum()),
                     "actual": float(summary["holdout"].to_numpy()[sel].mean()),
                     "predicted": float(predicted[sel].mean())})
    rows.append({"x": "all", "customers": int(x.size),
                 "actual": float(summary["holdout"].mean()), "predicted": float(predicted.mean())})
    return rows


def tracking(df: Any, summary: Any, params: BgNbdParams) -> dict[str, Any]:
    """Cumulative repeat purchase-days, actual vs the model's sum over first-purchase cohorts."""
    days = df[["id", "date"]].drop_duplicates()
    repeat = days[days["date"] > days["id"].map(summary["first"])]
    grid = pd.date_range(summary["first"].min(), OBS_END, freq="D")
    actual = repeat.groupby("date").size().reindex(grid, fill_value=0).cumsum()
    cohorts = summary.groupby("first").size()
    age = (grid.to_numpy()[:, None] - cohorts.index.to_numpy()[None, :]) / np.timedelta64(1, "D")
    expected = np.where(age > 0, expected_purchases_new(params, np.maximum(age, 0.0)), 0.0)
    return {"dates": grid, "actual": actual.to_numpy(dtype=float),
            "expected": expected @ cohorts.to_numpy(dtype=float)}


def plot(table: list[dict[str, Any]], track: dict[str, Any], out: Path) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    rows = table[:-1]
    ticks = np.arange(len(rows))
    left.plot(ticks, [r["actual"] for r in rows], "o-", label="actual")
    left.plot(ticks, [r["predicted"] for r in rows], "s--", label="BG/NBD (clv_stream)")
    left.set_xticks(ticks, [r["x"] for r in rows])
    left.set_xlabel("repeat purchase-days in calibration (to 1997-09-30)")
    left.set_ylabel("mean purchase-days in holdout (273 days)")
    left.set_title("CDNOW: conditional expectations, holdout")
    left.legend()
    left.grid(alpha=0.3)
    right.plot(track["dates"], track["actual"], label="actual")
    right.plot(track["dates"], track["expected"], "--", label="BG/NBD (clv_stream)")
    right.axvline(CAL_END, color="grey", linestyle=":", label="end of calibration")
    right.set_ylabel("cumulative repeat purchase-days")
    right.set_title("CDNOW: tracking, 23,570 customers")
    right.legend()
    right.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def lifetimes_fit(x: Any, t_x: Any, T: Any) -> dict[str, Any]:
    """lifetimes' BetaGeoFitter on the same summary: seconds and parameters."""
    from lifetimes import BetaGeoFitter

    started = time.perf_counter()
    params = BetaGeoFitter().fit(x, t_x, T).params_.to_dict()
    return {"seconds": time.perf_counter() - started, "params": params}


def paper_sample_check(horizon: float) -> dict[str, Any]:
    """Same split on CDNOW_sample.txt (the paper's 1/10 sample): published params, and totals."""
    import lifetimes.datasets

    path = Path(lifetimes.datasets.__file__).parent / "CDNOW_sample.txt"
    df = pd.read_csv(path, sep=r"\s+", header=None, names=["mid", "id", "date", "cds", "dollars"],
                     dtype={"id": str, "date": str})
    df["date"] = pd.to_datetime(df["date"], format="%Y%m%d")
    summary = summarise(df)
    x, t_x, T = (summary[c].to_numpy() for c in ("x", "t_x", "T"))
    params = fit_bgnbd(x, t_x, T).params
    predicted = expected_purchases(params, horizon, x, t_x, T)
    return {"customers": len(summary), "params_days": dataclasses.asdict(params),
            "calibration_repeats": float(x.sum()), "predicted": float(predicted.sum()),
            "actual": float(summary["holdout"].sum())}


def _fmt(params: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.4f}" for k, v in params.items())


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"{'x (cal)':>8} {'customers':>10} {'actual':>8} {'predicted':>10} {'pred/act':>9}")
    for r in rows:
        ratio = r["predicted"] / r["actual"] if r["actual"] else float("nan")
        print(f"{r['x']:>8} {r['customers']:>10} {r['actual']:>8.3f} {r['predicted']:>10.3f} "
              f"{ratio:>9.3f}")


def validate(df: Any) -> tuple[dict[str, Any], Any, BgNbdParams]:
    """Fit on the calibration summary; the JSON result, the summary and the fitted params."""
    summary = summarise(df)
    x, t_x, T = (summary[c].to_numpy() for c in ("x", "t_x", "T"))
    fits = [fit_bgnbd(x, t_x, T) for _ in range(5)]
    fit = fits[0]
    horizon = float((OBS_END - CAL_END).days)
    result = {
        "customers": len(summary), "horizon_days": horizon,
        "params_days": dataclasses.asdict(fit.params),
        "fit_seconds_median": float(np.median([f.seconds for f in fits])),
        "iterations": fit.iterations, "log_likelihood": fit.log_likelihood,
        "converged": fit.converged, "lifetimes": lifetimes_fit(x, t_x, T),
        "summary_vs_lifetimes_max_abs_diff": cross_check(df, summary),
        "holdout_by_frequency": holdout_table(summary, fit.params, horizon),
        "paper_sample": paper_sample_check(horizon),
    }
    return result, summary, fit.params


def report(res: dict[str, Any]) -> None:
    theirs, sample = res["lifetimes"], res["paper_sample"]
    print(f"customers {res['customers']}, fit {res['fit_seconds_median'] * 1e3:.1f} ms (median "
          f"of 5; lifetimes {theirs['seconds'] * 1e3:.0f} ms), {res['iterations']} iterations, "
          f"LL {res['log_likelihood']:.1f}")
    print(f"params (days): ours {_fmt(res['params_days'])} | lifetimes {_fmt(theirs['params'])}")
    print(f"max |ours - lifetimes.calibration_and_holdout_data|: "
          f"{res['summary_vs_lifetimes_max_abs_diff']}")
    print_table(res["holdout_by_frequency"])
    print(f"paper's 2,357-customer sample: params {_fmt(sample['params_days'])}, holdout "
          f"predicted {sample['predicted']:.0f} vs actual {sample['actual']:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--master", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    df = load_master(args.master)
    result, summary, params = validate(df)
    report(result)
    args.out.mkdir(parents=True, exist_ok=True)
    plot(result["holdout_by_frequency"], tracking(df, summary, params),
         args.out / "cdnow_holdout.png")
    (args.out / "cdnow_validation.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out / 'cdnow_validation.json'} and {args.out / 'cdnow_holdout.png'}")


if __name__ == "__main__":
    main()
