"""pipeline.fixtures.warc_writer: the HTML WARC files benchmarks and tests build."""

from __future__ import annotations

from warcio.archiveiterator import ArchiveIterator

from pipeline.fixtures.warc_writer import article_html, write_html_warc
from pipeline.io.warc import RawRecord, iter_records

PAGES = [(f"https://example.com/{i}", article_html(f"Page {i}", ["Some text."])) for i in range(3)]


def _payload_types(path) -> list[str | None]:
    with path.open("rb") as fh:
        return [r.rec_headers.get_header("WARC-Identified-Payload-Type") for r in ArchiveIterator(fh)]


def test_payload_type_header_only_when_asked(tmp_path):
    plain = write_html_warc(tmp_path / "plain.warc.gz", PAGES)
    typed = write_html_warc(tmp_path / "typed.warc.gz", PAGES, payload_type="text/html")
    assert _payload_types(plain) == [None] * 3
    assert _payload_types(typed) == ["text/html"] * 3
    # our reader yields the same records either way
    read = [
        [(r.url, r.payload) for r in iter_records(str(p), "t") if isinstance(r, RawRecord)]
        for p in (plain, typed)
    ]
    assert read[0] == read[1] and len(read[0]) == 3
