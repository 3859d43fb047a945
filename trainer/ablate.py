"""Data-value ablations: which run's shards train the better model? (`python -m trainer ablate`, `make ablate`)

FineWeb and DCLM judge a data choice by training small models on each variant of the data at an equal token
budget and comparing them on the same held-out text. This module does that for run folders of this
pipeline (each holding `shards/`):

1. plan: one budget for every model, exactly `steps * tokens_per_step` training tokens, the same preset,
   batch and WSD schedule; a run with fewer unique tokens than the budget is repeated up to the mixer's
   epoch cap (E_max, Muennighoff et al. 2023) and marked, beyond the cap the ablation refuses;
2. train: one model per (run, seed), one worker each, through the Ray trainer (`trainer.train.fit`) or, with
   `engine="local"` (a machine with torch but no Ray), in this process (`trainer.local.run_rank`, the GPU
   when there is one): the same loop config, checkpoints and metrics; seed k of every run starts from the
   same initial weights when the vocabularies match;
3. evaluate: every model on every eval set (each run's validation shards decoded to text, plus plain-text
   reference files), in bits per byte so runs with different tokenizers compare fairly
   (trainer/ablate_eval.py);
4. report: OUT/ablate/results.parquet, results.md (trainer/ablate_report.py) and curves.png.
A model whose result file exists is not trained again, so an interrupted ablation resumes.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pandas as pd

from pipeline import layout, stages
from pipeline.decontam.evalsets import EvalItem
from pipeline.decontam.ngrams import NgramRule, build_index
from pipeline.settings import TrainSettings
from trainer.ablate_eval import (
    DEFAULT_MAX_EVAL_BYTES,
    EvalSet,
    bits_per_byte,
    load_tokenizer,
    text_eval_set,
    validation_eval_set,
)
from trainer.ablate_report import markdown, plot_curves
from trainer.data import load_manifest, sources_by_split

CONTAMINATION_NGRAM = 13  # GPT-3 app. C: a 13-gram shared with training data marks a document as seen


class AblationError(ValueError):
    """A request the ablation refuses (the message names the run and the numbers)."""


def _run_name(path: Path, taken: set[str]) -> str:
    """A name for the run's models: its folder name (with its parent's when two folders share one), the
    characters a run name may not hold (layout.path_component) replaced by '_'."""
    name = path.name or path.resolve().name
    while _safe(name) in taken and path.parent.name:
        name = f"{path.parent.name}_{name}"
    return _safe(name)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name).lstrip(".") or "run"


def train_tokens(run: Path) -> int:
    """Unique tokens in the run's `train` split (what one epoch over its main mix holds)."""
    shards_dir = layout.shards_dir(run)
    manifest = load_manifest(shards_dir)
    return int(sum(int(s.sizes.sum()) for s in sources_by_split(shards_dir, manifest, "train").values()))


def make_plan(
    runs: list[str | Path],
    *,
    train: TrainSettings,
    preset: str,
    tokens: int | None,
    seeds: int,
    anneal: bool = False,
) -> dict:
    """Steps, token budget and the per-run epochs; refuses a run that would need more than E_max epochs."""
    from trainer.model import preset_config

    if len(runs) < 2:
        raise AblationError("an ablation compares at least two runs")
    paths = [Path(r) for r in runs]
    names: set[str] = set()
    infos = []
    for path in paths:
        if not layout.manifest_path(layout.shards_dir(path)).exists():
            raise AblationError(
                f"{path}: no shards/manifest.json (run `make crawl-to-shards OUT={path}` first)"
            )
        name = _run_name(path, names)
        names.add(name)
        manifest = load_manifest(layout.shards_dir(path))
        e_max = float(manifest["mixture"]["e_max"])  # mix.e_max of the run that wrote the shards
        infos.append(
            {"name": name, "path": str(path.resolve()), "train_tokens": train_tokens(path), "e_max": e_max}
        )
    seq_len = train.seq_len or preset_config(preset, 8).seq_len
    tokens_per_step = train.micro_batch * train.grad_accum * seq_len  # one worker per model
    if tokens is None:  # one epoch of the smallest run: nobody repeats data by default
        tokens = min(i["train_tokens"] for i in infos) * seq_len // (seq_len + 1)
    steps = int(tokens // tokens_per_step)
    if steps < 1:
        raise AblationError(
            f"a budget of {tokens:,} tokens is less than one step ({tokens_per_step:,} tokens)"
        )
    read_per_step = train.micro_batch * train.grad_accum * (seq_len + 1)  # windows overlap by 0
    for info in infos:
        info["epochs"] = steps * read_per_step / max(info["train_tokens"], 1)
        info["repeated"] = info["epochs"] > 1.0
        if info["epochs"] > info["e_max"]:
            raise AblationError(
                f"run {info['name']} ({info['path']}) holds {info['train_tokens']:,} training tokens: "
                f"{steps * tokens_per_step:,} tokens would take {info['epochs']:.1f} epochs, beyond the cap of "
                f"{info['e_max']:g} (lower --tokens or add data to that run)"
            )
    models = [
        {"run": info["name"], "seed": seed, "run_name": f"{info['name']}-seed{seed}"}
        for info in infos
        for seed in range(seeds)
    ]
    return {
        "preset": preset,
        "seq_len": seq_len,
        "steps": steps,
        "tokens_per_step": tokens_per_step,
        "tokens": steps * tokens_per_step,
        "seeds": list(range(seeds)),
        "anneal": anneal,
        "runs": infos,
        "models": models,
    }


ENGINES = ("ray", "local")


def _train_model(
    cfg: dict, plan: dict, info: dict, model: dict, out: Path, address: str | None, engine: str = "ray"
) -> Path:
    """Train one (run, seed) model through Ray or in this process; returns its final checkpoint directory."""
    from trainer.train import loop_config

    steps, train = plan["steps"], TrainSettings.from_config(cfg)
    config = loop_config(
        train,
        info["path"],
        model["run_name"],
        preset=plan["preset"],
        steps=steps,
        seed=train.seed + model["seed"],
        max_epochs=info["e_max"],
        hq_weight=None if plan["anneal"] else 0.0,  # no anneal: the decay keeps the main mix
        eval_every=steps,
        ckpt_every=steps,
        log_every=max(1, steps // 25),
    )
    config["out_dir"] = str(layout.train_dir(out))  # never write into the compared runs' folders
    if engine == "local":
        from trainer.local import latest_checkpoint, run_rank

        Path(config["out_dir"]).mkdir(parents=True, exist_ok=True)
        run_rank(config)
        return latest_checkpoint(config["out_dir"], model["run_name"])
    from trainer.train import fit

    # one worker per model; a failed model fails the ablation (no retry), and only its final checkpoint is read
    driver = dataclasses.replace(train, workers=1, max_failures=0, keep_checkpoints=1)
    result = fit(config, driver, address)
    return Path(result.checkpoint.path)


def _load_model(checkpoint_dir: Path):
    from trainer import checkpoint
    from trainer.model import GPT, GPTConfig

    model = GPT(GPTConfig(**checkpoint.read_meta(checkpoint_dir)["model"]))
    checkpoint.load(checkpoint_dir, model)  # weights only; any world size
    return model


def _distinct(eval_sets: list[EvalSet]) -> list[EvalSet]:
    """Non-empty eval sets, each text once: runs that share validation documents share one eval set."""
    by_text: dict[tuple[str, ...], EvalSet] = {}
    for e in eval_sets:
        if not e.documents:
            continue
        key = tuple(e.documents)
        if key in by_text:
            by_text[key].name += "=" + e.name.split(":", 1)[1]
        else:
            by_text[key] = e
    return list(by_text.values())


def contamination(plan: dict, eval_sets: list[EvalSet]) -> dict:
    """Per external eval set and run: documents sharing a 13-word sequence with the run's training documents
    (the kept documents of the stage before `shards`), found with the decontam stage's n-gram index."""
    from pipeline.commit import parquet_dataset

    before_shards = stages.previous("shards")
    items = {
        e.name: [EvalItem(e.name, str(i), (doc,)) for i, doc in enumerate(e.documents)] for e in eval_sets
    }
    index = build_index(items, NgramRule(0, CONTAMINATION_NGRAM, CONTAMINATION_NGRAM))  # n = 13 for all
    found: dict[str, dict[str, int]] = {e.name: {} for e in eval_sets}
    for info in plan["runs"]:
        docs = layout.docs_dir(info["path"], before_shards)
        seen: set[int] = set()  # eval items (indices into index.item_keys) found in this run's documents
        if docs.is_dir() and not index.empty:
            for batch in parquet_dataset(docs).to_batches(columns=["text"]):
                matches, _, _ = index.match_batch(batch.column("text"))
                seen.update(item for match in matches for item in match.items)
        for e in eval_sets:
            found[e.name][info["name"]] = sum(1 for item in seen if index.set_of(item) == e.name)
    return found


def run_ablation(
    runs: list[str | Path],
    out: str | Path,
    *,
    cfg: dict,
    preset: str | None = None,
    tokens: int | None = None,
    seeds: int = 3,
    eval_texts: list[str | Path] = (),
    anneal: bool = False,
    address: str | None = None,
    max_eval_bytes: int = DEFAULT_MAX_EVAL_BYTES,
    engine: str = "ray",
) -> pd.DataFrame:
    """Train, evaluate and report; returns the results table (also written under OUT/ablate/).
    `preset`: the models' shape (None: `train.preset` of `cfg`). `engine`: "ray" (a local or `address`ed
    Ray cluster) or "local" (this process, no Ray)."""
    if engine not in ENGINES:
        raise AblationError(f"engine {engine!r}: one of {', '.join(ENGINES)}")
    root = Path(out)
    layout.ablate_models_dir(root).mkdir(parents=True, exist_ok=True)
    train = TrainSettings.from_config(cfg)
    plan = make_plan(
        runs, train=train, preset=preset or train.preset, tokens=tokens, seeds=seeds, anneal=anneal
    )
    external = [text_eval_set(p, max_eval_bytes) for p in eval_texts]
    for e in external:
        if not e.documents:
            raise AblationError(f"--eval-text {e.name}: no text")
    plan["contamination"] = contamination(plan, external)
    eval_sets = _distinct([validation_eval_set(i["path"], i["name"], max_eval_bytes) for i in plan["runs"]])
    eval_sets += external
    layout.ablate_plan_path(root).write_text(json.dumps(plan, indent=2))
    infos = {i["name"]: i for i in plan["runs"]}
    rows = []
    for model in plan["models"]:
        done = layout.ablate_model_path(root, model["run_name"])
        if not done.exists():
            info = infos[model["run"]]
            net = _load_model(_train_model(cfg, plan, info, model, layout.ablate_dir(root), address, engine))
            sp = load_tokenizer(info["path"])
            scored = []
            for e in eval_sets:
                loss, bpb = bits_per_byte(net, sp, e)
                scored.append({"eval_set": e.name, "loss": loss, "bits_per_byte": bpb, "eval_bytes": e.bytes})
            done.write_text(json.dumps(scored))
        for r in json.loads(done.read_text()):
            info = infos[model["run"]]
            rows.append(
                {"run": model["run"], "seed": model["seed"], "tokens": plan["tokens"], **r,
                 "epochs": info["epochs"], "repeated": info["repeated"]}
            )  # fmt: skip
    results = pd.DataFrame(rows)
    results.to_parquet(layout.ablate_results_path(root, ".parquet"), index=False)
    layout.ablate_results_path(root, ".md").write_text(markdown(results, plan))
    metrics = layout.metrics_path(layout.train_dir(layout.ablate_dir(root)))
    if metrics.exists():
        plot_curves(metrics, plan, layout.ablate_curves_path(root))
    return results
