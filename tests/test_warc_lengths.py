"""Lying WARC Content-Lengths lose no record: every response record read is a
row, kept or rejected with a named reason, and the reader resyncs at the next gzip member or record
header. Proved by counting over crafted files."""

from __future__ import annotations

import gzip
import io
import re

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipeline.io.warc import BadRecord, RawRecord, iter_records

N = 5
HUGE = 2_147_483_648


def _record(i: int, warc_content_type: str | None = None) -> bytes:
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=False)
    http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
    record = writer.create_warc_record(
        f"http://example.com/{i}",
        "response",
        payload=io.BytesIO(b"<p>page %d</p>" % i * 50),
        http_headers=http,
    )
    writer.write_record(record)
    data = buf.getvalue()
    if warc_content_type:  # warcio sets the record's Content-Type itself: rewrite it afterwards
        data = data.replace(
            b"Content-Type: application/http; msgtype=response",
            b"Content-Type: " + warc_content_type.encode(),
            1,
        )
    return data


def _with_length(record: bytes, length: int) -> bytes:
    return re.sub(rb"Content-Length: \d+", b"Content-Length: %d" % length, record, count=1)


def _length(record: bytes) -> int:
    return int(re.search(rb"Content-Length: (\d+)", record).group(1))


def _rows(path) -> list[str]:
    out = list(iter_records(str(path), "t"))
    assert all(isinstance(r, (RawRecord, BadRecord)) for r in out)
    return [r.url.rsplit("/", 1)[-1] if isinstance(r, RawRecord) else r.reason for r in out]


def _write(tmp_path, name: str, records: list[bytes], per_record_gzip: bool):
    path = tmp_path / name
    data = b"".join(gzip.compress(r, mtime=0) for r in records) if per_record_gzip else b"".join(records)
    path.write_bytes(data)
    return path


def test_huge_length_in_per_record_gzip_resyncs_at_next_member(tmp_path):
    records = [_record(i) for i in range(N)]
    records[1] = _with_length(records[1], HUGE)
    rows = _rows(_write(tmp_path, "huge.warc.gz", records, per_record_gzip=True))
    assert rows == ["0", "bad_content_length", "2", "3", "4"]


def test_length_swallowing_the_next_record_rejects_it_and_keeps_the_next(tmp_path):
    records = [_record(i) for i in range(N)]
    records[1] = _with_length(records[1], _length(records[1]) + len(records[2]))
    rows = _rows(_write(tmp_path, "swallow.warc.gz", records, per_record_gzip=True))
    assert rows == ["0", "bad_content_length", "2", "3", "4"]


def test_huge_length_in_a_plain_file_resyncs_at_next_header(tmp_path):
    records = [_record(i) for i in range(N)]
    records[2] = _with_length(records[2], HUGE)
    rows = _rows(_write(tmp_path, "huge.warc", records, per_record_gzip=False))
    assert rows == ["0", "1", "bad_content_length", "3", "4"]


def test_response_without_http_content_type_is_a_row(tmp_path):
    records = [_record(i) for i in range(N)]
    records[3] = _record(3, warc_content_type="text/plain")
    for gz in (True, False):
        rows = _rows(_write(tmp_path, f"ct{gz}.warc", records, per_record_gzip=gz))
        assert rows == ["0", "1", "2", "not_http_response", "4"], gz


def test_every_response_record_is_one_row_under_mixed_damage(tmp_path):
    records = [_record(i) for i in range(12)]
    records[1] = _with_length(records[1], HUGE)
    records[4] = _with_length(records[4], _length(records[4]) + len(records[5]) + len(records[6]))
    records[8] = _record(8, warc_content_type="text/dns")
    records[11] = _with_length(records[11], HUGE)  # the last one: nothing follows
    rows = _rows(_write(tmp_path, "mixed.warc.gz", records, per_record_gzip=True))
    assert len(rows) == len(records)
    assert [r for r in rows if not r.isdigit()] == ["bad_content_length"] * 2 + [
        "not_http_response",
        "truncated_file",
    ]


# Plain files (and whole-file gzip, one stream) have no member end to stop at: the reader checks that a
# block neither holds a `WARC/1.` line nor is followed by anything but blank lines and the next record.
def _one_stream(tmp_path, name: str, records: list[bytes], whole_file_gzip: bool):
    data = b"".join(records)
    path = tmp_path / (name + (".warc.gz" if whole_file_gzip else ".warc"))
    path.write_bytes(gzip.compress(data, mtime=0) if whole_file_gzip else data)
    return path


@pytest.mark.parametrize("whole_file_gzip", [False, True], ids=["plain", "whole-file-gzip"])
def test_length_swallowing_the_next_record_in_one_stream_keeps_the_next(tmp_path, whole_file_gzip):
    records = [_record(i) for i in range(N)]
    records[1] = _with_length(records[1], _length(records[1]) + len(records[2]))
    rows = _rows(_one_stream(tmp_path, "swallow", records, whole_file_gzip))
    assert rows == ["0", "bad_content_length", "2", "3", "4"]


@pytest.mark.parametrize("whole_file_gzip", [False, True], ids=["plain", "whole-file-gzip"])
def test_length_ending_inside_the_block_is_one_rejected_row(tmp_path, whole_file_gzip):
    records = [_record(i) for i in range(N)]
    records[2] = _with_length(records[2], _length(records[2]) - 30)  # the last 30 body bytes left over
    rows = _rows(_one_stream(tmp_path, "short", records, whole_file_gzip))
    assert rows == ["0", "1", "bad_content_length", "3", "4"]


@pytest.mark.parametrize("cut", [5, 8, 14])
def test_length_reaching_into_the_next_header_line_is_caught(tmp_path, cut):
    """The block ends 1, 4 or 10 bytes into the next record's `WARC/1.0` line (past its CRLF CRLF)."""
    records = [_record(i) for i in range(N)]
    records[0] = _with_length(records[0], _length(records[0]) + cut)
    rows = _rows(_one_stream(tmp_path, f"cut{cut}", records, whole_file_gzip=False))
    assert rows == ["bad_content_length", "1", "2", "3", "4"]


def test_every_response_record_of_a_plain_file_is_one_row_under_mixed_damage(tmp_path):
    records = [_record(i) for i in range(12)]
    records[1] = _with_length(records[1], HUGE)
    records[3] = _with_length(records[3], _length(records[3]) - 7)
    records[4] = _with_length(records[4], _length(records[4]) + len(records[5]) + len(records[6]))
    records[8] = _record(8, warc_content_type="text/dns")
    records[9] = _with_length(records[9], _length(records[9]) + len(records[10]) // 2)
    rows = _rows(_one_stream(tmp_path, "mixed", records, whole_file_gzip=False))
    assert len(rows) == len(records), rows
    assert rows == [
        "0", "bad_content_length", "2", "bad_content_length", "bad_content_length", "5", "6", "7",
        "not_http_response", "bad_content_length", "10", "11",
    ]  # fmt: skip
