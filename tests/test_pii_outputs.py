"""No output a data team shares carries raw PII: URLs, rejected rows' text, error messages and the
report are redacted with the filter stage's detectors (README, "What each output contains")."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.filters.pii import DEFAULT_PLACEHOLDERS, TYPES
from pipeline.filters.pii_outputs import OutputRedactor, redact_url


@pytest.mark.parametrize(
    "url, expected",
    [
        (
            "https://shop.example/form?email=jane.doe@example.com&phone=%2B1-202-555-0143&ssn=123-45-6789&id=7",
            "https://shop.example/form?email=<EMAIL>&phone=<PHONE>&ssn=<SSN>&id=7",
        ),
        ("https://example.com/u/john%40example.org/profile", "https://example.com/u/<EMAIL>/profile"),
        ("https://example.com/?q=call+555-123-4567+now", "https://example.com/?q=call+<PHONE>+now"),
        ("https://example.com/pay#card=4111111111111111", "https://example.com/pay#card=<CARD_NUMBER>"),
        ("https://example.com/?iban=DE89370400440532013000;x=1", "https://example.com/?iban=<IBAN>;x=1"),
    ],
)
def test_pii_in_url_query_path_and_fragment_is_replaced(url, expected):
    assert redact_url(url, TYPES, DEFAULT_PLACEHOLDERS) == expected


@pytest.mark.parametrize(
    "url",
    [
        "https://news.example.com/2024/05/12/story-1234?page=2&utm_source=x#top",
        "http://8.8.8.8/status?id=42",  # the host is a server's address, and the blocklist/dedup key
        "HTTP://News.Example.CO.UK:80/story/?a=%20b",
    ],
)
def test_urls_without_pii_are_kept_byte_for_byte(url):
    assert redact_url(url, TYPES, DEFAULT_PLACEHOLDERS) == url


def test_redaction_follows_filter_pii_settings():
    cfg = {"filter": {"pii": {"placeholders": {"email": "[MAIL]"}, "types": ["email"]}}}
    redactor = OutputRedactor(cfg)
    assert redactor.url("https://x.example/?e=a@b.example.com&s=123-45-6789") == (
        "https://x.example/?e=[MAIL]&s=123-45-6789"
    )
    off = OutputRedactor({"filter": {"pii": {"enabled": False}}})
    assert off.text("mail a@b.example.com") == "mail a@b.example.com"


# --- a run's outputs, searched for planted PII -------------------------------------------------
GERMAN = [
    "Sehr geehrte Kundin, sehr geehrter Kunde, vielen Dank für Ihre Bestellung in unserem Geschäft.",
    "Bei Fragen schreiben Sie bitte an max.mustermann@beispiel.de oder rufen Sie uns an.",
    "Die Zahlung mit der Karte 4111 1111 1111 1111 wurde am Montag erfolgreich gebucht.",
    "Überweisungen bitte auf das Konto mit der IBAN DE89 3704 0044 0532 0130 00 bei unserer Bank.",
    "Wir wünschen Ihnen viel Freude mit den Produkten und einen schönen Tag in der Stadt.",
]
ENGLISH = [
    "The river flows slowly through the old town, past the market square and the cathedral.",
    "Every spring the water rises and the boats are moored higher up along the stone quay.",
    "Visitors often pay for the ferry with the card ٤١١١ ١١١١ ١١١١ ١١١١ at the little kiosk by the bridge.",
    "In the evening the lamps along the embankment are lit and people walk along the river bank.",
]
QUERY_URL = (
    "https://shop.example.com/thanks?email=jane.doe%40example.com&phone=%2B1-202-555-0143&ssn=123-45-6789"
)
PLANTED = [
    "max.mustermann@beispiel.de",
    "4111 1111 1111 1111",
    "DE89 3704 0044 0532 0130 00",
    "jane.doe%40example.com",
    "jane.doe@example.com",
    "202-555-0143",
    "123-45-6789",
    "٤١١١ ١١١١ ١١١١ ١١١١",
]


def _strings(path: Path) -> dict[str, str]:
    """Every string value of a Parquet file, by column; any other file as text."""
    if path.suffix != ".parquet":
        return {"": path.read_text(errors="replace")}
    table = pq.read_table(path)
    return {
        name: "\n".join(str(v) for v in table.column(name).to_pylist() if v is not None)
        for name in table.column_names
        if pa.types.is_string(table.schema.field(name).type)
        or pa.types.is_large_string(table.schema.field(name).type)
    }


@pytest.mark.spark
def test_no_output_of_a_run_holds_planted_pii_but_the_documented_one(spark, tmp_path):
    from jobs import extract as extract_job
    from pipeline import layout
    from pipeline.config import load_config
    from pipeline.fixtures.warc_writer import article_html, write_html_warc
    from pipeline.inspect.report import build_report
    from pipeline.stages import runner

    warc = write_html_warc(
        tmp_path / "crawl" / "pii.warc.gz",
        [
            ("https://www.beispiel.de/bestellung", article_html("Ihre Bestellung", GERMAN)),
            (QUERY_URL, article_html("The river", ENGLISH)),
        ],
    )
    cfg = load_config(overrides={"extract.url_prechecks": []})
    out = tmp_path / "run"
    out.mkdir()
    layout.save_run_config(cfg, out)
    extract_job.run(spark, cfg, [str(warc)], str(out))
    runner("filter")(spark, cfg, str(layout.docs_dir(out, "extract")), str(out))
    build_report(out)

    found = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file() and not p.name.startswith((".", "_"))):
        for column, values in _strings(path).items():
            where = f"{path.relative_to(out)}:{column}"
            found.update({(where, pii): True for pii in PLANTED if pii in values})
    # the one documented holder of raw PII: the kept text of docs/extract, which the PII stage reads
    raw_home = str(Path("docs", "extract"))
    assert [k for k in found if not (k[0].startswith(raw_home) and k[0].endswith(":text"))] == []
    assert (out / "report.html").exists()

    rejected = pq.read_table(layout.rejected_dir(out, "extract")).to_pylist()
    (german,) = [r for r in rejected if r["drop_reason"] == "extract.lang_filter"]
    assert {"<EMAIL>", "<CARD_NUMBER>", "<IBAN>"} <= {
        p for p in DEFAULT_PLACEHOLDERS.values() if p in german["text"]
    }
    (english,) = pq.read_table(layout.docs_dir(out, "extract")).to_pylist()
    assert english["url"] == "https://shop.example.com/thanks?email=<EMAIL>&phone=<PHONE>&ssn=<SSN>"
    assert english["url_norm"].endswith("email=<EMAIL>&phone=<PHONE>&ssn=<SSN>")


def test_report_snippet_is_redacted_and_never_halves_an_item():
    from pipeline.inspect.report import SNIPPET_CHARS, redacted_snippet

    text = "x" * (SNIPPET_CHARS - 8) + " 4111 1111 1111 1111 and more"  # the card straddles the cut
    snippet = redacted_snippet(text, DEFAULT_PLACEHOLDERS)
    assert "4111" not in snippet and len(snippet) <= SNIPPET_CHARS
    assert redacted_snippet("mail jane@example.com", DEFAULT_PLACEHOLDERS) == "mail <EMAIL>"
