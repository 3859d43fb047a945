"""Command line: `python -m jobs <stage|crawl-to-shards> --input … --output … [--config …] [--master …]`.

Works the same under `spark-submit jobs/__main__.py …`. Exit code 0 = done; non-zero = failed, with
the reason on the last line of stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import tempfile
from pathlib import Path

from pipeline import stages, storage
from pipeline.config import ConfigError, load_config, parse_overrides


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m jobs", description=__doc__)
    parser.add_argument("command", choices=[*stages.BY_NAME, "crawl-to-shards", "demo-crawl"])
    parser.add_argument(
        "--input",
        action="append",
        help="WARC files/dirs/globs, crawl:CC-MAIN-…[/SEGMENTS], "
        "or (for later stages) a Parquet folder; default: the previous stage's output in --output",
    )
    parser.add_argument("--output", required=True, help="the run folder OUT")
    parser.add_argument("--config", help="run config YAML (merged over configs/default.yaml)")
    parser.add_argument("--master", help="Spark master URL (default: config spark.master, or spark-submit's)")
    parser.add_argument("--force", action="store_true", help="rerun a stage even if its output is complete")
    parser.add_argument(
        "--until",
        choices=stages.NAMES,
        help="crawl-to-shards: stop after this stage (e.g. --until filter: extract and filter, fused in one pass)",
    )
    parser.add_argument(
        "--from",
        dest="start_from",
        choices=[source.name for source in stages.SOURCES],
        help="crawl-to-shards: what --input is: WARC files (extract, the default) or an existing corpus "
        "(import: JSONL/Parquet, imported, then filter … shards)",
    )
    for field in _import_fields():
        flag = "--" + field.replace("_", "-")
        parser.add_argument(flag, help=f"import: the (dotted) field of a record holding its {field[:-6]}")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key, e.g. --set extract.lang_min_score=0.5 (YAML value)",
    )
    return parser.parse_args(argv)


def _import_fields() -> tuple[str, ...]:
    """`--text-field` … set the `import` section's keys (pipeline/settings.py ImportSettings)."""
    from pipeline.settings import ImportSettings

    return tuple(f.name for f in dataclasses.fields(ImportSettings))


def _overrides(pairs: list[str], args: argparse.Namespace | None = None) -> dict:
    out = {f"import.{name}": getattr(args, name, None) for name in _import_fields()}
    out = {key: value for key, value in out.items() if value is not None}
    return {**out, **parse_overrides(pairs)}


def _offline_command(argv: list[str]) -> int | None:
    """`report OUT` and `diff OUT_A OUT_B` read Parquet only: no Spark session."""
    if not argv or argv[0] not in ("report", "diff"):
        return None
    if argv[0] == "report" and len(argv) == 2:
        _print_funnel_and_report(argv[1])
        return 0
    if argv[0] == "diff" and len(argv) == 3:
        import pandas as pd

        from pipeline.inspect.rundiff import changed_rows, diff_contamination, diff_runs

        with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_rows", 500):
            changed = changed_rows(diff_runs(argv[1], argv[2]))
            print(changed.to_string(index=False) if len(changed) else "no rule changed its drops")
            contamination = diff_contamination(argv[1], argv[2])
            if len(contamination):
                print(contamination.to_string(index=False))
        return 0
    print("usage: python -m jobs report OUT | python -m jobs diff OUT_A OUT_B", file=sys.stderr)
    return 2


def _print_funnel_and_report(out: str) -> None:
    from pipeline.inspect.report import build_report, funnel_table_text
    from pipeline.inspect.runstats import contamination_text, funnel

    print(funnel_table_text(funnel(out)))
    if contamination_text(out):
        print(contamination_text(out))
    print(f"report: {build_report(out)}")


def _class_archive_command(argv: list[str]) -> int | None:
    """`class-archive [--config FILE]`: build the JVM class-data archive local runs start from."""
    if not argv or argv[0] != "class-archive":
        return None
    from jobs.session import build_class_archive

    parser = argparse.ArgumentParser(
        prog="python -m jobs class-archive", description=_class_archive_command.__doc__
    )
    parser.add_argument("--config", help="run config YAML: its spark.local_java_options are the archive's")
    args = parser.parse_args(argv[1:])
    print(f"class archive: {build_class_archive(load_config(args.config))}")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.getLogger("py4j").setLevel(logging.WARNING)
    argv_given = sys.argv[1:] if argv is None else argv
    for command in (_offline_command, _class_archive_command):
        done = command(argv_given)
        if done is not None:
            return done
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    try:
        cfg = load_config(args.config, _overrides(args.set, args))
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    if args.command == "demo-crawl":
        from pipeline.fixtures.demo_crawl import generate_demo_crawl

        if storage.is_remote(args.output):  # generated on local disk, then uploaded
            with tempfile.TemporaryDirectory() as local:
                files = generate_demo_crawl(Path(local), seed=cfg["run"]["seed"])
                storage.copy(local, args.output)
        else:
            files = generate_demo_crawl(Path(args.output), seed=cfg["run"]["seed"])
        print(f"demo crawl: {len(files)} WARC files in {args.output}")
        return 0

    from pipeline.fingerprint import MissingInput
    from pipeline.runlock import RunLocked, run_lock

    try:
        with run_lock(args.output):  # before Spark starts: a second writer is refused at once
            return _start(args, cfg)
    except (RunLocked, MissingInput) as exc:
        raise SystemExit(str(exc)) from None


def _start(args: argparse.Namespace, cfg: dict) -> int:
    """Checks that need no Spark, then the Spark session and the command (run under the run lock)."""
    from jobs.chain import stage_fingerprint
    from jobs.failures import StageOutOfMemory
    from jobs.session import get_spark

    chain = _stages_of(args)
    try:
        inputs = _inputs(args, cfg)
    except ValueError as exc:
        print(f"input error: {exc}", file=sys.stderr)
        return 2
    for stage in chain:  # a missing list, model or eval set: one line before Spark starts, not a trace
        try:
            stages.preflight(stage, cfg)
        except (ValueError, FileNotFoundError) as exc:  # ConfigError included
            print(f"{stages.spec(stage).preflight_error}: {exc}", file=sys.stderr)
            return 2
    if args.command in stages.NAMES:  # an unfinished input (no _SUCCESS) is refused before Spark starts
        stage_fingerprint(cfg, args.command, inputs)
    spark = get_spark(cfg, args.master)
    try:
        _run(spark, cfg, args, inputs)
    except StageOutOfMemory as exc:
        raise SystemExit(str(exc)) from None  # one line; the Py4J trace says nothing more useful
    finally:
        _stop(spark)
    return 0


def _stages_of(args: argparse.Namespace) -> tuple[str, ...]:
    """The stages a command runs: one stage, or crawl-to-shards' chain up to --until (from --from's source)."""
    return (args.command,) if args.command in stages.BY_NAME else stages.chain(args.until, args.start_from)


def _inputs(args: argparse.Namespace, cfg: dict):
    """What the command reads: for a first stage (extract, import) or a chain starting with one, its input
    files, resolved so a missing one fails before Spark starts; for a later stage one documents folder,
    by default the previous stage's output."""
    first = _stages_of(args)[0]
    if stages.previous(first) is None:
        return stages.input_files(first, cfg, args.input)
    if not args.input:
        return stages.default_input(args.output, args.command)
    if len(args.input) > 1:
        raise ValueError(
            f"{args.command} reads one documents folder, got {len(args.input)} --input values "
            f"({', '.join(args.input)}); run it once per folder, or give the WARC files to crawl-to-shards"
        )
    return args.input[0]


def _stop(spark) -> None:
    from jobs.failures import jvm_exited

    if jvm_exited(spark):  # after an out-of-memory exit: nothing to stop, and py4j would log a trace
        return
    try:
        spark.stop()
    except Exception:  # the JVM is already gone (e.g. after an out-of-memory exit)
        logging.getLogger("jobs").debug("spark.stop() failed", exc_info=True)


def _run(spark, cfg: dict, args: argparse.Namespace, inputs) -> None:
    from jobs.chain import crawl_to_shards, run_stage

    if args.command == "crawl-to-shards":
        crawl_to_shards(spark, cfg, inputs, args.output, stages=_stages_of(args))
        _print_funnel_and_report(args.output)
        return
    run_stage(spark, cfg, args.command, inputs, args.output, force=args.force)


if __name__ == "__main__":
    from jobs import failures

    failures.raise_on_signals()
    try:
        sys.exit(main())
    except SystemExit as exc:
        if isinstance(exc.code, str):  # a reason: print it last, exit 1
            failures.end_jvm()
            print(f"FAILED: {exc.code}", file=sys.stderr)
            sys.exit(1)
        raise
    except KeyboardInterrupt as exc:  # SIGINT or SIGTERM: locks released and Spark stopped on the way here
        failures.end_jvm()
        reason, code = failures.interrupted_exit(exc)
        print(f"FAILED: {reason}", file=sys.stderr)
        sys.exit(code)
    except Exception as exc:  # the reason goes on the last line for schedulers
        reason = failures.out_of_disk_reason(exc, failures.output_arg(sys.argv[1:]))
        if reason is None:
            logging.getLogger("jobs").exception("job failed")
            reason = failures.reason_line(exc)
        else:  # the trace says nothing more than the reason
            logging.getLogger("jobs").debug("job failed", exc_info=True)
        failures.end_jvm()
        print(f"FAILED: {reason}", file=sys.stderr)
        sys.exit(1)
