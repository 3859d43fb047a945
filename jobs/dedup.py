"""The dedup stage on Spark: URL dedup, MinHash document dedup, CCNet line dedup.

Every step is a DataFrame program; Python runs only inside `mapInArrow` over pure batch functions
from `pipeline/dedup/` (signatures, line hashes, line removal). Nothing proportional to the corpus
is collected on the driver: candidate pairs, connected components and the keep rule are joins,
group-bys and windows.

Every decision is taken on narrow tables: the verdict table (doc_id, keys, drop_reason, cluster
columns) and the text features (signature bands and line hashes, from one Python pass over the text).
The documents themselves cross one shuffle, the final join of the verdicts by doc_id; shuffling and
caching whole documents once per step cost more than half of the stage at a million documents.

1. URL: documents with the same canonical URL (`url_norm`) keep the newest fetch (ties: better quality, then
   smaller doc_id); the others get `dedup.url`.
2. MinHash: signatures -> one bucket per (band, band hash) -> each bucket links its members to its
   smallest node (a star, so edges grow linearly with bucket size, not quadratically) -> optional
   exact Jaccard check -> connected components (jobs/dedup_components.py) -> one document kept per
   component by `KEEP_ORDER`; the others get `dedup.minhash`.
3. Lines: normalised line hashes counted over the kept documents; lines in more than `max_count`
   documents are cut; documents left shorter than `min_words` get `dedup.line_min_words`.

Rejected rows carry `duplicate_of` (doc_id of the kept copy), `dedup_cluster_id` (the same id: a
cluster is named by the document it keeps) and `dedup_cluster_size`. Per-host line removal totals go
to `OUT/stats/dedup_lines_by_host.parquet`.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from typing import Any

import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from jobs.dedup_components import connected_components
from jobs.frames import arrow_schema, read_parquet, spark_schema, with_url_norm
from jobs.output import StageStep, write_stages
from jobs.session import size_shuffle_partitions
from pipeline.dedup.lines import (
    LINE_DEDUP,
    LINE_MIN_WORDS,
    REMOVAL_COLUMNS,
    WORDS_LEFT,
    apply_line_removal,
    line_hash_array,
)
from pipeline.dedup.lsh import band_hashes, bands_rows
from pipeline.dedup.minhash import MinHasher
from pipeline.dedup.shingles import normalized_words, normalized_words_and_lines
from pipeline.rules import line_columns
from pipeline.schema import conform
from pipeline.settings import DedupSettings, LineDedupSettings, MinHashSettings

log = logging.getLogger(__name__)

STAGE = "dedup"
RULES = ["url", "minhash", LINE_MIN_WORDS.name]
LINE_RULES = line_columns((LINE_DEDUP,))
CLUSTER_COLUMNS = {"duplicate_of": "string", "dedup_cluster_id": "string", "dedup_cluster_size": "long"}
VERDICT_COLUMNS = ("drop_reason", *CLUSTER_COLUMNS)  # what the steps decide for each document


def keep_key(recency_first: bool = False) -> Column:
    """Which copy a cluster keeps: the member with the smallest key -- highest quality_score (null =
    lowest), newest fetch, smallest doc_id. URL dedup puts recency first ("keep the newest fetch").
    A struct, so the choice is one `min` aggregate: partial per task, never a whole cluster in one buffer."""
    quality = [F.col("quality_score").isNull(), F.coalesce(-F.col("quality_score"), F.lit(0.0))]
    newest = [F.col("fetch_time").isNull(), F.coalesce(-F.unix_micros("fetch_time"), F.lit(0))]
    order = [*newest, *quality] if recency_first else [*quality, *newest]
    return F.struct(*[c.alias(f"k{i}") for i, c in enumerate(order)], F.col("doc_id").alias("doc_id"))


def keepers(members: DataFrame, key: str, recency_first: bool = False) -> DataFrame:
    """(key, _rep, _size): per cluster, the doc_id kept by `keep_key` and the member count."""
    return members.groupBy(key).agg(
        F.min(keep_key(recency_first)).doc_id.alias("_rep"), F.count(F.lit(1)).alias("_size")
    )


def run(spark, cfg: dict[str, Any], inp: str, out: str) -> list[dict]:
    size_shuffle_partitions(spark, cfg, inp)
    cached: list[DataFrame] = []
    df, removal = marked_frame(read_parquet(spark, inp), DedupSettings.from_config(cfg), cached)
    # Line removal runs inside the write pass: the rows cross from the JVM to Python once, not twice.
    schema = removal.schema if removal else arrow_schema(df)
    step = StageStep(STAGE, schema, tuple(RULES), removal, dict(LINE_RULES))
    tables = {"lines_by_host": host_line_stats} if removal else {}
    stats = write_stages(df, [step], out, {STAGE: []}, {STAGE: tables})[STAGE]
    for frame in cached:  # free executor storage before the next stage of a chain
        frame.unpersist()
    return stats


def dedup_frame(df: DataFrame, dedup: DedupSettings, cached: list | None = None) -> tuple[DataFrame, bool]:
    """All rows of `df` with the dedup columns added, `drop_reason` set on duplicates and repeated lines
    removed; and whether line dedup ran (so per-host line stats exist). Frames it persists are added to
    `cached`."""
    df, removal = marked_frame(df, dedup, cached)
    if removal:
        df = df.mapInArrow(removal, spark_schema(removal.schema))
    return df, removal is not None


@dataclasses.dataclass(frozen=True)
class LineRemoval:
    """The last step of line dedup, a function of a partition's batches: cut each document's
    `removed_lines` and re-check its length; `schema` is its output (without `removed_lines`)."""

    min_words: int
    schema: pa.Schema

    def __call__(self, batches):
        for batch in batches:
            yield conform(apply_line_removal(batch, self.min_words), self.schema)


def marked_frame(
    df: DataFrame, dedup: DedupSettings, cached: list | None = None
) -> tuple[DataFrame, LineRemoval | None]:
    """All rows of `df` with the dedup columns added and `drop_reason` set on duplicates, and the line
    removal still to run over them (None when line dedup is off). Frames it persists are added to
    `cached`."""
    cached = [] if cached is None else cached
    for name, type_ in (("quality_score", "float"), ("drop_reason", "string")):
        if name not in df.columns:  # quality stage skipped: every copy ranks as lowest quality
            df = df.withColumn(name, F.lit(None).cast(type_))
    df = with_url_norm(df)
    for name, type_ in CLUSTER_COLUMNS.items():
        df = df.withColumn(name, F.lit(None).cast(type_))
    for name in REMOVAL_COLUMNS:
        df = df.withColumn(name, F.lit(0).cast("long"))
    df = df.withColumn(WORDS_LEFT, F.lit(None).cast("long"))
    if not (dedup.url_enabled or dedup.minhash_enabled or dedup.lines_enabled):
        return df, None

    # The verdicts: narrow rows that the steps below decide on; the text is read by one Python pass.
    verdicts = df.select("doc_id", "url_norm", "quality_score", "fetch_time", *VERDICT_COLUMNS)
    if dedup.minhash_enabled or dedup.lines_enabled:
        features = text_features(df, dedup).persist(StorageLevel.MEMORY_AND_DISK)
        cached.append(features)
    if dedup.url_enabled:
        verdicts = url_dedup(verdicts).persist(StorageLevel.MEMORY_AND_DISK)
        cached.append(verdicts)
    if dedup.minhash_enabled:
        verdicts = minhash_dedup(verdicts, features, dedup.minhash, cached).persist(
            StorageLevel.MEMORY_AND_DISK
        )
        cached.append(verdicts)
    cut = []
    if dedup.lines_enabled:
        verdicts, cut = line_dedup(verdicts, features, dedup.lines, cached), ["removed_lines"]
    order = df.columns + cut
    if dedup.minhash_enabled or dedup.lines_enabled:  # where joins by doc_id have always put it
        order = ["doc_id", *(c for c in order if c != "doc_id")]
    # The one shuffle of whole documents: a hash join built on the verdicts, through which the
    # documents stream unsorted.
    verdicts = verdicts.select("doc_id", *VERDICT_COLUMNS, *cut).hint("shuffle_hash")
    df = df.drop(*VERDICT_COLUMNS).join(verdicts, "doc_id", "left").select(*order)
    if not cut:
        return df, None
    kept_columns = pa.schema([f for f in arrow_schema(df) if f.name != "removed_lines"])
    return df, LineRemoval(int(dedup.lines.min_words), kept_columns)


def text_features(df: DataFrame, dedup: DedupSettings) -> DataFrame:
    """(doc_id, node[, n_shingles, bands[, shingle_set]][, line_hashes]) of every document not dropped
    before: what MinHash and line dedup need of the text, from one Python pass over it. Documents that
    URL or MinHash dedup drops on the way are filtered out of these narrow rows, not out of the text."""
    minhash = dedup.minhash if dedup.minhash_enabled else None
    schema = []
    if minhash:
        schema += ["n_shingles long", "bands array<long>"]
        if minhash.verify_jaccard:
            schema.append("shingle_set array<long>")
    if dedup.lines_enabled:
        schema.append("line_hashes array<long>")
    return (
        df.where(F.col("drop_reason").isNull())
        .select("doc_id", "text")
        .mapInArrow(
            lambda it: feature_batches(it, minhash, dedup.lines_enabled),
            ", ".join(["doc_id string", *schema]),
        )
        # Node ids for the graph: a 64-bit hash of doc_id (collision odds ~n^2 / 2^65).
        .withColumn("node", F.xxhash64("doc_id"))
    )


def feature_batches(batches, minhash: MinHashSettings | None, lines: bool):
    """mapInArrow body: (doc_id, text) -> (doc_id[, signature columns][, line_hashes]). The text is
    normalised once for both: its words for the shingles, its lines for the line hashes."""
    for batch in batches:
        texts = batch.column("text").to_pylist()
        arrays, names = [batch.column("doc_id")], ["doc_id"]
        if lines:
            words, doc_lines = zip(*map(normalized_words_and_lines, texts)) if texts else ((), ())
        else:
            words = [normalized_words(t) for t in texts]
        if minhash:
            signature = signature_batch(list(words), minhash)
            arrays += signature.columns
            names += signature.schema.names
        if lines:
            arrays.append(line_hash_array(list(doc_lines)))
            names.append("line_hashes")
        yield pa.RecordBatch.from_arrays(arrays, names=names)


# --- 1. URL ---------------------------------------------------------------------------------------
def url_dedup(df: DataFrame) -> DataFrame:
    # Unparseable URLs, and rows dropped before, never match anything: their key is unique.
    own_key = F.concat(F.lit("doc:"), F.col("doc_id"))
    active = F.col("drop_reason").isNull()
    df = df.withColumn("_url_key", F.when(active, F.coalesce("url_norm", own_key)).otherwise(own_key))
    df = df.join(keepers(df, "_url_key", recency_first=True), "_url_key", "left")
    dup = active & (F.col("doc_id") != F.col("_rep"))
    return _mark(df, dup, "dedup.url", active).drop("_url_key", "_rep", "_size")


def _mark(df: DataFrame, dup: Column, reason: str, member: Column) -> DataFrame:
    """Set the cluster columns from `_rep`/`_size` on `member` rows and `reason` on `dup` rows."""
    # The conditions read drop_reason, so they are materialised before any column changes.
    df = df.withColumn("_dup", dup).withColumn("_member", member)
    return (
        df.withColumn("drop_reason", F.when(F.col("_dup"), F.lit(reason)).otherwise(F.col("drop_reason")))
        .withColumn("duplicate_of", F.when(F.col("_dup"), F.col("_rep")).otherwise(F.col("duplicate_of")))
        .withColumn(
            "dedup_cluster_id", F.when(F.col("_member"), F.col("_rep")).otherwise(F.col("dedup_cluster_id"))
        )
        .withColumn(
            "dedup_cluster_size",
            F.when(F.col("_member"), F.col("_size")).otherwise(F.col("dedup_cluster_size")),
        )
        .drop("_dup", "_member")
    )


# --- 2. MinHash -----------------------------------------------------------------------------------
def signature_batch(words: list[list[bytes]], minhash: MinHashSettings) -> pa.RecordBatch:
    """(n_shingles, bands[, shingle_set]) of each document, given as its normalised words."""
    bands, rows = bands_rows(dataclasses.asdict(minhash))
    hasher = _hasher(minhash)
    hv, counts = hasher.shingle_hashes_of_words(words)
    flat = band_hashes(hasher.signatures_from_hashes(hv, counts), bands, rows)
    arrays = [
        pa.array(counts, pa.int64()),
        pa.ListArray.from_arrays(pa.array(range(0, flat.size + 1, bands), pa.int32()), flat.ravel()),
    ]
    names = ["n_shingles", "bands"]
    if minhash.verify_jaccard:  # the distinct shingle hashes, for the exact check of candidates
        ends = counts.cumsum()
        arrays.append(
            pa.array(
                [sorted(set(hv[e - c : e].tolist())) for e, c in zip(ends, counts)], pa.list_(pa.int64())
            )
        )
        names.append("shingle_set")
    return pa.RecordBatch.from_arrays(arrays, names=names)


@functools.lru_cache(maxsize=4)
def _hasher(minhash: MinHashSettings) -> MinHasher:
    """One hasher (its permutations drawn once) per settings, per worker process."""
    return MinHasher(minhash.num_perm, minhash.seed, minhash.scheme, minhash.hash, minhash.ngram)


def candidate_edges(signatures: DataFrame, cached: list) -> DataFrame:
    """(src, dst) links: every member of a (band, bucket) to the bucket's smallest node."""
    buckets = signatures.where(F.col("n_shingles") > 0).select(
        "node", F.posexplode("bands").alias("band", "bucket")
    )
    # The smallest node per bucket as an aggregate joined back (not a window): a bucket of
    # boilerplate pages with very many members never sits in one task's buffer. Nearly every bucket
    # holds one document; those of two or more are counted first (`_materialized`), so that the join
    # is planned on their real size: broadcast when small, where joining every bucket sorted all of them.
    shared = (
        buckets.groupBy("band", "bucket")
        .agg(F.min("node").alias("dst"), F.count(F.lit(1)).alias("members"))
        .where(F.col("members") > 1)
        .drop("members")
    )
    edges = buckets.join(_materialized(shared, cached), ["band", "bucket"]).where(
        F.col("node") != F.col("dst")
    )
    return edges.select(F.col("node").alias("src"), "dst").distinct()


def _materialized(df: DataFrame, cached: list) -> DataFrame:
    """`df` computed and cached now, so the joins that read it are planned on its real size."""
    df = df.persist(StorageLevel.MEMORY_AND_DISK)
    df.count()
    cached.append(df)
    return df


def verified_edges(edges: DataFrame, signatures: DataFrame, threshold: float) -> DataFrame:
    """Candidate edges whose exact shingle-set Jaccard is at least `threshold`."""
    sets = signatures.select("node", "shingle_set")
    a = sets.select(F.col("node").alias("src"), F.col("shingle_set").alias("a"))
    b = sets.select(F.col("node").alias("dst"), F.col("shingle_set").alias("b"))
    joined = edges.join(a, "src").join(b, "dst")
    inter = F.size(F.array_intersect("a", "b"))
    jaccard = inter / (F.size("a") + F.size("b") - inter)
    return joined.where(jaccard >= threshold).select("src", "dst")


def minhash_dedup(df: DataFrame, features: DataFrame, minhash: MinHashSettings, cached: list) -> DataFrame:
    active = F.col("drop_reason").isNull()
    columns = ["doc_id", "node", "n_shingles", "bands"] + (["shingle_set"] if minhash.verify_jaccard else [])
    signatures = (
        features.select(*columns)
        .join(df.where(active).select("doc_id"), "doc_id", "left_semi")
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    cached.append(signatures)
    edges = candidate_edges(signatures, cached)
    if minhash.verify_jaccard:
        edges = verified_edges(edges, signatures, minhash.verify_threshold)
    components = connected_components(edges, minhash.cc_checkpoint_every, minhash.cc_max_iterations)

    members = components.join(signatures.select("node", "doc_id"), "node").select("doc_id", "component")
    members = members.join(df.select("doc_id", "quality_score", "fetch_time"), "doc_id")
    members = members.join(keepers(members, "component"), "component").select("doc_id", "_rep", "_size")
    df = df.join(members, "doc_id", "left")
    member = active & F.col("_rep").isNotNull()
    singleton = active & F.col("_rep").isNull()
    df = _mark(df, member & (F.col("_rep") != F.col("doc_id")), "dedup.minhash", member)
    df = df.withColumn(
        "dedup_cluster_id", F.when(singleton, F.col("doc_id")).otherwise(F.col("dedup_cluster_id"))
    )
    df = df.withColumn(
        "dedup_cluster_size", F.when(singleton, F.lit(1)).otherwise(F.col("dedup_cluster_size"))
    )
    return df.drop("_rep", "_size")


# --- 3. Lines -------------------------------------------------------------------------------------
def line_dedup(df: DataFrame, features: DataFrame, lines_cfg: LineDedupSettings, cached: list) -> DataFrame:
    """`df` with `removed_lines`: the positions of each document's lines found in more than
    `max_count` of the documents still kept (null: none)."""
    hashes = features.select("doc_id", "line_hashes").join(
        df.where(F.col("drop_reason").isNull()).select("doc_id"), "doc_id", "left_semi"
    )
    lines = hashes.select("doc_id", F.posexplode("line_hashes").alias("pos", "h")).where(F.col("h") != 0)
    # A line counts once per document that holds it: each document's hashes are made distinct in place.
    distinct_lines = hashes.select(F.explode(F.array_distinct("line_hashes")).alias("h")).where(
        F.col("h") != 0
    )
    frequent = distinct_lines.groupBy("h").count().where(F.col("count") > lines_cfg.max_count).select("h")
    cut = (
        lines.join(_materialized(frequent, cached), "h", "left_semi")
        .groupBy("doc_id")
        .agg(F.collect_list("pos").alias("removed_lines"))
    )
    return df.join(cut, "doc_id", "left")


def host_line_stats(full: DataFrame) -> pa.Table:
    """OUT/stats/dedup_lines_by_host.parquet: (host, lines_removed, bytes_removed) over all rows of
    the stage output; published with the stage, before its _SUCCESS marker."""
    rows = full.where(F.col("dedup_lines_removed") > 0)
    by_host = rows.groupBy("host").agg(
        F.sum("dedup_lines_removed").alias("lines_removed"),
        F.sum("dedup_bytes_removed").alias("bytes_removed"),
    )
    schema = pa.schema([("host", pa.string()), ("lines_removed", pa.int64()), ("bytes_removed", pa.int64())])
    return pa.Table.from_pylist([r.asDict() for r in by_host.orderBy("host").collect()], schema=schema)
