"""The `shards` stage: domains, tokenizer, mixture, and Megatron shards with their manifest.

Reads the kept documents of dedup (a boolean `hq` column from the quality stage marks the
annealing documents; absent means none are) and writes OUT/shards/ as in the shard contract:

    1. annotate (mapInArrow): mixing domain by URL/host rules, and the seeded hashes of doc_id that
       decide the held-out split, the tokenizer sample and the shuffled order;
    2. tokenizer: sentencepiece trained on a seeded sample collected to the driver, or
       `mix.tokenizer.model` copied in;
    3. tokenize (mapInArrow) into a scratch Parquet table, one EOS after each document;
    4. mixture from the train tokens per domain (availability U_i): availability-proportional under
       the E_max caps, or the fitted weights of `mix.weights_file`;
    5. write: each partition of the token table sorted on its own by (split, domain, hash, doc_id) and
       written as one Parquet file; the driver merges the files into that global order
       (`pipeline.shards.merge`) and cuts the stream into size-capped shards. The order and the cuts
       depend only on the data and the seed, so any partitioning gives byte-identical shards.

Spark's scratch table (the token stream) is written through pyarrow
(`jobs.arrow_io`) under OUT/_work/shards, so OUT may be an object store. The shards, tokenizer and
manifest are built by the driver in a local folder (the Megatron writer writes local files): OUT/_work/shards
itself when OUT is local, else a temporary folder; `publish` copies them to OUT/shards (the old marker removed first, `_SUCCESS` last).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import logging
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from jobs.arrow_io import read_files, write_partitions
from jobs.frames import read_parquet, spark_schema, with_url_norm
from jobs.output import publish
from jobs.session import size_shuffle_partitions
from mixing.budget import plan_mixture
from pipeline import layout, storage
from pipeline.settings import MixSettings, RunSettings
from pipeline.shards.domains import check_domain_config
from pipeline.shards.megatron import token_dtype
from pipeline.shards.merge import merged_rows, runs
from pipeline.shards.tokenize import load_processor, pii_placeholders, tokenize_array, train_tokenizer
from pipeline.shards.writer import (
    ShardSetWriter,
    as_sort_key,
    build_manifest,
    seeded_hashes,
    sha256_file,
    unit_interval,
    val_cutoffs,
)
from pipeline.stats import rule_rows, stats_table

log = logging.getLogger(__name__)
STAGE = "shards"
RULES = ("empty_text",)
TOKENIZER_FILE = "tokenizer/spm.model"

ANNOTATED = pa.schema(
    [
        ("doc_id", pa.string()),
        ("text", pa.string()),
        ("hq", pa.bool_()),
        ("domain", pa.string()),
        ("split_u", pa.float64()),  # held out when below the domain's cutoff
        ("sample_u", pa.float64()),  # in the tokenizer sample when below the sampling rate
        ("order_key", pa.int64()),  # position in the shuffled stream
    ]
)
TOKENIZED = pa.schema(
    [
        ("doc_id", pa.string()),
        ("split", pa.string()),
        ("domain", pa.string()),
        ("hq", pa.bool_()),
        ("order_key", pa.int64()),
        ("n_tokens", pa.int64()),
        ("tokens", pa.list_(pa.int32())),
    ]
)
_CACHE: dict[tuple, Any] = {}  # per Python worker: the domain assigner and the tokenizer, built once


def _cached(key: tuple, build):
    if key not in _CACHE:
        _CACHE[key] = build()
    return _CACHE[key]


def annotate_partition(batches, domains_json: str, seed: int):
    from pipeline.shards.domains import DomainAssigner

    assigner = _cached(("domains", domains_json), lambda: DomainAssigner(json.loads(domains_json)))
    for batch in batches:
        doc_ids = batch.column("doc_id").to_pylist()
        domain, _ = assigner.assign(batch.column("host"), batch.column("url_norm"), batch.column("text"))
        yield pa.RecordBatch.from_arrays(
            [
                batch.column("doc_id"),
                batch.column("text"),
                pc.fill_null(batch.column("hq").cast(pa.bool_()), False),
                pa.array(domain, pa.string()),
                pa.array(unit_interval(seeded_hashes(doc_ids, seed, "split"))),
                pa.array(unit_interval(seeded_hashes(doc_ids, seed, "tokenizer_sample"))),
                pa.array(as_sort_key(seeded_hashes(doc_ids, seed, "order"))),
            ],
            schema=ANNOTATED,
        )


def tokenize_partition(batches, model: bytes, cutoffs_json: str):
    sp = _cached(("spm", model), lambda: load_processor(model))
    cutoffs = json.loads(cutoffs_json)
    for batch in batches:
        tokens = tokenize_array(sp, batch.column("text"), 1)  # one thread: Spark already runs a task per core
        held_out = [
            u < cutoffs.get(d, 0.0)
            for u, d in zip(batch.column("split_u").to_pylist(), batch.column("domain").to_pylist())
        ]
        yield pa.RecordBatch.from_arrays(
            [
                batch.column("doc_id"),
                pa.array(["val" if v else "train" for v in held_out], pa.string()),
                batch.column("domain"),
                batch.column("hq"),
                batch.column("order_key"),
                pc.list_value_length(tokens).cast(pa.int64()),
                tokens,
            ],
            schema=TOKENIZED,
        )


def _read_documents(spark, inp: str):
    from pyspark.sql import functions as F

    df = read_parquet(spark, inp)
    if "hq" not in df.columns:
        df = df.withColumn("hq", F.lit(False))
    if "drop_reason" in df.columns:
        df = df.where(F.col("drop_reason").isNull())
    # domain rules match the canonical URL
    return with_url_norm(df).select(
        "doc_id", "url_norm", "host", "text", F.col("hq").cast("boolean").alias("hq")
    )


def _tokenizer_model(spark_df, cfg: dict, n_docs: int) -> bytes:
    """The configured `.model`, or one trained on a seeded sample of about `sample_docs` documents."""
    from pyspark.sql import functions as F

    tokenizer = MixSettings.from_config(cfg).tokenizer
    if tokenizer.model:
        return storage.path(tokenizer.model).read_bytes()
    rate = min(1.0, tokenizer.sample_docs / max(n_docs, 1))
    rows = (
        spark_df.where(F.col("sample_u") < rate)
        .select("sample_u", "doc_id", F.substring("text", 1, tokenizer.sample_max_chars).alias("text"))
        # Streamed a partition at a time (the driver JVM never holds the whole sample) and sorted here:
        # the sample is what sentencepiece holds in memory anyway, and a Spark sort would cost a sampling
        # job and a shuffle of the whole annotated table.
        .toLocalIterator(prefetchPartitions=False)
    )
    # The trainer sees the same lines in the same order every run (Python orders str as Spark does).
    sample = sorted(((row["sample_u"], row["doc_id"], row["text"]) for row in rows), key=lambda r: r[:2])
    log.info("training the tokenizer on a sample of %d documents", len(sample))
    # The tokenizer trainer takes its section as a dict (it reads it through TokenizerSettings itself).
    return train_tokenizer((text for _, _, text in sample), cfg["mix"]["tokenizer"], pii_placeholders(cfg))


def _quality_model(out: str) -> dict | None:
    """Path and sha256 of the model that chose the hq documents (OUT/quality_model.json), if any."""
    record = layout.quality_model_record(out)
    if not record.exists():
        return None
    data = json.loads(record.read_text())
    return {"path": data.get("path"), "sha256": data.get("sha256")}


SORT_KEY = ("split", "domain", "order_key", "doc_id")  # the shuffled order of the shard streams


def _sorted_runs(files: Sequence[str], dtype):
    """(split, domain, values, lengths): the documents of the token table's part files, each sorted by
    `SORT_KEY`, merged into the global order in runs of one (split, domain). The anneal split, the hq
    documents of train again, comes first ("anneal" < "train" < "val"), as a second merge of the files."""
    anneal = (pc.field("split") == "train") & pc.field("hq")
    hq = (("anneal", *row[1:]) for row in merged_rows(files, SORT_KEY, "tokens", dtype, where=anneal))
    every = merged_rows(files, SORT_KEY, "tokens", dtype)
    for (split, domain), values, lengths in runs(itertools.chain(hq, every), group=lambda row: row[:2]):
        yield split, domain, values, lengths


@contextlib.contextmanager
def _driver_folder(work: storage.Location) -> Iterator[Path]:
    """A local folder for what the driver writes itself (the Megatron writer writes local files): the
    stage's scratch folder when it is on local disk, else a temporary folder removed afterwards; `publish`
    copies from it into OUT/shards."""
    if isinstance(work, Path):
        work.mkdir(parents=True, exist_ok=True)
        yield work
    else:
        with tempfile.TemporaryDirectory(prefix="shards-") as folder:
            yield Path(folder)


def _write_shard_stream(sorted_runs, root: Path, dtype, max_shard_tokens: int) -> list[dict]:
    """Runs of documents arrive sorted by (split, domain, order): one ShardSetWriter per (split, domain)."""
    shards, writer, current = [], None, None
    for split, domain, values, lengths in sorted_runs:
        if (split, domain) != current:
            if writer is not None:
                shards += writer.close()
            writer, current = ShardSetWriter(root, split, domain, dtype, max_shard_tokens), (split, domain)
        writer.add_documents(values, lengths)
    if writer is not None:
        shards += writer.close()
    return shards


def run(spark, cfg: dict[str, Any], inp: str, out: str) -> list[dict]:
    check_domain_config(cfg["mix"]["domains"])  # names that become folders are checked before any work
    work = layout.work_dir(out, STAGE)
    storage.rmtree(work)
    with _driver_folder(work) as local:
        return _make_shards(spark, cfg, inp, out, work, local)


def _make_shards(spark, cfg: dict[str, Any], inp: str, out: str, work: storage.Location, local: Path):
    """The stage, with Spark's scratch under `work` and the driver's files under the local folder `local`."""
    from pyspark.sql import functions as F

    mix, seed = MixSettings.from_config(cfg), RunSettings.from_config(cfg).seed
    root = local / "shards"
    (root / "tokenizer").mkdir(parents=True)

    size_shuffle_partitions(spark, cfg, inp)
    docs = _read_documents(spark, inp)
    annotated = docs.mapInArrow(
        functools.partial(
            annotate_partition, domains_json=json.dumps(cfg["mix"]["domains"], sort_keys=True), seed=seed
        ),
        spark_schema(ANNOTATED),
    ).withColumn("empty", F.col("text").isNull() | (F.length(F.trim("text")) == 0))
    # One pass counts everything the stats and the split need. Sorted: collect() order follows
    # the partitioning, and the manifest must not.
    counts = sorted(
        (r["domain"], r["empty"], r["docs"], int(r["bytes"] or 0))
        for r in annotated.groupBy("domain", "empty")
        .agg(F.count("*").alias("docs"), F.sum(F.octet_length("text")).alias("bytes"))
        .collect()
    )
    per_domain = {domain: n for domain, empty, n, _ in counts if not empty}
    if not per_domain:  # else sentencepiece fails with "!sentences_.empty()" and no word of why
        storage.rmtree(work)
        raise SystemExit(
            f"shards: no document with text reached this stage ({sum(c[2] for c in counts)} rows in "
            f"{inp}); every page was dropped earlier (see `python -m jobs report OUT`): no shards written"
        )
    empty_docs = sum(n for _, empty, n, _ in counts if empty)
    empty_bytes = sum(b for _, empty, _, b in counts if empty)
    annotated = annotated.where(~F.col("empty")).drop("empty")
    cutoffs = val_cutoffs(per_domain, mix.shards.val_fraction, mix.shards.min_val_docs)

    model = _tokenizer_model(annotated, cfg, sum(per_domain.values()))
    (root / TOKENIZER_FILE).write_bytes(model)
    sp = load_processor(model)
    dtype = token_dtype(sp.get_piece_size())

    tokenized = annotated.mapInArrow(
        functools.partial(tokenize_partition, model=model, cutoffs_json=json.dumps(cutoffs, sort_keys=True)),
        spark_schema(TOKENIZED),
    )
    # Each partition sorted on its own; the driver merges the files into the global order (`_sorted_runs`).
    token_files = write_partitions(tokenized.sortWithinPartitions(*SORT_KEY), work / "tokens")
    tokens = read_files(spark, token_files, TOKENIZED)

    available = {
        r["domain"]: int(r["tokens"])
        for r in tokens.where(F.col("split") == "train")
        .groupBy("domain")
        .agg(F.sum("n_tokens").alias("tokens"))
        .collect()
    }
    fitted = json.loads(storage.path(mix.weights_file).read_text()) if mix.weights_file else None
    mixture = plan_mixture(
        dict(sorted(available.items())),
        model_params=mix.model_params,
        tokens_per_param=mix.tokens_per_param,
        budget=mix.token_budget,
        e_max=mix.e_max,
        fitted=fitted,
    )

    shard_entries = _write_shard_stream(
        _sorted_runs(token_files, dtype), root, dtype, mix.shards.max_shard_tokens
    )

    manifest = build_manifest(
        tokenizer={
            "path": TOKENIZER_FILE,
            "sha256": sha256_file(root / TOKENIZER_FILE),
            "vocab_size": sp.get_piece_size(),
            "type": mix.tokenizer.type if not mix.tokenizer.model else "given",
            "eos_id": sp.eos_id(),
            "user_defined_symbols": pii_placeholders(cfg),
        },
        dtype=dtype,
        mixture=mixture,
        shards=shard_entries,
        anneal_hq_weight=mix.shards.anneal_hq_weight,
        quality_model=_quality_model(out),
        extra={"seed": seed, "val_cutoffs": cutoffs},
    )
    layout.manifest_path(root).write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")

    rows = rule_rows(
        STAGE,
        RULES,
        {f"{STAGE}.empty_text": (empty_docs, empty_bytes)} if empty_docs else {},
        sum(n for _, _, n, _ in counts),
        sum(b for _, _, _, b in counts),
    )
    pq.write_table(stats_table(rows), local / "stats.parquet")
    publish(
        out, STAGE, [(local / "stats.parquet", layout.stats_path(out, STAGE)), (root, layout.shards_dir(out))]
    )
    storage.rmtree(work)
    return rows
