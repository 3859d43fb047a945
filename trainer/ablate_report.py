"""The ablation's verdict: per run and eval set, mean ± sd over seeds, the paired difference to the first run
with a 95 % interval, one plain sentence per eval set, and the training curves.

Seeds pair the runs: seed k of every run starts from the same initial weights (same vocabulary) and the same
data-order seed, so the difference of two runs is taken seed by seed (a paired t interval), which removes the
seed-to-seed spread both runs share. With one seed there is no interval and the table says so.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
from scipy import stats as scipy_stats

CONFIDENCE = 0.95


def paired_interval(diffs: list[float]) -> tuple[float, float | None, float | None]:
    """(mean, low, high) of the mean difference; None bounds with fewer than two seeds."""
    n = len(diffs)
    mean = sum(diffs) / n
    if n < 2:
        return mean, None, None
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    half = scipy_stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def summary(results: pd.DataFrame) -> pd.DataFrame:
    """One row per (eval_set, run): mean/sd bits per byte and the paired difference to the first run."""
    runs = list(dict.fromkeys(results["run"]))
    baseline = runs[0]
    rows = []
    for eval_set, group in results.groupby("eval_set", sort=False):
        base = group[group["run"] == baseline].set_index("seed")["bits_per_byte"]
        for run in runs:
            mine = group[group["run"] == run].set_index("seed")["bits_per_byte"]
            seeds = sorted(set(mine.index) & set(base.index))
            diff, low, high = paired_interval([mine[s] - base[s] for s in seeds]) if seeds else (None,) * 3
            rows.append(
                {
                    "eval_set": eval_set,
                    "run": run,
                    "seeds": len(mine),
                    "bpb_mean": mine.mean(),
                    "bpb_sd": mine.std(ddof=1) if len(mine) > 1 else float("nan"),
                    "diff_to_first": diff if run != baseline else 0.0,
                    "diff_low": low if run != baseline else None,
                    "diff_high": high if run != baseline else None,
                }
            )
    return pd.DataFrame(rows)


def verdict(table: pd.DataFrame, eval_set: str) -> str:
    """A sentence naming the better data on one eval set, or saying no difference is significant."""
    rows = table[table["eval_set"] == eval_set].reset_index(drop=True)
    first = rows.loc[0, "run"]
    best = rows.loc[rows["bpb_mean"].idxmin()]
    if rows["diff_low"].iloc[1:].isna().all():
        return f"{eval_set}: lowest bits per byte for {best['run']} (one seed: no interval, not a verdict)."
    if best["run"] == first:
        others = rows.iloc[1:]
        if (others["diff_low"] > 0).all():
            return f"{eval_set}: {first} is better than every other run (all 95 % intervals above 0)."
        return f"{eval_set}: no significant difference from {first}."
    if best["diff_high"] < 0:
        return (
            f"{eval_set}: {best['run']} is better than {first} by {-best['diff_to_first']:.4f} bits per byte "
            f"(95 % interval {-best['diff_high']:.4f} to {-best['diff_low']:.4f})."
        )
    return f"{eval_set}: no significant difference from {first}."


def _fmt(value, digits: int = 4) -> str:
    return (
        "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"
    )


def markdown(results: pd.DataFrame, plan: dict) -> str:
    table = summary(results)
    lines = [
        "# Data ablation",
        "",
        f"Every model: preset `{plan['preset']}`, {plan['steps']} steps, exactly {plan['tokens']:,} training "
        f"tokens, seeds {plan['seeds']}, anneal {'on' if plan['anneal'] else 'off'}. "
        "Lower bits per byte is better; the difference is to the first run, paired by seed.",
        "",
        "| eval set | run | seeds | bits/byte (mean ± sd) | diff to first | 95 % interval | epochs |",
        "|---|---|---|---|---|---|---|",
    ]
    epochs = {r["name"]: r for r in plan["runs"]}
    for _, r in table.iterrows():
        interval = (
            ""
            if r["diff_low"] is None or pd.isna(r["diff_low"])
            else (f"[{_fmt(r['diff_low'])}, {_fmt(r['diff_high'])}]")
        )
        info = epochs[r["run"]]
        mark = f"{info['epochs']:.2f}" + (" (repeated)" if info["repeated"] else "")
        lines.append(
            f"| {r['eval_set']} | {r['run']} | {r['seeds']} | {_fmt(r['bpb_mean'])} ± {_fmt(r['bpb_sd'])} | "
            f"{_fmt(r['diff_to_first'])} | {interval} | {mark} |"
        )
    lines += ["", "## Verdict", ""]
    lines += [f"- {verdict(table, e)}" for e in dict.fromkeys(table["eval_set"])]
    contamination = plan.get("contamination") or {}
    if contamination:
        lines += ["", "## Reference text vs training data", ""]
        for eval_set, per_run in contamination.items():
            found = {run: n for run, n in per_run.items() if n}
            lines.append(
                f"- {eval_set}: "
                + (
                    "no document shares a 13-word sequence with any run's training documents."
                    if not found
                    else "documents sharing a 13-word sequence with training data: "
                    + ", ".join(f"{run} {n}" for run, n in found.items())
                )
            )
    return "\n".join(lines) + "\n"


def plot_curves(metrics_path: Path, plan: dict, png: Path) -> None:
    """Training loss against tokens, one line per run (mean over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in metrics_path.read_text().splitlines() if line.strip()]
    frame = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(7, 4))
    for run in plan["runs"]:
        names = {model["run_name"] for model in plan["models"] if model["run"] == run["name"]}
        mine = frame[frame["run"].isin(names)]
        if mine.empty:
            continue
        curve = mine.groupby("tokens")["train_loss"].mean()
        ax.plot(curve.index, curve.values, label=run["name"])
    ax.set_xlabel("training tokens")
    ax.set_ylabel("train loss (nats/token, own tokenizer)")
    ax.set_title("Data ablation: training curves (mean over seeds)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
