"""`python -m trainer fit-mixture`: proxy trainings for the data-mixing fit.

1. `python -m mixing propose` (mixing/, the scaling-law side) proposes K proxy mixtures from the manifest's
   per-domain token counts -> OUT/mixing/proposals.json;
2. each proposal is a small Ray training (`mix.propose.proxy_preset`, `proxy_steps`) whose data stream uses
   the proposal's weights instead of the manifest's; its final per-domain validation losses are collected
   -> OUT/mixing/proxy_results.json (a rerun skips proxies that already finished);
3. `python -m mixing fit` fits the Data Mixing Law to them -> OUT/mixing/weights.json, which the next
   crawl-to-shards reads through the config key `mix.weights_file`.
The proxies keep the same WSD schedule shape but an hq share of 0, so only the main mix differs.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from pipeline import layout
from pipeline.settings import MixSettings, ProposeSettings, RunSettings, TrainSettings
from trainer.train import LOOP_KEYS, fit, loop_config, read_metrics


def _mixing_cli(argv: list[str]) -> None:
    from mixing.__main__ import main as mixing_main

    if mixing_main(argv) != 0:
        raise RuntimeError(f"python -m mixing {' '.join(argv)} failed")


def propose(cfg: dict, out: Path) -> Path:
    mix = MixSettings.from_config(cfg)
    path = layout.proposals_path(out)
    manifest = layout.manifest_path(layout.shards_dir(out))
    argv = ["propose", "--manifest", str(manifest), "-k", str(mix.propose.k)]
    argv += ["--concentration", str(mix.propose.concentration), "--e-max", str(mix.e_max)]
    argv += ["--seed", str(RunSettings.from_config(cfg).seed), "--out", str(path)]
    if mix.token_budget is not None:
        argv += ["--token-budget", str(mix.token_budget)]
    elif mix.model_params is not None:
        argv += ["--model-params", str(mix.model_params), "--tokens-per-param", str(mix.tokens_per_param)]
    _mixing_cli(argv)
    return path


def final_val_losses(out_dir: Path, run_name: str, steps: int) -> dict[str, float] | None:
    """Per-domain validation losses of a finished proxy run (None if it has not finished)."""
    rows = [r for r in read_metrics(out_dir.parent, run_name) if r["step"] == steps and "val_loss" in r]
    if not rows:
        return None
    return {k.split("/", 1)[1]: v for k, v in rows[-1].items() if k.startswith("val_loss/")}


def fit_mixture(
    cfg: dict,
    out: str | Path,
    given: dict,
    *,
    address: str | None = None,
    proposals: str | None = None,
) -> Path:
    """Train one proxy per proposal (the `train:` settings of `cfg`, on `mix.propose`'s proxy preset and steps
    unless the command line set them: `given`), then fit the mixing law; returns the fitted weights' path."""
    out = Path(out).resolve()
    layout.mixing_dir(out).mkdir(parents=True, exist_ok=True)
    proposals_path = Path(proposals) if proposals else propose(cfg, out)
    plan = json.loads(proposals_path.read_text())
    own = ProposeSettings.from_config(cfg)
    settings = {"preset": own.proxy_preset, "steps": own.proxy_steps}
    settings.update({k: v for k, v in given.items() if k in LOOP_KEYS})
    steps = settings["steps"]
    train = TrainSettings.from_config(cfg)
    driver = dataclasses.replace(train, keep_checkpoints=1)  # a proxy is read once, at its end
    proxy_dir = layout.proxy_train_dir(out)
    runs = []
    for proposal in plan["proposals"]:
        name = f"proxy-{proposal['name']}"
        losses = final_val_losses(proxy_dir, name, steps)
        if losses is None:
            config = loop_config(
                train,
                out,
                name,
                **settings,
                weights=proposal["weights"],
                hq_weight=0.0,
                warmup_steps=min(train.warmup_steps, steps // 10),
                eval_every=steps,
                ckpt_every=steps,
                log_every=max(1, steps // 5),
            )
            config["out_dir"] = str(proxy_dir)
            fit(config, driver, address)
            losses = final_val_losses(proxy_dir, name, steps)
        missing = set(plan["domains"]) - set(losses or {})
        if missing:
            raise RuntimeError(
                f"{name}: no validation loss for {sorted(missing)} (these domains need val shards)"
            )
        runs.append({"name": proposal["name"], "weights": proposal["weights"], "val_loss": losses})
    results_path = layout.proxy_results_path(out)
    results_path.write_text(json.dumps({"runs": runs}, indent=2) + "\n")

    mix_fit = MixSettings.from_config(cfg).fit
    weights_path = layout.fitted_weights_path(out)
    argv = [
        "fit",
        "--proposals",
        str(proposals_path),
        "--results",
        str(results_path),
        "--out",
        str(weights_path),
    ]
    argv += ["--n-starts", str(mix_fit.n_starts), "--huber-delta", str(mix_fit.huber_delta)]
    argv += ["--min-spearman", str(mix_fit.min_spearman), "--seed", str(RunSettings.from_config(cfg).seed)]
    if mix_fit.target_weights:
        argv += ["--target-weights", json.dumps(dict(mix_fit.target_weights))]
    _mixing_cli(argv)
    return weights_path
