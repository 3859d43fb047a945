"""Every name from config or data that becomes a path stays inside the run folder.

Names that become paths: the mixing domains (`mix.domains.default`, each rule's `domain`, a topic
classifier's labels) and the split, which name `OUT/shards/<split>/<domain>/`; the shard prefixes
a manifest lists, which the trainer opens. Each is tried with traversal forms.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline import layout
from pipeline.shards.domains import DomainAssigner, _safe_label, check_domain_config
from pipeline.shards.writer import ShardSetWriter

HOSTILE = ["../../../../escaped", "..", ".", "a/b", "/abs", ".hidden", "a\\..\\b", "", "x" * 200, "a\x00b", 7]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_are_refused_wherever_they_become_paths(name, tmp_path):
    with pytest.raises(ValueError, match="mix.domains.default"):
        check_domain_config({"default": name, "rules": []})
    with pytest.raises(ValueError, match="domain"):
        check_domain_config({"default": "web", "rules": [{"domain": name, "host": "x"}]})
    with pytest.raises(ValueError, match="mix.domains.default"):
        DomainAssigner({"default": name})
    with pytest.raises(ValueError, match="mixing domain"):
        ShardSetWriter(tmp_path, "train", name, np.uint16, 100)
    with pytest.raises(ValueError, match="shard split"):
        ShardSetWriter(tmp_path, name, "web", np.uint16, 100)
    if isinstance(name, str):
        assert _safe_label(name) is None  # a classifier label like this decides nothing
    assert list(tmp_path.iterdir()) == []


def test_ordinary_names_still_work(tmp_path):
    for name in ("web", "news", "reference", "qa-2", "code_v1.2"):
        assert layout.path_component(name, "x") == name
        assert _safe_label(name) == name
    writer = ShardSetWriter(tmp_path / "shards", "train", "news", np.uint16, 100)
    writer.add_document(np.arange(5, dtype=np.uint16))
    (entry,) = writer.close()
    assert entry["prefix"] == "train/news/news_00000"
    assert (tmp_path / "shards" / "train" / "news").is_dir()


def test_shards_stage_refuses_a_traversal_domain_before_writing(spark, tmp_path):
    import jobs.shards
    from pipeline.config import load_config

    out = tmp_path / "nested" / "run"
    cfg = load_config(overrides={"mix.domains.default": "../../../../escaped"})
    with pytest.raises(ValueError, match="mix.domains.default"):
        jobs.shards.run(spark, cfg, str(tmp_path / "missing"), str(out))
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written == [], written


def test_a_run_folder_with_glob_characters_reads_only_itself(spark, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from jobs.frames import read_parquet

    for name in ("a", "b", "[ab]", "c*"):
        (tmp_path / name).mkdir()
        pq.write_table(pa.table({"run": [name]}), tmp_path / name / "part-0.parquet")
    for name in ("[ab]", "c*"):
        rows = [r["run"] for r in read_parquet(spark, tmp_path / name).collect()]
        assert rows == [name], rows  # Spark alone would glob: [ab] reads a and b
