"""`make blocklists` downloader against a loopback HTTP server serving small fake upstream files."""

from __future__ import annotations

import io
import json
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from pipeline.config import load_config
from pipeline.filters.blocklists_download import DownloadError, download_all, main
from pipeline.filters.nsfw import NsfwFilter, url_blocklist_precheck, url_words_precheck

DOMAINS = b"badsite.example\nporn.example\n10.1.2.3\n"
URLS = b"somehost.example/adult-section\n"


def make_tarball(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Upstream:
    """Serves `files` (path -> bytes); `fail_first` paths answer 503 on their first request."""

    def __init__(self, files: dict[str, bytes], fail_first: set[str] = frozenset()):
        self.files, self.fail_first, self.requests = files, set(fail_first), []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                upstream.requests.append(self.path)
                if self.path in upstream.fail_first:
                    upstream.fail_first.discard(self.path)
                    self.send_response(503)
                    self.end_headers()
                    return
                data = upstream.files.get(self.path)
                self.send_response(200 if data is not None else 404)
                self.end_headers()
                if data is not None:
                    self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def default_files(tarball: bytes) -> dict[str, bytes]:
    return {
        "/ut1/adult.tar.gz": tarball,
        "/ldnoobw/en": b"badword\nvery bad phrase\n",
        "/ldnoobw/fr": b"motmauvais\n",
        "/url_words/banned_words.txt": b"hardword\n",
        "/url_words/soft_banned_words.txt": b"softa\nsoftb\n",
        "/url_words/banned_subwords.txt": b"sub word\n",
    }


@pytest.fixture
def upstream():
    servers = []

    def start(files, fail_first=frozenset()):
        servers.append(Upstream(files, fail_first))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_download_with_retry_writes_lists_and_working_config(upstream, tmp_path):
    server = upstream(
        default_files(make_tarball({"adult/domains": DOMAINS, "adult/urls": URLS, "adult/usage": b"x"})),
        fail_first={"/ut1/adult.tar.gz", "/ldnoobw/en"},
    )
    rc = main(
        ["--dest", str(tmp_path / "bl"), "--base-url", server.base, "--langs", "en,fr", "--min-domains", "3",
         "--backoff-s", "0.01"]
    )  # fmt: skip
    assert rc == 0
    # the two 503s were retried once each
    assert server.requests.count("/ut1/adult.tar.gz") == 2 and server.requests.count("/ldnoobw/en") == 2
    dest = tmp_path / "bl"
    assert (dest / "ut1/adult/domains").read_bytes() == DOMAINS
    assert not (dest / "ut1/adult/usage").exists()  # only the two list members are extracted
    assert (dest / "ldnoobw/fr.txt").read_bytes() == b"motmauvais\n"
    sources = json.loads((dest / "SOURCES.json").read_text())
    assert sources["ldnoobw/en.txt"]["url"] == server.base + "/ldnoobw/en"
    assert len(sources["ut1/adult/domains"]["sha256"]) == 64

    # the snippet is a valid run config, and the filters built from it block what the fake lists say
    snippet = yaml.safe_load((dest / "blocklists.yaml").read_text())
    cfg = load_config(dest / "blocklists.yaml", {"filter.nsfw.blocklist_cache_dir": str(tmp_path / "cache")})
    assert cfg["filter"]["nsfw"]["domain_blocklists"] == snippet["filter"]["nsfw"]["domain_blocklists"]
    blocked = url_blocklist_precheck(cfg)
    assert blocked("https://www.porn.example/a", "porn.example")
    assert blocked("http://somehost.example/adult-section/page1", "somehost.example")
    assert not blocked("http://somehost.example/other", "somehost.example")
    words = url_words_precheck(cfg)
    assert words("http://a.example/hardword", "a.example")
    assert words("http://a.example/softa-softb", "a.example") and not words("http://a.example/softa", "")
    assert words("http://a.example/xsubwordx", "a.example")
    assert NsfwFilter(cfg["filter"]["nsfw"]).counter("fr").count("Un motmauvais ici") == (1, 3)


def test_bad_tarball_and_404_fail_with_message(upstream, tmp_path, capsys):
    files = default_files(make_tarball({"adult/urls": URLS}))  # no adult/domains member
    server = upstream(files)
    with pytest.raises(DownloadError, match="member adult/domains missing"):
        download_all(tmp_path, f"{server.base}/ut1", f"{server.base}/ldnoobw", f"{server.base}/url_words",
                     ("en",), min_domains=1, backoff_s=0.01)  # fmt: skip

    files["/ut1/adult.tar.gz"] = make_tarball({"adult/domains": DOMAINS, "adult/urls": URLS})
    rc = main(
        ["--dest", str(tmp_path / "x"), "--base-url", server.base, "--langs", "en,xx", "--min-domains", "3"]
    )
    assert rc == 1 and "ldnoobw/xx: HTTP 404" in capsys.readouterr().err
    assert server.requests.count("/ldnoobw/xx") == 1  # a 4xx is not retried
    assert not (tmp_path / "x" / "blocklists.yaml").exists()


def test_too_few_domains_is_rejected(upstream, tmp_path):
    server = upstream(default_files(make_tarball({"adult/domains": DOMAINS, "adult/urls": URLS})))
    with pytest.raises(DownloadError, match="3 domains, expected at least 1000"):
        download_all(tmp_path, f"{server.base}/ut1", f"{server.base}/ldnoobw", f"{server.base}/url_words",
                     ("en",), min_domains=1000, backoff_s=0.01)  # fmt: skip
