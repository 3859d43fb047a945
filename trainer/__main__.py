"""Command line: `python -m trainer train|fit-mixture --out OUT ...`.

    python -m trainer train --out runs/demo --preset tiny --steps 200 --workers 1
    python -m trainer train --out runs/demo --run-name anneal-hq80 --branch-from-pre-decay main \
        --set train.hq_weight=0.8
    python -m trainer train --out runs/crawl2 --run-name cont --init-from runs/demo/train/main/checkpoint_000200 \
        --set train.replay=0.05 --set train.lr=3e-4
    python -m trainer fit-mixture --out runs/demo --steps 60
    python -m trainer ablate --runs runs/a runs/b --out runs/ablate --seeds 3
    python -m trainer ablate-variants --input crawl/ --out runs/sel --vary quality.selection=none,threshold

The `train:` section of the config (configs/default.yaml, merged with --config) is what a run trains with;
`--set train.KEY=VALUE` overrides any key (checked like the YAML's, in one line before Ray starts), and
--preset, --steps, --workers and --run-name are shorthands for their `train.` key.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import uuid
from pathlib import Path

from pipeline import layout, storage
from pipeline.config import ConfigError, load_config, parse_overrides
from pipeline.settings import TrainSettings

# WikiText-2's validation articles (Merity et al. 2016): held-out encyclopedic text for ablations
DEFAULT_EVAL_TEXT = "../shared/data/wikitext2/valid.txt"


def _presets() -> list[str]:
    from trainer.model import PRESETS  # the one list of model shapes

    return list(PRESETS)


# Flags that set a `train:` key (the ones typed daily); every other key: --set train.KEY=VALUE
TRAIN_KEY_FLAGS = ("preset", "steps", "workers", "run_name")


def _set_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key, e.g. --set train.lr=3e-4 --set train.gpu=true (YAML value)",
    )


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="run directory holding shards/ (input) and train/ (output)")
    p.add_argument("--config", help="YAML merged over configs/default.yaml")
    _set_flag(p)
    p.add_argument("--preset", choices=_presets(), help="train.preset")
    p.add_argument("--steps", type=int, help="train.steps")
    p.add_argument("--workers", type=int, help="train.workers: Ray workers (one per GPU with train.gpu)")
    p.add_argument(
        "--address",
        help="an existing Ray cluster's head, HOST:PORT (default: $RAY_ADDRESS, else a new local Ray instance)",
    )


def _settings(args: argparse.Namespace) -> tuple[dict, dict]:
    """(the whole config, the `train:` keys this command line set): the default config, --config, then
    --set pairs, then the flags that set a train key; every value checked like a config file's."""
    overrides = parse_overrides(args.set)
    for flag in TRAIN_KEY_FLAGS:
        if getattr(args, flag, None) is not None:
            overrides[f"train.{flag}"] = getattr(args, flag)
    cfg = load_config(args.config, overrides)
    given = {
        key.removeprefix("train."): value for key, value in overrides.items() if key.startswith("train.")
    }
    return cfg, given


def _ablation_args(p: argparse.ArgumentParser) -> None:
    from trainer.ablate import ENGINES

    p.add_argument("--out", required=True, help="results go to OUT/ablate/")
    p.add_argument(
        "--config", help="YAML merged over configs/default.yaml (its train: section sets the batch)"
    )
    p.add_argument("--preset", choices=_presets(), help="the models' shape (default: train.preset)")
    p.add_argument(
        "--tokens", type=int, help="training tokens per model (default: one epoch of the smallest run)"
    )
    p.add_argument("--seeds", type=int, default=3, help="models per run; seed k starts every run alike")
    p.add_argument(
        "--eval-text",
        action="append",
        help=f"plain-text reference file(s) (WikiText is detokenized); default: {DEFAULT_EVAL_TEXT} if present",
    )
    p.add_argument(
        "--anneal", action="store_true", help="anneal on the hq mix in the decay (default: main mix)"
    )
    p.add_argument("--address", help="an existing Ray cluster (default: start a local one)")
    p.add_argument("--gpu", action="store_true", help="train.gpu: one GPU per model")
    _set_flag(p)
    p.add_argument(
        "--engine",
        choices=ENGINES,
        default=ENGINES[0],
        help="local: train each model in this process with trainer.local (no Ray; the GPU when present)",
    )


def _ablate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from trainer.ablate import AblationError, run_ablation

    runs = args.runs if args.command == "ablate" else None
    try:
        overrides = parse_overrides(args.set) | ({"train.gpu": True} if args.gpu else {})
        cfg = load_config(args.config, overrides)  # first: a bad value is refused before any work
        if runs is None:
            from trainer.variants import run_variants

            runs = run_variants(args.input, args.out, args.vary, args.config)
        eval_texts = args.eval_text or [p for p in [DEFAULT_EVAL_TEXT] if Path(p).exists()]
        run_ablation(
            runs, args.out, cfg=cfg, preset=args.preset, tokens=args.tokens,
            seeds=args.seeds, eval_texts=eval_texts, anneal=args.anneal, address=args.address,
            engine=args.engine,
        )  # fmt: skip
    except (AblationError, ConfigError, FileNotFoundError) as exc:
        print(f"ablate: {exc}", file=sys.stderr)
        return 2
    print(layout.ablate_results_path(args.out, ".md").read_text())
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m trainer")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="pretrain on OUT/shards with Ray Train")
    _common(train)
    train.add_argument(
        "--run-name", help="train.run_name: the run's folder under OUT/train (rerun the same name to resume)"
    )
    train.add_argument("--stop-after", type=int, help="checkpoint and stop after this step (rerun resumes)")
    train.add_argument(
        "--branch-from-pre-decay",
        nargs="?",
        const="main",
        metavar="RUN",
        help="start a new anneal from OUT/train/pre_decay/RUN (default RUN: main)",
    )
    train.add_argument(
        "--init-from", metavar="CKPT", help="continual pretraining: weights of CKPT, new schedule and data"
    )
    fit = sub.add_parser(
        "fit-mixture", help="proxy trainings for the mixtures of `mixing propose`, then `mixing fit`"
    )
    _common(fit)
    fit.add_argument("--proposals", help="proxy mixtures JSON (default: propose them from the manifest)")
    ablate = sub.add_parser(
        "ablate", help="equal-token small models on each run's shards, compared in bits/byte"
    )
    _ablation_args(ablate)
    ablate.add_argument(
        "--runs", nargs="+", required=True, help="run folders holding shards/ (the first is the baseline)"
    )
    variants = sub.add_parser(
        "ablate-variants", help="crawl-to-shards once per value of one config key, then ablate"
    )
    _ablation_args(variants)
    variants.add_argument("--input", action="append", required=True, help="WARC input of crawl-to-shards")
    variants.add_argument(
        "--vary", required=True, help="KEY=VALUE1,VALUE2[,...], e.g. quality.selection=none,threshold"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    remote = [where for where in [args.out, *(getattr(args, "runs", None) or [])] if storage.is_remote(where)]
    if remote and args.command != "train":  # their mixing and evaluation files are read and written locally
        why = f"`{args.command}` needs local run folders (only `train` takes an object store)"
        print(f"FAILED: {remote[0]}: {why}", file=sys.stderr)
        return 2
    if args.command in ("ablate", "ablate-variants"):
        return _ablate(args)
    try:  # a bad key or value: one line, before Ray starts
        cfg, given = _settings(args)
        t = TrainSettings.from_config(cfg)
    except ConfigError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 2
    from trainer.train import placement_check

    problem, note = placement_check(t.workers, t.gpu, args.address)
    if problem:
        print(f"FAILED: {problem}", file=sys.stderr)
        return 2
    if note:
        print(note, file=sys.stderr)
    config = None
    if args.command == "train":
        from trainer.train import loop_config

        try:  # a bad name, schedule or starting checkpoint: one line, before Ray starts
            config = loop_config(
                t,
                args.out,
                t.run_name,
                stop_after=args.stop_after,
                branch_from_pre_decay=args.branch_from_pre_decay,
                init_from=args.init_from,
            )
        except (ValueError, FileNotFoundError) as exc:  # ConfigError included
            print(f"FAILED: {exc}", file=sys.stderr)
            return 2
    from pipeline.runlock import RunLocked

    with contextlib.ExitStack() as locks:
        try:
            writes = layout.train_dir(args.out) if config else layout.mixing_dir(args.out)
            _hold_locks(locks, args.out, writes, config and config["init_from"])
        except RunLocked as exc:
            print(f"FAILED: {exc}", file=sys.stderr)
            return 1
        # before Ray starts: a bad shard is one line naming the file; shards on an object store are staged
        # into the local cache here, and the workers of this launch (`token`) find them verified
        token = uuid.uuid4().hex
        problem = _shards_problem(args.out, t.cache_dir, token)
        if problem:
            print(f"FAILED: {problem}", file=sys.stderr)
            return 1
        if config:
            config["cache_token"] = token
            return _train(config, t, args.address)
        return _fit_mixture(cfg, t, given, args)


def _hold_locks(locks: contextlib.ExitStack, out: str, writes: Path, init_from: str | None) -> None:
    """A training's locks, for as long as it runs: the folder it writes exclusively (one training per
    OUT/train), and the run lock of each run whose shards it reads shared (no stage may rewrite them
    meanwhile): OUT's, and with --init-from the continued run's (replayed, and validated on)."""
    from pipeline.runlock import folder_lock, run_lock
    from trainer.checkpoint import read_meta

    locks.enter_context(run_lock(out, shared=True))  # first: a refused training creates no folder
    locks.enter_context(folder_lock(writes, pick="another --out"))
    if init_from:
        locks.enter_context(run_lock(storage.path(read_meta(init_from)["shards_dir"]).parent, shared=True))


def _train(config: dict, t: TrainSettings, address: str | None) -> int:
    from trainer.checkpoint import newest_intact
    from trainer.interrupt import run_on_ray
    from trainer.train import fit as ray_fit
    from trainer.train import local_cpus

    run_dir = layout.run_dir(config["out_dir"], config["run_name"])
    intact, damaged = newest_intact(run_dir)  # the workers resume from the same one
    if damaged and intact is None:
        (newest, why), more = damaged[0], len(damaged) - 1
        print(
            f"FAILED: {run_dir}: no checkpoint verifies ({newest.name}: {why}; {more} more); "
            "move the run folder aside to start it afresh",
            file=sys.stderr,
        )
        return 1
    if damaged:
        skipped = "; ".join(f"{path.name}: {why}" for path, why in damaged)
        print(
            f"resume: skipping damaged checkpoints ({skipped}); resuming from {intact.name}", file=sys.stderr
        )

    run_on_ray(
        lambda: ray_fit(config, t, address),
        address,
        num_cpus=local_cpus(t.workers),
    )
    print(f"done: {config['run_name']} -> {run_dir}; metrics in {layout.metrics_path(config['out_dir'])}")
    return 0


def _fit_mixture(cfg: dict, t: TrainSettings, given: dict, args: argparse.Namespace) -> int:
    from trainer.interrupt import run_on_ray
    from trainer.proxies import fit_mixture
    from trainer.train import local_cpus

    weights_path = run_on_ray(
        lambda: fit_mixture(cfg, args.out, given, address=args.address, proposals=args.proposals),
        args.address,
        num_cpus=local_cpus(t.workers),
    )
    print(f"fitted weights -> {weights_path}")
    return 0


def _shards_problem(out: str, cache_dir: str, token: str) -> str | None:
    from trainer.data import load_manifest
    from trainer.shard_cache import local_shards
    from trainer.verify import ShardError, verify_shards

    try:
        shards = layout.shards_dir(out)
        # from an object store: staged into the cache, each file's sha256 checked on the way
        local = local_shards(shards, cache_dir, token)
        verify_shards(local, load_manifest(local), sha256=not storage.is_remote(shards))
    except (ShardError, FileNotFoundError, storage.StorageError) as exc:
        return str(exc)
    return None


def run(argv: list[str] | None = None) -> int:
    """`main`, with a cluster that cannot be used reported on one line (exit 2) instead of a traceback,
    and SIGTERM/SIGINT ending the run on one line (exit 128 + the signal) once Ray is stopped."""
    from trainer.cluster import ClusterConnectError
    from trainer.interrupt import Interrupted

    try:
        return main(argv)
    except ClusterConnectError as exc:
        print(f"ray cluster error: {exc}", file=sys.stderr)
        return 2
    except Interrupted as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        # the training thread may still sit in Ray's client code, which an orderly interpreter exit can abort
        os._exit(exc.exit_code)


if __name__ == "__main__":
    sys.exit(run())
