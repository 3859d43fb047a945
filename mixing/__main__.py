"""Command line: propose proxy mixtures, then fit the mixing law to their results.

    python -m mixing propose --manifest OUT/shards/manifest.json -k 16 --out proposals.json
    python -m mixing propose --availability avail.json --model-params 1e8 -k 16 --out proposals.json
    python -m mixing fit --proposals proposals.json --results results.json --out weights.json

`avail.json` is {domain: unique tokens}. `results.json` is {"runs": [{"name": <proposal name>,
"val_loss": {domain: loss}}, ...]} (a run may give "weights" instead of "name"). The weights.json
written by `fit` is what `mix.weights_file` takes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from mixing.budget import InfeasibleBudgetError, check_feasible, token_budget
from mixing.fit import fit_mixture
from mixing.propose import propose_mixtures
from pipeline.config import default


def _availability(args) -> dict[str, int]:
    if args.manifest:
        manifest = json.loads(Path(args.manifest).read_text())
        return {d: int(row["tokens"]) for d, row in manifest["domains"].items()}
    return {d: int(u) for d, u in json.loads(Path(args.availability).read_text()).items()}


def cmd_propose(args) -> dict:
    available = _availability(args)
    budget = token_budget(available, args.model_params, args.tokens_per_param, args.token_budget)
    cap = check_feasible(available, budget, args.e_max)
    proposals = propose_mixtures(available, cap, args.k, args.concentration, args.seed)
    return {
        "domains": list(available),
        "availability": available,
        "token_budget": budget,
        "e_max": args.e_max,
        "caps": cap,
        "proposals": proposals,
    }


def cmd_fit(args) -> dict:
    proposals = json.loads(Path(args.proposals).read_text())
    results = json.loads(Path(args.results).read_text())
    domains = proposals["domains"]
    by_name = {p["name"]: p["weights"] for p in proposals["proposals"]}
    rows_w, rows_l = [], []
    for run in results["runs"]:
        weights = run.get("weights") or by_name.get(run.get("name"))
        if weights is None:
            raise SystemExit(f"result {run.get('name')!r} names no proposal and gives no weights")
        rows_w.append([float(weights.get(d, 0.0)) for d in domains])
        rows_l.append([float(run["val_loss"][d]) for d in domains])
    if len(rows_w) < len(domains) + 2:
        raise SystemExit(f"{len(rows_w)} proxy runs cannot fit {len(domains) + 1} parameters per law")
    target = json.loads(args.target_weights) if args.target_weights else None
    out = fit_mixture(
        domains,
        np.array(rows_w),
        np.array(rows_l),
        proposals["caps"],
        target_weights=target,
        n_starts=args.n_starts,
        huber_delta=args.huber_delta,
        min_spearman=args.min_spearman,
        seed=args.seed,
    )
    out["token_budget"] = proposals.get("token_budget")
    out["e_max"] = proposals.get("e_max")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mixing", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("propose", help="K capped Dirichlet proxy mixtures + the prior + uniform")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--manifest", help="OUT/shards/manifest.json (train tokens per domain)")
    source.add_argument("--availability", help="json {domain: unique tokens}")
    p.add_argument("-k", type=int, default=default("mix.propose.k"), help="Dirichlet samples (mix.propose.k)")
    p.add_argument(
        "--concentration",
        type=float,
        default=default("mix.propose.concentration"),
        help="mix.propose.concentration",
    )
    p.add_argument("--model-params", type=float, default=None, help="target model size N")
    p.add_argument(
        "--tokens-per-param", type=float, default=default("mix.tokens_per_param"), help="mix.tokens_per_param"
    )
    p.add_argument("--token-budget", type=float, default=None, help="D; overrides N")
    p.add_argument(
        "--e-max", type=float, default=default("mix.e_max"), help="max epochs per domain (mix.e_max)"
    )
    p.add_argument("--seed", type=int, default=default("run.seed"))
    p.add_argument("--out", required=True)

    f = sub.add_parser("fit", help="fit the Data Mixing Law and pick the mixture")
    f.add_argument("--proposals", required=True)
    f.add_argument("--results", required=True)
    f.add_argument("--n-starts", type=int, default=default("mix.fit.n_starts"))
    f.add_argument("--huber-delta", type=float, default=default("mix.fit.huber_delta"))
    f.add_argument("--min-spearman", type=float, default=default("mix.fit.min_spearman"))
    f.add_argument("--target-weights", default=None, help='json {"news": 1.0, ...}; default equal')
    f.add_argument("--seed", type=int, default=default("run.seed"))
    f.add_argument("--out", required=True)

    args = parser.parse_args(argv)
    try:
        result = cmd_propose(args) if args.command == "propose" else cmd_fit(args)
    except InfeasibleBudgetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    summary = result.get("method", f"{len(result.get('proposals', []))} proposals")
    print(f"wrote {args.out} ({summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
