"""The commit protocol without rename (pipeline/commit.py, jobs/output.py), on local disk and on the
loopback S3 server: the marker lists every file of a stage's output, readers read exactly those, a
planted orphan part is never read and is deleted by the next commit, a run killed before the marker
leaves the previous output readable, and outputs without a parts list still read by listing."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.arrow_io import part_name
from jobs.frames import dataframe_from_arrow, read_parquet
from jobs.output import publish, write_stage
from jobs.rowwise import run_rowwise
from pipeline import commit, layout, storage
from pipeline.fixtures.stages import MinWordsStage
from pipeline.schema import DOC_SCHEMA

pytestmark = pytest.mark.spark

TEXTS = ["short", "a b c d e f", "", "one two three four", "x " * 50]  # kept: d1, d3, d4


@pytest.fixture(params=["local", "s3"])
def out(request, tmp_path) -> str:
    if request.param == "local":
        return str(tmp_path / "run")
    return request.getfixturevalue("s3_bucket") + "/run"


def _write(spark, out: str, texts: list[str], prefix: str = "d") -> list[dict]:
    rows = [{"doc_id": f"{prefix}{i}", "text": t, "drop_reason": None} for i, t in enumerate(texts)]
    df = dataframe_from_arrow(spark, pa.Table.from_pylist(rows, schema=DOC_SCHEMA)).repartition(3)
    return write_stage(run_rowwise(df, MinWordsStage, {"min_words": 3}), out, "length", rules=["min_words"])


def _ids(spark, folder) -> list[str]:
    return sorted(r["doc_id"] for r in read_parquet(spark, folder).select("doc_id").collect())


def _files(folder) -> dict[str, int]:
    return {rel: size for rel, size, _ in storage.files_under(folder) if rel != layout.SUCCESS}


def test_marker_lists_every_file_and_readers_read_exactly_them(spark, out):
    _write(spark, out, TEXTS)
    docs, rejected = layout.docs_dir(out, "length"), layout.rejected_dir(out, "length")
    marker = commit.read_marker(docs)
    listed = dict(marker[commit.PARTS])
    on_store = {f"docs/length/{k}": v for k, v in _files(docs).items()}
    on_store |= {f"rejected/length/{k}": v for k, v in _files(rejected).items()}
    assert {k: v for k, v in listed.items() if not k.startswith("stats/")} == on_store
    stats_size = storage.files_under(layout.stats_path(out, "length"))[0][1]
    assert listed["stats/length.parquet"] == stats_size and "stats/length_breakdown.parquet" in listed
    assert _ids(spark, docs) == ["d1", "d3", "d4"]
    assert _ids(spark, rejected) == ["d0", "d2"]  # listed by the kept documents' marker
    assert all(storage.path(p).name.startswith("part-") for p in commit.listed_parts(rejected))
    assert layout.stage_done(out, "length") and not layout.work_dir(out, "length").exists()


def test_planted_orphan_part_is_never_read_and_the_next_commit_deletes_it(spark, out):
    _write(spark, out, TEXTS)
    docs = layout.docs_dir(out, "length")
    first_parts = commit.listed_parts(docs)
    # What a failed task attempt leaves: a complete part under a name no marker lists.
    orphan = docs / part_name(0, 999, "deadbeef")
    fs, where = storage.fs_path(first_parts[0])
    table = pq.read_table(where, filesystem=fs)
    fs, where = storage.fs_path(orphan)
    pq.write_table(table.set_column(0, "doc_id", pa.array(["orphan"] * table.num_rows)), where, filesystem=fs)
    assert pq.read_table(where, filesystem=fs).num_rows > 0  # a listing reader would read it
    assert _ids(spark, docs) == ["d1", "d3", "d4"]
    assert orphan not in commit.listed_parts(docs)

    _write(spark, out, ["one two three", "no"], prefix="n")  # the next commit of the stage
    assert not orphan.exists()
    assert not any(p.exists() for p in first_parts)  # the older output went too, once the marker landed
    assert sorted(f"docs/length/{k}" for k in _files(docs)) == sorted(
        rel for rel, _ in commit.read_marker(docs)[commit.PARTS] if rel.startswith("docs/")
    )
    assert _ids(spark, docs) == ["n0"]


def test_run_killed_before_the_marker_leaves_the_previous_output_readable(spark, out, monkeypatch):
    import jobs.output

    _write(spark, out, TEXTS)
    docs = layout.docs_dir(out, "length")
    marker = (docs / layout.SUCCESS).read_text()

    def killed(name):
        if name == "publish:length":
            raise KeyboardInterrupt  # stands in for the SIGKILL of pipeline/faults.py

    monkeypatch.setattr(jobs.output, "fault_point", killed)
    with pytest.raises(KeyboardInterrupt):
        _write(spark, out, ["seven words are more than three here"], prefix="n")
    assert (docs / layout.SUCCESS).read_text() == marker and layout.stage_done(out, "length")
    assert len(_files(docs)) > len(commit.listed_parts(docs))  # the killed run's parts lie beside
    assert _ids(spark, docs) == ["d1", "d3", "d4"]


def test_output_without_a_parts_list_reads_by_listing(spark, out):
    docs = layout.docs_dir(out, "old")
    docs.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(["part-00000-x.c000.zstd.parquet", "part-00001-x.c000.zstd.parquet"]):
        fs, where = storage.fs_path(docs / name)
        pq.write_table(pa.table({"doc_id": [f"old{i}"], "text": ["t"]}), where, filesystem=fs)
    fs, where = storage.fs_path(docs / "_hidden.parquet")  # never data, as for Spark
    pq.write_table(pa.table({"doc_id": ["hidden"], "text": ["t"]}), where, filesystem=fs)
    (docs / layout.SUCCESS).write_text("")  # an empty marker, as runs before fingerprints wrote
    assert _ids(spark, docs) == ["old0", "old1"]
    (docs / layout.SUCCESS).write_text(json.dumps({"stage": "old", "run_id": "x"}))  # fingerprint only
    assert _ids(spark, docs) == ["old0", "old1"]


def test_publish_copies_fixed_names_and_lists_them_and_deletes_the_rest(out, tmp_path):
    built = tmp_path / "built"
    (built / "a").mkdir(parents=True)
    (built / "a" / "one.bin").write_bytes(b"1" * 10)
    (built / "manifest.json").write_text("{}")
    stats = tmp_path / "stats.parquet"
    pq.write_table(pa.table({"rule": ["_total"]}), stats)
    target = layout.shards_dir(out)
    old = target / "b" / "old.bin"
    old.parent.mkdir(parents=True, exist_ok=True)
    old.write_bytes(b"old")  # a file of an older output that this one does not have

    publish(out, "shards", [(stats, layout.stats_path(out, "shards")), (built, target)])
    listed = dict(commit.read_marker(target)[commit.PARTS])
    assert listed == {
        "stats/shards.parquet": stats.stat().st_size,
        "shards/a/one.bin": 10,
        "shards/manifest.json": 2,
    }
    assert (target / "a" / "one.bin").read_bytes() == b"1" * 10 and not old.exists()


def test_publish_killed_while_copying_leaves_fixed_names_unfinished(out, tmp_path, monkeypatch):
    import jobs.output

    built = tmp_path / "built"
    built.mkdir()
    (built / "manifest.json").write_text("{}")
    publish(out, "shards", [(built, layout.shards_dir(out))])
    assert layout.stage_done(out, "shards")

    def killed(source, target):
        raise KeyboardInterrupt  # dies while copying

    monkeypatch.setattr(jobs.output.storage, "copy", killed)
    with pytest.raises(KeyboardInterrupt):
        publish(out, "shards", [(built, layout.shards_dir(out))])
    assert not layout.stage_done(out, "shards")  # the old marker went first: no mixed output reads as done


def _corpus(folder, n: int = 6) -> str:
    """A small JSONL corpus of English articles for the import stage."""
    import random

    from pipeline.fixtures.demo_text import TOPICS, paragraphs

    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        rng = random.Random(i)
        text = "\n\n".join(paragraphs(sorted(TOPICS)[i % len(TOPICS)], rng, 250))
        lines.append(json.dumps({"id": f"r{i}", "text": text, "url": f"https://site{i}.example.com/a/{i}"}))
    (folder / "docs.jsonl").write_text("\n".join(lines) + "\n")
    return str(folder)


def test_chain_killed_before_a_marker_keeps_the_old_output_and_reruns_only_that_stage(
    spark, tmp_path, monkeypatch, capsys
):
    import jobs.output
    from jobs.chain import crawl_to_shards
    from pipeline.config import load_config

    corpus, out, chain = _corpus(tmp_path / "corpus"), str(tmp_path / "run"), ("import", "filter")
    crawl_to_shards(spark, load_config(), corpus, out, stages=chain)
    docs = layout.docs_dir(out, "filter")
    old_marker, old_ids = (docs / layout.SUCCESS).read_text(), _ids(spark, docs)
    assert old_ids

    changed = load_config(overrides={"filter.pii.enabled": False})  # filter is due again, import is not
    monkeypatch.setattr(jobs.output, "fault_point", lambda name: _interrupt(name == "publish:filter"))
    with pytest.raises(KeyboardInterrupt):
        crawl_to_shards(spark, changed, corpus, out, stages=chain)
    assert (docs / layout.SUCCESS).read_text() == old_marker and _ids(spark, docs) == old_ids

    monkeypatch.setattr(jobs.output, "fault_point", lambda name: None)
    capsys.readouterr()
    crawl_to_shards(spark, changed, corpus, out, stages=chain)
    printed = capsys.readouterr().out
    assert "[import] already complete" in printed and "[filter] input or config changed" in printed, printed
    assert commit.read_marker(docs)["run_id"] != json.loads(old_marker)["run_id"]
    assert sorted(docs.glob("part-*.parquet")) == sorted(commit.listed_parts(docs))


def _interrupt(really: bool) -> None:
    if really:
        raise KeyboardInterrupt  # stands in for the SIGKILL of pipeline/faults.py


def test_unlisted_knows_a_file_however_its_path_is_spelled(tmp_path, monkeypatch):
    from pathlib import Path

    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "run" / "docs" / "s"
    folder.mkdir(parents=True)
    for name in ("a.parquet", "b.parquet", layout.SUCCESS):
        (folder / name).write_bytes(b"x")
    listed = [folder / "a.parquet", "run/docs/../docs/s/_SUCCESS"]
    assert commit.unlisted(["run/docs/s"], listed) == [Path("run/docs/s/b.parquet")]
    assert commit.unlisted([folder], ["run/docs/s/a.parquet", "run/docs/s/b.parquet"]) == []


def test_leftovers_of_failed_attempts_are_found_and_removed_after_a_full_disk(tmp_path):
    from jobs.failures import remove_scratch

    out = tmp_path / "run"

    def put(rel: str) -> None:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(b"x")

    for rel in ("docs/s/a.parquet", "docs/s/b.parquet", "rejected/s/c.parquet", "rejected/s/d.parquet"):
        put(rel)
    listed = [out / "docs/s/a.parquet", out / "rejected/s/c.parquet"]
    commit.write_marker(out / "docs/s", commit.marker_payload(out / "docs/s", out, None, listed))
    put("docs/old/e.parquet")  # an output of an older version: its marker lists no parts
    (out / "docs/old" / layout.SUCCESS).write_text("")
    put("docs/new/f.parquet")  # a stage killed before its first marker
    put("_work/s/signals/g.parquet")

    expected = {out / "docs/s/b.parquet", out / "rejected/s/d.parquet", out / "docs/new/f.parquet"}
    assert set(commit.leftovers(str(out))) == expected
    remove_scratch(str(out))
    assert not any(p.exists() for p in expected) and all(p.exists() for p in listed)
    assert (out / "docs/old/e.parquet").exists() and not (out / "_work/s").exists()
