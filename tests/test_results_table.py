"""bench/results_table.py: result JSON -> generated tables in BENCHMARKS.md (`make bench-tables`)."""

import json

import pytest

from bench import results_table

TABLE = {
    "title": "Speed",
    "command": "python bench/x.py --rounds 2",
    "columns": ["side", "CPU s", "note"],
    "rows": [["ours", 1.234, "a|b"], ["peer", 1234.4, "-"]],
    "notes": "One round.",
}


def test_render_formats_cells_and_keeps_the_command():
    text = results_table.render([TABLE])
    assert "**Speed**" in text and "| side | CPU s | note |" in text
    assert "| ours | 1.23 | a\\|b |" in text  # 3 significant digits; a pipe cannot break the row
    assert "| peer | 1,234 | - |" in text  # no decimals from 100 up
    assert text.rstrip().endswith("`python bench/x.py --rounds 2`") and "One round." in text


def test_regenerate_replaces_only_between_markers_and_appends_missing_ones():
    doc = "# Bench\n\nintro\n\n<!-- results:speed -->\nOLD FIGURE 9.9x\n<!-- /results:speed -->\n\nafter\n"
    new = results_table.regenerate(doc, {"speed": [TABLE], "fresh": [TABLE]})
    assert "OLD FIGURE" not in new and new.startswith("# Bench\n\nintro\n") and "\nafter\n" in new
    assert new.count("<!-- results:speed -->") == 1 and new.count("<!-- /results:fresh -->") == 1
    assert new.index("after") < new.index("<!-- results:fresh -->")  # a new result goes at the end
    assert results_table.regenerate(new, {"speed": [TABLE], "fresh": [TABLE]}) == new  # idempotent


def test_one_table_of_a_result_can_stand_alone_between_prose():
    second = {**TABLE, "title": "Memory", "rows": [["ours", 2.0, "x"]]}
    doc = "<!-- results:speed:2 -->\nOLD\n<!-- /results:speed:2 -->\nprose\n<!-- results:speed:1 -->\n<!-- /results:speed:1 -->\n"
    new = results_table.regenerate(doc, {"speed": [TABLE, second]})
    assert "OLD" not in new and new.index("**Memory**") < new.index("prose") < new.index("**Speed**")
    assert "<!-- results:speed -->" not in new  # placed by its parts: not appended again
    assert results_table.regenerate(new, {"speed": [TABLE, second]}) == new


def test_write_result_keeps_the_raw_figures_beside_the_tables(tmp_path, monkeypatch):
    monkeypatch.setattr(results_table, "RESULTS", tmp_path)
    path = results_table.write_result("ok", [TABLE], {"cpu_s": [1.2, 1.3]})
    assert json.loads(path.read_text()) == {"tables": [TABLE], "figures": {"cpu_s": [1.2, 1.3]}}
    assert results_table.load_results(tmp_path)[0] == {"ok": [TABLE]}


def test_files_in_other_shapes_are_skipped_with_a_note(tmp_path):
    (tmp_path / "good.json").write_text(json.dumps({"tables": [TABLE]}))
    (tmp_path / "legacy.json").write_text(json.dumps({"command": "x", "docs": 3}))
    (tmp_path / "ragged.json").write_text(json.dumps({"tables": [{**TABLE, "rows": [["only one"]]}]}))
    (tmp_path / "broken.json").write_text("{not json")
    results, skipped = results_table.load_results(tmp_path)
    assert list(results) == ["good"]
    assert [note.split(":")[0] for note in skipped] == ["broken.json", "legacy.json", "ragged.json"]


def test_write_result_rejects_a_malformed_table(tmp_path, monkeypatch):
    monkeypatch.setattr(results_table, "RESULTS", tmp_path)
    with pytest.raises(ValueError, match="wrong width"):
        results_table.write_result("bad", [{**TABLE, "rows": [[1, 2]]}])
    path = results_table.write_result("ok", [TABLE])
    assert json.loads(path.read_text()) == {"tables": [TABLE]}


def test_a_table_outside_the_markers_is_found_as_hand_typed():
    doc = "# B\n\n<!-- results:x -->\n| a |\n|---|\n| 1 |\n<!-- /results:x -->\n\ntext\n| a |\n|---|\n| 2 |\n"
    assert results_table.hand_typed_tables(doc) == [10]
    assert results_table.hand_typed_tables(doc.split("text")[0]) == []


def test_benchmarks_md_is_generated_from_the_committed_results():
    results, _ = results_table.load_results()
    text = results_table.BENCHMARKS.read_text()
    assert results_table.regenerate(text, results) == text, "BENCHMARKS.md is stale: run make bench-tables"
    assert results_table.hand_typed_tables(text) == [], "BENCHMARKS.md has tables typed by hand"
