"""pipeline.io.warc: every real sample file, hand-built broken files, offsets, payload decoding, inputs."""

from __future__ import annotations

import gzip
import io
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipeline.io.warc import BadRecord, RawRecord, doc_id_for, iter_records, list_inputs, parse_warc_date

# file (under warc_samples/) -> (HTTP responses read, BadRecord reasons). Counts checked against
# warcio's ArchiveIterator where it can read the file (it counts dns: responses, we skip them).
EXPECTED = {
    "IAH-20080430204825-00000-blackbook-truncated.warc.gz": (7, ["not_http_response"]),  # a dns: response
    "IAH-urls-wget.warc.gz": (16, []),
    "cc-main-2020-34_excerpt_part-a.warc.gz": (8, []),
    "cc-main-2024-22_whirlwind.warc.gz": (1, []),
    "cc-main-2024-22_whirlwind.warc.wat": (0, []),  # metadata only
    "cc-main-2024-22_whirlwind.warc.wet.gz": (0, []),  # conversion records are not HTML sources
    "clueweb09-ja_quirk.warc.gz": (29, []),
    "clueweb12_0000tw-00_excerpt_wholefile-gzip.warc.gz": (3, []),  # warcio stops after warcinfo
    "commoncrawl-org_homepage.warc.gz": (1, []),
    "dolma_sample-0000.warc.gz": (22, []),
    "wikipedia-post-blackout-main-page-2012.warc.gz": (70, []),
    "wikipedia-sopa-blackout-homepage-2012.warc.gz": (74, []),
    "warcio-testdata/bad.arc": (
        0,
        ["malformed_header", "malformed_header", "bad_http_header", "malformed_header"],
    ),
    "warcio-testdata/example-bad-non-chunked.warc.gz": (1, []),  # several records in one member
    "warcio-testdata/example-bad.warc.gz.bad": (2, []),  # idem; warcio refuses it
    "warcio-testdata/example-digest.warc": (0, []),  # request records only
    "warcio-testdata/example-iana.org-chunked.warc": (1, []),
    "warcio-testdata/example-resource.warc.gz": (0, []),
    "warcio-testdata/example-space-in-target-uri.warc.gz": (0, []),  # a resource record
    "warcio-testdata/example-space-in-url.arc": (0, ["truncated_file"]),  # 1591 bytes declared, 1579 there
    "warcio-testdata/example-trunc.warc": (1, []),
    "warcio-testdata/example-wget-bad-target-uri.warc.gz": (1, []),
    "warcio-testdata/example-wrong-chunks.warc.gz": (1, []),  # a record split over gzip members
    "warcio-testdata/example.arc": (1, []),
    "warcio-testdata/example.arc.gz": (1, []),
    "warcio-testdata/example.warc": (1, []),
    "warcio-testdata/example.warc.gz": (1, []),
    "warcio-testdata/post-test.warc.gz": (3, []),
}


def read(path, **kw) -> tuple[list[RawRecord], list[BadRecord]]:
    out = list(iter_records(str(path), "test", **kw))
    return [r for r in out if isinstance(r, RawRecord)], [r for r in out if isinstance(r, BadRecord)]


@pytest.fixture(scope="module")
def samples(shared_data) -> Path:
    return shared_data / "warc_samples"


def test_every_sample_file_reads_with_expected_counts(samples):
    on_disk = {str(p.relative_to(samples)) for p in samples.rglob("*") if p.is_file() and p.suffix != ".md"}
    assert on_disk == set(EXPECTED), "a sample file was added or removed: extend EXPECTED"
    for name, (n_good, bad_reasons) in EXPECTED.items():
        good, bad = read(samples / name)
        assert (len(good), [b.reason for b in bad]) == (n_good, bad_reasons), name
        assert all(r.crawl == "test" and r.warc_file.endswith(name) for r in good)


def test_clueweb09_quirks(samples):
    good, bad = read(samples / "clueweb09-ja_quirk.warc.gz")
    assert not bad
    first = good[0]
    # "2008-10-294T05:21:46-0700": the extra day digit is dropped, the zone applied.
    assert first.fetch_time == datetime(2008, 10, 29, 12, 21, 46, tzinfo=UTC)
    assert first.url == "http://www.uraharajuku.st/shopdetail/001005000005/019/000/order/"
    assert first.charset == "euc-jp" and first.content_type == "text/html"
    # "Content-Encoding: gzip" on a body Nutch had already decoded: kept as it is.
    assert first.payload.startswith(b"<html>")
    assert all(r.fetch_time is not None and r.http_status == 200 for r in good)


def test_whole_file_gzip_clueweb12(samples):
    good, bad = read(samples / "clueweb12_0000tw-00_excerpt_wholefile-gzip.warc.gz")
    assert not bad and len(good) == 3
    assert good[0].url == "http://tsawer.net/2012/02/10/france-image-pool-2012-02-10-162252/"
    offsets = [r.warc_offset for r in good]
    assert offsets == sorted(offsets) and offsets[0] > 0  # offsets in the decompressed stream
    assert all(r.payload.lstrip().lower().startswith(b"<!doctype") for r in good[:1])


def test_per_record_offsets_seek_to_the_record(samples):
    path = samples / "cc-main-2020-34_excerpt_part-a.warc.gz"
    good, _ = read(path)
    data = path.read_bytes()
    for record in good:
        member = zlib.decompressobj(31).decompress(data[record.warc_offset :])
        assert member.startswith(b"WARC/1.0")
        assert record.record_id.encode() in member[:2000]
        assert record.http_status == 200 and record.content_type == "text/html"


def test_chunked_body_is_dechunked(samples):
    good, _ = read(samples / "warcio-testdata/example-iana.org-chunked.warc")
    assert good[0].payload.lstrip().lower().startswith(b"<!doctype html>")
    assert good[0].payload.rstrip().endswith(b"</html>")


def test_wet_and_wat_yield_nothing(samples):
    assert read(samples / "cc-main-2024-22_whirlwind.warc.wet.gz") == ([], [])
    assert read(samples / "cc-main-2024-22_whirlwind.warc.wat") == ([], [])


# -- hand-built files ---------------------------------------------------------------------------------
def _member(url: str, body: bytes, headers=None) -> bytes:
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    http = StatusAndHeaders(
        "200 OK", headers or [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1"
    )
    writer.write_record(
        writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http)
    )
    return buf.getvalue()


@pytest.fixture
def three_members():
    return [_member(f"http://example.com/{i}", b"<p>page %d</p>" % i * 500) for i in range(3)]


def _urls(records):
    return [r.url if isinstance(r, RawRecord) else r.reason for r in records]


def test_byte_flipped_member_between_good_ones(tmp_path, three_members):
    bad = bytearray(three_members[1])
    for k in range(40, 80):  # corrupt the deflate data, keep the gzip header intact
        bad[k] ^= 0x5A
    path = tmp_path / "flip.warc.gz"
    path.write_bytes(three_members[0] + bytes(bad) + three_members[2])
    records = list(iter_records(str(path), "t"))
    assert _urls(records) == ["http://example.com/0", "bad_gzip", "http://example.com/2"]
    assert records[1].warc_offset == len(three_members[0])
    assert records[2].warc_offset == len(three_members[0]) + len(bad)
    assert records[2].payload == b"<p>page 2</p>" * 500


def test_truncated_member_then_good_one_resyncs(tmp_path, three_members):
    cut = three_members[1][: len(three_members[1]) // 2]
    path = tmp_path / "cut.warc.gz"
    path.write_bytes(three_members[0] + cut + three_members[2])
    rows = _urls(iter_records(str(path), "t"))
    # Rarely (~1 %) the inflater decodes a few of the next member's bytes as a bogus header first
    # (one extra malformed_header row); the good records around the cut member are always there.
    assert rows[0] == "http://example.com/0" and rows[-1] == "http://example.com/2" and "bad_gzip" in rows
    assert set(rows[1:-1]) <= {"bad_gzip", "malformed_header"}


def test_garbage_between_members(tmp_path, three_members):
    path = tmp_path / "junk.warc.gz"
    path.write_bytes(three_members[0] + b"not gzip at all " * 20 + three_members[2])
    assert _urls(iter_records(str(path), "t")) == ["http://example.com/0", "bad_gzip", "http://example.com/2"]


def test_file_cut_at_the_end_keeps_leading_records(tmp_path, three_members):
    data = b"".join(three_members)
    path = tmp_path / "end.warc.gz"
    path.write_bytes(data[:-100])
    assert _urls(iter_records(str(path), "t")) == [
        "http://example.com/0",
        "http://example.com/1",
        "truncated_file",
    ]
    plain = gzip.decompress(data)
    (tmp_path / "end.warc").write_bytes(plain[:-500])
    assert _urls(iter_records(str(tmp_path / "end.warc"), "t"))[-1] == "truncated_file"
    whole = gzip.compress(plain, mtime=0)
    (tmp_path / "whole.warc.gz").write_bytes(whole[: len(whole) - 40])
    assert _urls(iter_records(str(tmp_path / "whole.warc.gz"), "t"))[:2] == _urls(read(path)[0])[:2]


def test_bad_content_length_resyncs_on_next_record(tmp_path, three_members):
    broken = gzip.decompress(three_members[1]).replace(b"Content-Length: ", b"Content-Length: x", 1)
    path = tmp_path / "cl.warc.gz"
    path.write_bytes(three_members[0] + gzip.compress(broken) + three_members[2])
    assert _urls(iter_records(str(path), "t")) == [
        "http://example.com/0",
        "malformed_header",
        "http://example.com/2",
    ]


def test_oversize_payload_is_flagged_not_held(tmp_path):
    path = tmp_path / "big.warc.gz"
    path.write_bytes(
        _member("http://example.com/big", b"x" * 200_000) + _member("http://example.com/s", b"small")
    )
    good, bad = read(path, max_payload_bytes=100_000)
    assert not bad
    assert (good[0].oversize, good[0].payload) == (True, b"")
    assert (good[1].oversize, good[1].payload) == (False, b"small")


def test_content_encoding_decoded_and_bomb_capped(tmp_path):
    page = b"<html><body>" + b"hello " * 1000 + b"</body></html>"
    bomb = gzip.compress(b"\0" * 2_000_000)
    enc = [("Content-Type", "text/html"), ("Content-Encoding", "gzip")]
    path = tmp_path / "enc.warc.gz"
    path.write_bytes(
        _member("http://a.com/1", gzip.compress(page), enc) + _member("http://a.com/2", bomb, enc)
    )
    good, bad = read(path, max_payload_bytes=100_000)
    assert not bad
    assert good[0].payload == page and not good[0].oversize
    assert good[1].oversize and good[1].payload == b""


def test_non_response_records_are_skipped(tmp_path):
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=False)
    writer.write_record(writer.create_warcinfo_record("f.warc", {"software": "test"}))
    writer.write_record(
        writer.create_warc_record("http://a.com/", "request", payload=io.BytesIO(b"GET / HTTP/1.1\r\n\r\n"))
    )
    path = tmp_path / "plain.warc"
    path.write_bytes(buf.getvalue() + gzip.decompress(_member("http://a.com/", b"ok")))
    good, bad = read(path)
    assert [r.url for r in good] == ["http://a.com/"] and not bad


def test_missing_file_is_a_read_error_not_an_exception(tmp_path):
    assert _urls(iter_records(str(tmp_path / "nope.warc.gz"), "t")) == ["read_error"]


# -- small helpers ----------------------------------------------------------------------------------
def test_parse_warc_date_variants():
    assert parse_warc_date("2024-02-20T21:10:55Z") == datetime(2024, 2, 20, 21, 10, 55, tzinfo=UTC)
    assert parse_warc_date("2024-02-20T21:10:55.123456Z").microsecond == 123456
    assert parse_warc_date("20080430204825") == datetime(2008, 4, 30, 20, 48, 25, tzinfo=UTC)
    assert parse_warc_date("201404010000000000") == datetime(2014, 4, 1, tzinfo=UTC)
    assert parse_warc_date("2008-10-294T05:21:46-0700") == datetime(2008, 10, 29, 12, 21, 46, tzinfo=UTC)
    assert parse_warc_date("yesterday") is None and parse_warc_date(None) is None


def test_doc_id_for():
    t = datetime(2024, 1, 1, tzinfo=UTC)
    a = doc_id_for("<urn:uuid:1>", "http://a.com/", t)
    assert len(a) == 24 and a == doc_id_for("<urn:uuid:1>", "http://b.com/", None)  # id wins
    assert doc_id_for(None, "http://a.com/", t) != doc_id_for(
        None, "http://a.com/", datetime(2024, 1, 2, tzinfo=UTC)
    )


def test_list_inputs(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("a/x.warc.gz", "a/b/y.warc", "a/b/z.arc.gz", "a/notes.txt", "a/b/w.warc.wet.gz"):
        (tmp_path / name).write_bytes(b"")
    root = str(tmp_path)
    expected = [f"{root}/a/b/y.warc", f"{root}/a/b/z.arc.gz", f"{root}/a/x.warc.gz"]
    assert list_inputs(f"{root}/a") == expected
    assert list_inputs(f"{root}/a/**/*.warc*") == [
        f"{root}/a/b/w.warc.wet.gz",
        f"{root}/a/b/y.warc",
        f"{root}/a/x.warc.gz",
    ]
    assert list_inputs([f"{root}/a/notes.txt", "https://h/x.warc.gz"]) == [
        f"{root}/a/notes.txt",
        "https://h/x.warc.gz",
    ]
    assert list_inputs(f"{root}/a/x.warc.gz,{root}/a/b/y.warc") == [
        f"{root}/a/b/y.warc",
        f"{root}/a/x.warc.gz",
    ]
    with pytest.raises(FileNotFoundError):
        list_inputs(f"{root}/missing/*.warc.gz")
