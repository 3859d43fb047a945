"""Download the NSFW blocklists from upstream (`make blocklists`) and write a config snippet.

    python -m pipeline.filters.blocklists_download --dest data/blocklists

Fetches
- the UT1 "adult" tarball (Université Toulouse Capitole, CC BY-SA 4.0): members adult/domains, adult/urls;
- the LDNOOBW word lists, one raw file per language (CC-BY-4.0);
- the URL word lists datatrove ships for FineWeb's URLFilter (Apache-2.0).
It verifies each download (tarball members present, domain count above --min-domains, every line of
the domain list shaped like hosts (99 %), word lists non-empty UTF-8 text), extracts into DEST, records
URL + sha256 of every file in DEST/SOURCES.json, and writes DEST/blocklists.yaml (pass it with
--config, or copy its `filter.nsfw` keys into your run config). Transient failures (HTTP 5xx, reset
connections) are retried with backoff; 4xx fail at once. Files are written to a temporary name and
renamed, so an interrupted run leaves no half file.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import sys
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

UT1_BASE_URL = "https://dsi.ut-capitole.fr/blacklists/download"
UT1_ARCHIVE = "adult.tar.gz"
UT1_MEMBERS = ("adult/domains", "adult/urls")
LDNOOBW_BASE_URL = (
    "https://raw.githubusercontent.com/LDNOOBW/List-of-Dirty-Naughty-Obscene-and-Otherwise-Bad-Words/master"
)
LDNOOBW_LANGS = (
    "ar", "cs", "da", "de", "en", "eo", "es", "fa", "fi", "fil", "fr", "fr-CA-u-sd-caqc", "hi", "hu", "it",
    "ja", "kab", "ko", "nl", "no", "pl", "pt", "ru", "sv", "th", "tlh", "tr", "zh",
)  # fmt: skip
URL_WORDS_BASE_URL = "https://raw.githubusercontent.com/huggingface/datatrove/main/src/datatrove/assets"
URL_WORD_FILES = {
    "url_banned_words": "banned_words.txt",
    "url_soft_banned_words": "soft_banned_words.txt",
    "url_banned_subwords": "banned_subwords.txt",
}
HOST_RE = re.compile(r"^[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?$")
USER_AGENT = "webdata-blocklists/0.1 (+make blocklists)"


class DownloadError(RuntimeError):
    pass


def fetch(url: str, retries: int = 4, backoff_s: float = 1.0, timeout_s: float = 60.0) -> bytes:
    """GET `url`; retry 5xx and connection errors with exponential backoff, fail fast on 4xx."""
    for attempt in range(retries + 1):
        try:
            request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            if exc.code < 500 or attempt == retries:
                raise DownloadError(f"{url}: HTTP {exc.code}") from None
            reason = f"HTTP {exc.code}"
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            if attempt == retries:
                raise DownloadError(f"{url}: {getattr(exc, 'reason', exc)}") from None
            reason = str(getattr(exc, "reason", exc))
        delay = backoff_s * 2**attempt
        print(f"{url}: {reason}, retrying in {delay:.1f}s", file=sys.stderr)
        time.sleep(delay)
    raise AssertionError("unreachable")


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)


def extract_ut1(archive: bytes, dest: Path, min_domains: int) -> dict[str, Path]:
    """Verify and extract the two list members of the UT1 tarball; nothing else is written."""
    try:
        tar = tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DownloadError(f"{UT1_ARCHIVE}: not a gzip tarball ({exc})") from None
    out = {}
    with tar:
        for name in UT1_MEMBERS:
            try:
                member = tar.getmember(name)
            except KeyError:
                raise DownloadError(f"{UT1_ARCHIVE}: member {name} missing") from None
            if not member.isfile():
                raise DownloadError(f"{UT1_ARCHIVE}: member {name} is not a regular file")
            data = tar.extractfile(member).read()  # by name only: no path from the archive touches disk
            out[name] = data
    domains = [
        line.strip() for line in out["adult/domains"].decode("utf-8", "replace").splitlines() if line.strip()
    ]
    if len(domains) < min_domains:
        raise DownloadError(f"adult/domains: {len(domains)} domains, expected at least {min_domains}")
    bad = [d for d in domains if not HOST_RE.match(d.lower())]
    if len(bad) > len(domains) // 100:  # a few odd lines are tolerated; an error page or binary is not
        raise DownloadError(f"adult/domains: {len(bad)} lines are not host names, e.g. {bad[0][:80]!r}")
    paths = {}
    for name, data in out.items():
        path = dest / "ut1" / name
        write_atomic(path, data)
        paths[name] = path
    return paths


def check_word_list(name: str, data: bytes) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise DownloadError(f"{name}: not UTF-8 text") from None
    if not text.strip() or "<html" in text[:1000].lower():
        raise DownloadError(f"{name}: empty or an HTML page instead of a word list")


def download_all(
    dest: Path,
    ut1_base: str = UT1_BASE_URL,
    ldnoobw_base: str = LDNOOBW_BASE_URL,
    url_words_base: str = URL_WORDS_BASE_URL,
    langs: tuple[str, ...] = LDNOOBW_LANGS,
    min_domains: int = 1_000_000,
    backoff_s: float = 1.0,
) -> Path:
    """Download, verify and extract everything into `dest`; returns the config snippet's path."""
    dest = dest.resolve()
    sources: dict[str, dict[str, str]] = {}

    def record(path: Path, url: str, data: bytes) -> None:
        sources[str(path.relative_to(dest))] = {"url": url, "sha256": hashlib.sha256(data).hexdigest()}

    url = f"{ut1_base}/{UT1_ARCHIVE}"
    archive = fetch(url, backoff_s=backoff_s)
    ut1 = extract_ut1(archive, dest, min_domains)
    for path in ut1.values():
        record(path, url, path.read_bytes())

    for lang in langs:
        url = f"{ldnoobw_base}/{lang}"
        data = fetch(url, backoff_s=backoff_s)
        check_word_list(f"ldnoobw/{lang}", data)
        path = dest / "ldnoobw" / f"{lang}.txt"
        write_atomic(path, data)
        record(path, url, data)

    word_paths = {}
    for key, filename in URL_WORD_FILES.items():
        url = f"{url_words_base}/{filename}"
        data = fetch(url, backoff_s=backoff_s)
        check_word_list(filename, data)
        path = dest / "url_words" / filename
        write_atomic(path, data)
        record(path, url, data)
        word_paths[key] = path

    write_atomic(dest / "SOURCES.json", json.dumps(sources, indent=1, sort_keys=True).encode())
    snippet = dest / "blocklists.yaml"
    lines = [
        "# Written by `python -m pipeline.filters.blocklists_download`; pass with --config or merge into a run config.",
        "filter:",
        "  nsfw:",
        f"    domain_blocklists: [{json.dumps(str(ut1['adult/domains']))}]",
        f"    url_blocklists: [{json.dumps(str(ut1['adult/urls']))}]",
        *(f"    {key}: {json.dumps(str(path))}" for key, path in word_paths.items()),
        f"    ldnoobw_dir: {json.dumps(str(dest / 'ldnoobw'))}",
    ]
    write_atomic(snippet, ("\n".join(lines) + "\n").encode())
    return snippet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Download the NSFW blocklists (make blocklists).")
    parser.add_argument("--dest", type=Path, required=True, help="folder to write the lists into")
    parser.add_argument(
        "--base-url",
        help="a mirror laid out as BASE/ut1/adult.tar.gz, BASE/ldnoobw/<lang>, BASE/url_words/<file>",
    )
    parser.add_argument("--ut1-base-url", default=UT1_BASE_URL)
    parser.add_argument("--ldnoobw-base-url", default=LDNOOBW_BASE_URL)
    parser.add_argument("--url-words-base-url", default=URL_WORDS_BASE_URL)
    parser.add_argument("--langs", default=",".join(LDNOOBW_LANGS), help="comma-separated LDNOOBW languages")
    parser.add_argument("--min-domains", type=int, default=1_000_000, help="sanity floor for adult/domains")
    parser.add_argument("--backoff-s", type=float, default=1.0, help="first retry delay (doubles each retry)")
    args = parser.parse_args(argv)
    ut1, ldnoobw, words = args.ut1_base_url, args.ldnoobw_base_url, args.url_words_base_url
    if args.base_url:
        base = args.base_url.rstrip("/")
        ut1, ldnoobw, words = f"{base}/ut1", f"{base}/ldnoobw", f"{base}/url_words"
    try:
        snippet = download_all(
            args.dest, ut1, ldnoobw, words, tuple(args.langs.split(",")), args.min_domains, args.backoff_s
        )
    except DownloadError as exc:
        print(f"blocklists: {exc}", file=sys.stderr)
        return 1
    print(f"blocklists written to {args.dest}; config snippet: {snippet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
