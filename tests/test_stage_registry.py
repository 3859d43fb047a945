"""The stage registry (pipeline/stages.py) and the fingerprint over the files a stage reads.

A stage's complete output is reused only while the files its config names are unchanged: an eval set
added to a folder reruns decontam, an edited weights file reruns shards, an edited blocklist reruns the
stages that read it. These tests need no Spark: they record a marker as a finished stage would and ask
the chain whether the stage is due.
"""

from __future__ import annotations

import ast
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from jobs.chain import _due, stage_fingerprint
from pipeline import commit, fingerprint, layout, settings, stages
from pipeline.config import load_config
from pipeline.files import resolve_path

REPO = Path(__file__).resolve().parent.parent


def _finished(out: Path, stage: str, cfg: dict, inp) -> None:
    """Write `stage`'s marker as run_stage does after the stage ran with `cfg` on `inp`."""
    folder = stages.output_dir(out, stage)
    commit.write_marker(folder, commit.marker_payload(folder, out, stage_fingerprint(cfg, stage, inp), []))


def _upstream(out: Path, stage: str) -> str:
    """A finished input folder for `stage` (the previous stage's docs with its marker)."""
    folder = Path(stages.default_input(out, stage))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / layout.SUCCESS).write_text('{"run_id": "x"}\n')
    return str(folder)


def _is_due(out: Path, stage: str, cfg: dict, inp, capsys) -> bool:
    due = _due(str(out), stage, stage_fingerprint(cfg, stage, inp))
    printed = capsys.readouterr().out
    assert ("input or config changed" in printed) == due, printed
    return due


def test_an_eval_set_added_to_a_folder_reruns_decontam(tmp_path, capsys):
    evals = tmp_path / "evals"
    evals.mkdir()
    (evals / "quiz.jsonl").write_text(json.dumps({"text": "what is the capital of france"}) + "\n")
    cfg = load_config(overrides={"decontam.eval_sets": [str(evals)]})
    out = tmp_path / "run"
    inp = _upstream(out, "decontam")
    _finished(out, "decontam", cfg, inp)
    assert not _is_due(out, "decontam", cfg, inp, capsys)  # nothing changed: skipped

    (evals / "trivia.jsonl").write_text(json.dumps({"text": "the longest river in africa is"}) + "\n")
    assert _is_due(out, "decontam", cfg, inp, capsys)


def test_an_edited_weights_file_reruns_shards(tmp_path, capsys):
    weights = tmp_path / "weights.json"
    weights.write_text(json.dumps({"web": 0.7, "reference": 0.3}))
    cfg = load_config(overrides={"mix.weights_file": str(weights)})
    out = tmp_path / "run"
    inp = _upstream(out, "shards")
    _finished(out, "shards", cfg, inp)
    assert not _is_due(out, "shards", cfg, inp, capsys)

    weights.write_text(json.dumps({"web": 0.4, "reference": 0.6}))
    assert _is_due(out, "shards", cfg, inp, capsys)


def test_an_edited_blocklist_reruns_the_stages_that_read_it(tmp_path, capsys):
    banned = tmp_path / "banned_words.txt"
    banned.write_text("casino\n")
    cfg = load_config(overrides={"filter.nsfw.url_banned_words": str(banned)})
    out = tmp_path / "run"
    warc = tmp_path / "crawl.warc.gz"
    warc.write_bytes(b"")
    filter_input = _upstream(out, "filter")
    _finished(out, "extract", cfg, [str(warc)])
    _finished(out, "filter", cfg, filter_input)
    assert not _is_due(out, "extract", cfg, [str(warc)], capsys)

    banned.write_text("casino\npoker\n")
    assert _is_due(out, "extract", cfg, [str(warc)], capsys)  # the URL pre-checks read it
    assert _is_due(out, "filter", cfg, filter_input, capsys)  # the NSFW rule reads the same section


def test_a_file_that_appears_later_changes_the_fingerprint(tmp_path):
    weights = tmp_path / "weights.json"
    cfg = load_config(overrides={"mix.weights_file": str(weights)})
    absent = fingerprint.config_fingerprint(cfg, "shards")
    weights.write_text("{}")
    assert fingerprint.config_fingerprint(cfg, "shards") != absent


def test_a_null_model_key_fingerprints_the_shipped_model():
    spec = {f.key: f for f in stages.spec("quality").files}["quality.model"]
    shipped = Path(stages.resolve(spec.when_null))
    assert shipped.is_file()
    cfg = load_config()
    explicit = load_config(overrides={"quality.model": str(shipped)})
    null_entry = fingerprint.files_fingerprint(fingerprint.named_paths(cfg, spec))
    given_entry = fingerprint.files_fingerprint(fingerprint.named_paths(explicit, spec))
    assert null_entry == given_entry and null_entry[0][1]  # the same file, hashed


def test_a_second_input_to_a_later_stage_is_refused_in_one_line(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    proc = subprocess.run(
        [sys.executable, "-m", "jobs", "filter", "--output", str(tmp_path / "out")]
        + ["--input", str(a), "--input", str(b)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
    assert lines[0].startswith("input error: filter reads one documents folder, got 2 --input values")
    assert not layout.config_path(tmp_path / "out").exists()  # refused before anything ran


@pytest.mark.parametrize(
    ("command", "key", "first_words"),
    [("quality", "quality.model", "model error: quality model not found"),
     ("decontam", "decontam.eval_sets", "config error: decontam.eval_sets")],
)  # fmt: skip
def test_a_missing_file_fails_the_pre_flight_check_in_one_line(tmp_path, command, key, first_words):
    missing = tmp_path / "missing.bin"
    value = f"[{missing}]" if key == "decontam.eval_sets" else str(missing)
    proc = subprocess.run(
        [sys.executable, "-m", "jobs", command, "--output", str(tmp_path / "out"), "--set", f"{key}={value}"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith(first_words), proc.stderr[-2000:]


# --- the registry agrees with the config and with the stages' code ---------------------------------
def _leaves(node: dict, prefix: str = ""):
    for key, value in node.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _leaves(value, dotted + ".")
        else:
            yield dotted, value


def _under(key: str, sections: tuple[str, ...]) -> bool:
    return any(key == s or key.startswith(s + ".") for s in sections)


def test_every_path_key_is_declared_and_read_by_its_stage():
    defaults = dict(_leaves(yaml.safe_load((REPO / "configs" / "default.yaml").read_text())))
    declared = {f.key for s in stages.STAGES for f in s.files}
    for stage in stages.STAGES:
        for item in stage.files:
            assert item.key in defaults, f"{stage.name}: {item.key} is not a config key"
            assert _under(item.key, stage.reads), f"{stage.name} fingerprints {item.key} outside its sections"
    # Every default naming an existing file or folder is a declared input (the cache dir is written, not read).
    for key, value in defaults.items():
        values = value if isinstance(value, list) else [value]
        names_path = any(isinstance(v, str) and "/" in v and resolve_path(v).exists() for v in values)
        if names_path and key != "filter.nsfw.blocklist_cache_dir":
            assert key in declared, f"{key} names a file no stage fingerprints"


def _sections_indexed(module) -> set[str]:
    """Config sections a runner module reads from the whole config: `cfg["x"]`, `cfg.get("x")`,
    `cfg["x"]["y"]`, and `XSettings.from_config(cfg)`."""
    by_class = {cls.__name__: cls.PATH for cls in settings.SECTIONS}
    found: set[str] = set()
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            parts, inner = [node.slice.value], node.value
            while isinstance(inner, ast.Subscript) and isinstance(inner.slice, ast.Constant):
                parts.insert(0, inner.slice.value)
                inner = inner.value
            if isinstance(inner, ast.Name) and inner.id == "cfg":
                found.add(".".join(map(str, parts)))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if node.func.attr == "get" and isinstance(owner, ast.Name) and owner.id == "cfg":
                found.add(node.args[0].value)
            if node.func.attr == "from_config" and isinstance(owner, ast.Name) and owner.id in by_class:
                found.add(by_class[owner.id])
    return found


@pytest.mark.parametrize("stage", stages.BY_NAME.values(), ids=lambda s: s.name)
def test_a_runner_reads_only_the_sections_its_fingerprint_covers(stage):
    import importlib

    modules = [importlib.import_module(stage.runner)]
    if stage.preflight:
        modules.append(importlib.import_module(stage.preflight.partition(":")[0]))
    for module in modules:
        for section in _sections_indexed(module):
            ok = _under(section, (*stage.reads, "spark")) or any(
                r.startswith(section + ".") for r in stage.reads
            )
            assert ok, f"{module.__name__} reads {section}, which {stage.name}'s fingerprint does not cover"


def test_the_registry_drives_order_outputs_and_inputs(tmp_path):
    assert stages.NAMES == ("extract", "filter", "quality", "dedup", "decontam", "shards")
    assert layout.success_path(tmp_path, "shards") == layout.shards_dir(tmp_path) / layout.SUCCESS
    assert layout.success_path(tmp_path, "dedup") == layout.docs_dir(tmp_path, "dedup") / layout.SUCCESS
    assert stages.default_input(tmp_path, "extract") is None
    assert stages.default_input(tmp_path, "quality") == str(layout.docs_dir(tmp_path, "filter"))
    assert stages.chain("dedup") == ("extract", "filter", "quality", "dedup")
    assert stages.chain("quality", start="import") == ("import", "filter", "quality")
    assert stages.previous("import") is None and stages.output_dir(tmp_path, "import") == layout.docs_dir(
        tmp_path, "import"
    )
    with pytest.raises(ValueError, match="starts from"):
        stages.chain(start="dedup")
    with pytest.raises(ValueError, match="unknown stage 'tokens'"):
        stages.spec("tokens")


def test_a_row_wise_stage_is_its_class_and_its_row_run_by_the_generic_job():
    import jobs.rowwise
    from pipeline.stage import Stage

    row_wise = [s for s in stages.STAGES if s.stage]
    assert "filter" in [s.name for s in row_wise]
    cfg = load_config()
    for spec in row_wise:
        cls = stages.resolve(spec.stage)
        assert issubclass(cls, Stage) and cls.name == spec.name and spec.reads[0] in cfg
        # its config section is declared on its class and collected with the others
        assert cls.Settings.PATH == spec.reads[0] and cls.Settings in settings.SECTIONS
        job = stages.runner(spec.name)
        assert job.func is jobs.rowwise.run and job.keywords == {"stage": spec.name}
    assert stages.runner("quality") is stages.resolve("jobs.quality:run")  # a stage with its own job
