"""Data Mixing Law fit on synthetic ground truth: how close is the fitted optimum to the true one?

Four domains with availability 300/1000/60/150 tokens and budget D = 1000 (caps 1, 1, 0.24, 0.6 at
E_max = 4); true laws L_j(w) = c_j + exp(t_j . w). Proxy runs: `python -m mixing propose`'s mixtures
(prior, uniform, K Dirichlet samples), losses = true laws + Gaussian noise. Reported per setting over
seeds: L1 distance of the fitted optimum to the true optimum, the loss it gives up, and rho.

    .venv/bin/python -m bench.mixing_synthetic [--seeds 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.results_table import write_result
from mixing.budget import caps
from mixing.fit import MixingLaw, fit_mixture, optimal_mixture
from mixing.propose import propose_mixtures
from pipeline.config import default

DOMAINS = ["news", "web", "code", "qa"]
AVAILABLE = {"news": 300, "web": 1000, "code": 60, "qa": 150}
TRUE_T = -np.array([[3.0, 0.8, 0.2, 0.5], [1.0, 2.0, 0.3, 0.6], [0.3, 0.4, 4.0, 1.0], [0.6, 0.7, 1.2, 3.0]])
TRUE_LAWS = [MixingLaw(c=2.0 + 0.3 * j, k=1.0, t=TRUE_T[j]) for j in range(4)]
SETTINGS = [(14, 0.002, 1.0), (30, 0.002, 3.0), (14, 0.005, 1.0), (30, 0.005, 1.0), (30, 0.01, 1.0)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--n-starts", type=int, default=8)
    args = parser.parse_args()
    cap = caps(AVAILABLE, 1000, 4.0)
    upper = np.array([cap[d] for d in DOMAINS])
    target = np.full(4, 0.25)
    true_w, true_loss = optimal_mixture(TRUE_LAWS, target, upper, [target])
    print(f"true optimum {np.round(true_w, 3).tolist()} (caps {upper.tolist()}), loss {true_loss:.4f}")
    print("K  noise  conc  | L1 mean  L1 max | loss gap max | rho min | methods | s/fit")
    rows = []
    for k, noise, conc in SETTINGS:
        l1, gap, rho, methods, secs = [], [], [], set(), []
        for seed in range(args.seeds):
            props = propose_mixtures(AVAILABLE, cap, k=k, concentration=conc, seed=seed)
            w = np.array([[p["weights"][d] for d in DOMAINS] for p in props])
            losses = np.array([[law(x) for law in TRUE_LAWS] for x in w])
            losses += np.random.default_rng(100 + seed).normal(0.0, noise, losses.shape)
            start = time.perf_counter()
            res = fit_mixture(
                DOMAINS,
                w,
                losses,
                cap,
                n_starts=args.n_starts,
                huber_delta=default("mix.fit.huber_delta"),
                min_spearman=default("mix.fit.min_spearman"),
                seed=seed,
            )
            secs.append(time.perf_counter() - start)
            got = np.array([res["weights"][d] for d in DOMAINS])
            assert (got <= upper + 1e-9).all() and abs(got.sum() - 1) < 1e-9
            l1.append(np.abs(got - true_w).sum())
            gap.append(sum(a * law(got) for a, law in zip(target, TRUE_LAWS)) - true_loss)
            rho.append(res["spearman_rho"])
            methods.add(res["method"])
        print(
            f"{k:<3d}{noise:<7g}{conc:<6g}| {np.mean(l1):.3f}    {max(l1):.3f}  | {max(gap):.5f}      "
            f"| {min(rho):.3f}   | {','.join(sorted(methods))} | {np.mean(secs):.1f}"
        )
        rows.append(
            {
                "k": k,
                "noise": noise,
                "concentration": conc,
                "l1_mean": float(np.mean(l1)),
                "l1_max": float(max(l1)),
                "loss_gap_max": float(max(gap)),
                "rho_min": float(min(rho)),
                "methods": sorted(methods),
                "fit_s_mean": float(np.mean(secs)),
            }
        )
    figures = {"seeds": args.seeds, "true_optimum": np.round(true_w, 3).tolist(), "rows": rows}
    print(write_result("mixing_synthetic", [table(figures)], figures))


def table(figures: dict) -> dict:
    return {
        "title": f"Data Mixing Law fit on synthetic ground truth, {figures['seeds']} seeds per row",
        "command": f"python -m bench.mixing_synthetic --seeds {figures['seeds']}",
        "columns": [
            "K",
            "noise (nats)",
            "concentration",
            "L1 to true optimum, mean / max",
            "loss given up, max",
            "LOO Spearman rho, min",
        ],
        "rows": [
            [
                r["k"],
                f"{r['noise']:.3f}",
                f"{r['concentration']:g}",
                f"{r['l1_mean']:.3f} / {r['l1_max']:.3f}",
                f"{r['loss_gap_max']:.5f}",
                f"{r['rho_min']:.3f}",
            ]
            for r in figures["rows"]
        ],
    }


if __name__ == "__main__":
    main()
