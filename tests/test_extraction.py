"""Charset decoding, trafilatura main-text extraction and the per-document time budget."""

from __future__ import annotations

import codecs
import signal
import threading
import time

import pytest

from pipeline.config import load_config
from pipeline.extract.charset import DecodeFailure, codec_name, decode_html, looks_binary, sniff_meta_charset
from pipeline.extract.html import ExtractionTimeout, extract_main_text, time_budget, trafilatura_kwargs

ARTICLE = """<!doctype html><html><head><title>Rivers</title></head><body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li><li><a href="/shop">Shop</a></li></ul></nav>
<article><h1>How rivers shape valleys</h1>
<p>Rivers carve valleys over thousands of years by eroding rock and carrying sediment downstream.</p>
<p>The speed of the water, the hardness of the rock and the climate all change how fast this happens.</p>
<p>Geologists measure erosion rates by dating layers of sediment deposited on the valley floor.</p>
</article>
<footer>Copyright 2024 Example Media. All rights reserved. Privacy policy. Cookie settings.</footer>
</body></html>"""

CFG = {**load_config()["extract"], "timeout_s": 5.0}


def huge_table(rows: int) -> str:
    """A page trafilatura needs seconds for (a big table), to exercise the time budget."""
    cells = "".join(f"<td>cell {i}</td>" for i in range(20))
    return "<html><body><table>" + f"<tr>{cells}</tr>" * rows + "</table></body></html>"


# --- charset ---------------------------------------------------------------------------------
def test_http_header_charset_is_used():
    text, codec, _ = decode_html("Crème brûlée à la carte".encode("cp1252"), "windows-1252")
    assert text == "Crème brûlée à la carte" and codec == "cp1252"


def test_meta_charset_sniffed_when_header_missing():
    page = b'<html><head><meta charset="shift_jis"></head><body>' + "日本語のページ".encode("shift_jis")
    assert sniff_meta_charset(page) == "shift_jis"
    text, codec, _ = decode_html(page, None)
    assert "日本語のページ" in text and codec == "cp932"  # browsers decode Shift_JIS as its superset cp932


def test_http_equiv_meta_form():
    page = b'<meta http-equiv="Content-Type" content="text/html; charset=EUC-KR">'
    assert sniff_meta_charset(page) == "EUC-KR"


def test_latin1_label_decodes_as_windows_1252():
    # 0x93/0x94 are curly quotes in windows-1252 but C1 controls in ISO-8859-1 (WHATWG maps the label)
    text, _, _ = decode_html(b"He said \x93hello\x94", "iso-8859-1")
    assert text == "He said \u201chello\u201d"


def test_declared_charset_that_fails_falls_back_to_detection():
    body = ("Le café était très réputé à Montréal. Les élèves y étudiaient après l'école. " * 20).encode(
        "cp1252"
    )
    text, codec, _ = decode_html(body, "utf-8")  # the header lies: strict UTF-8 decoding fails
    assert codec != "utf-8"
    assert "café était très réputé à Montréal" in text


def test_byte_order_mark_wins():
    text, codec, _ = decode_html(codecs.BOM_UTF16_LE + "<p>hello</p>".encode("utf-16-le"), "iso-8859-1")
    assert text == "<p>hello</p>" and codec == "utf-16-le"


def test_unknown_label_is_ignored():
    assert codec_name("no-such-charset") is None
    assert decode_html("naïve".encode(), "no-such-charset") == ("naïve", "utf-8", 0)


@pytest.mark.parametrize(
    "payload",
    [
        b"\x89PNG\r\n\x1a\n" + bytes(100),
        b"%PDF-1.7 ...",
        b"<html>\x00\x00\x00</html>",
        bytes(range(1, 9)) * 50,
    ],
)
def test_binary_payloads_are_refused(payload):
    assert looks_binary(payload)
    with pytest.raises(DecodeFailure) as err:
        decode_html(payload, "utf-8")
    assert err.value.reason == "binary"


def test_text_with_tabs_and_escape_is_not_binary():
    assert not looks_binary(b"<html>\tindented\r\n\x1b$B ISO-2022-JP escape</html>")


# --- extraction ------------------------------------------------------------------------------
def test_main_text_without_boilerplate():
    text = extract_main_text(ARTICLE, "https://example.com/rivers", CFG)
    assert "Rivers carve valleys over thousands of years" in text
    assert "Geologists measure erosion rates" in text
    assert "Copyright 2024" not in text and "Shop" not in text


def test_page_without_content_gives_empty_string():
    assert extract_main_text("<html><body><div></div></body></html>", None, CFG) == ""


def test_trafilatura_dedup_is_never_on():
    # trafilatura's dedup is a process-wide cache: output would depend on earlier pages
    assert trafilatura_kwargs({"fast": True, "include_comments": True})["deduplicate"] is False
    assert trafilatura_kwargs({"fast": True})["fast"] is True


# --- time budget -----------------------------------------------------------------------------
def test_pathological_page_hits_the_time_budget():
    page = huge_table(3000)  # about 2-4 s of trafilatura work
    started = time.process_time()
    with pytest.raises(ExtractionTimeout):
        extract_main_text(page, None, {**CFG, "timeout_s": 0.05})
    assert time.process_time() - started < 0.5
    # the timer is gone afterwards: a normal page extracts under no stray alarm
    assert "Rivers carve valleys" in extract_main_text(ARTICLE, None, CFG)
    assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)


def test_budget_restores_previous_handler_and_timer():
    def previous(signum, frame):  # pragma: no cover - must not fire during the test
        raise AssertionError("outer alarm fired")

    old = signal.signal(signal.SIGPROF, previous)
    signal.setitimer(signal.ITIMER_PROF, 30.0)
    try:
        with time_budget(1.0) as enforced:
            assert enforced
        assert signal.getsignal(signal.SIGPROF) is previous
        remaining, _ = signal.getitimer(signal.ITIMER_PROF)
        assert 25.0 < remaining <= 30.1  # the kernel rounds to its tick
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, old)


def test_budget_not_enforced_off_the_main_thread():
    seen = []

    def worker():
        with time_budget(0.01) as enforced:
            seen.append(enforced)
            sum(range(2_000_000))  # ~50 ms of CPU: would have been interrupted on the main thread

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [False]
