"""The hashed domain/URL blocklist: normalisation, parent matching, on-disk cache, real-scale load."""

from __future__ import annotations

import lzma
import os
import time

import numpy as np
import pytest

from pipeline.filters import blocklist as bl
from pipeline.filters.blocklist import (
    HashedStringSet,
    UrlBlocklist,
    hash_key,
    load_hashed_set,
    normalize_url_entry,
    url_keys,
)


def test_url_keys_hand_computed():
    assert normalize_url_entry("WWW.Example.com/A/b/?q=1#x") == "example.com/A/b"
    assert normalize_url_entry("https://www.example.com:8080/a/b/?q=1") == "example.com/a/b"
    assert url_keys("https://Sub.Example.com/a/b/c?x=1") == [
        "sub.example.com/a/b/c",
        "sub.example.com/a/b",
        "sub.example.com/a",
    ]
    assert url_keys("https://example.com/") == []  # the bare host is the domain list's business


def test_hashed_set_membership_and_vectorised_lookup():
    s = HashedStringSet(
        np.unique(np.array([hash_key(k) for k in ["a.com", "b.org", "c.net"]], dtype=np.uint64))
    )
    assert "b.org" in s and "d.org" not in s
    keys = np.array([hash_key(k) for k in ["x", "c.net", "a.com", "zz"]], dtype=np.uint64)
    assert s.contains_hashes(keys).tolist() == [False, True, True, False]
    # a probe larger than every stored hash must not index past the end
    assert HashedStringSet(np.array([1, 5], dtype=np.uint64)).contains_hashes(
        np.array([9], np.uint64)
    ).tolist() == [False]
    assert not HashedStringSet(np.zeros(0, dtype=np.uint64)).contains_any(["a.com"])


@pytest.fixture
def lists(tmp_path):
    domains = tmp_path / "domains.xz"
    with lzma.open(domains, "wt") as f:
        f.write("# comment\nbad.com\nWWW.Evil.ORG\nsub.host.net\n\n1.2.3.4\n")
    urls = tmp_path / "urls"
    urls.write_text("good.com/adult/\nwww.other.com/x/y.html\n")
    return domains, urls


def test_domain_and_url_matching(lists, tmp_path):
    domains, urls = lists
    cache = tmp_path / "cache"
    b = UrlBlocklist(load_hashed_set([domains], "domain", cache), load_hashed_set([urls], "url", cache))
    assert len(b.domains) == 4
    assert (
        b.domain_blocked("bad.com") and b.domain_blocked("a.b.bad.com") and b.domain_blocked("www.evil.org")
    )
    assert b.domain_blocked("x.sub.host.net") and not b.domain_blocked(
        "host.net"
    )  # parents only, not children
    assert not b.domain_blocked("notbad.com") and not b.domain_blocked("bad.com.au")
    assert b.domain_blocked("1.2.3.4")
    assert b.url_blocked("https://good.com/adult") and b.url_blocked("http://www.good.com/adult/p/1?x=2")
    assert not b.url_blocked("https://good.com/adulting") and not b.url_blocked("https://good.com/")
    assert b.url_blocked("https://other.com/x/y.html") and not b.url_blocked("https://other.com/x")


def test_cache_file_reused_and_invalidated_on_change(lists, tmp_path):
    domains, _ = lists
    cache = tmp_path / "cache"
    first = load_hashed_set([domains], "domain", cache)
    files = sorted(cache.glob("*.npy"))
    assert len(files) == 1 and isinstance(first.hashes, np.memmap)
    assert load_hashed_set([domains], "domain", cache) is first  # in-process cache
    bl._CACHE.clear()
    again = load_hashed_set([domains], "domain", cache)  # a new process: maps the .npy, no rebuild
    assert again is not first and np.array_equal(again.hashes, first.hashes)
    assert sorted(cache.glob("*.npy")) == files
    # the list changes on disk (new mtime): rebuilt under a new cache name
    with lzma.open(domains, "wt") as f:
        f.write("new.com\n")
    os.utime(domains, ns=(time.time_ns(), time.time_ns() + 10**9))
    changed = load_hashed_set([domains], "domain", cache)
    assert "new.com" in changed and "bad.com" not in changed and len(list(cache.glob("*.npy"))) == 2


def test_union_of_lists_and_no_cache_dir(lists, tmp_path):
    domains, _ = lists
    extra = tmp_path / "extra.txt"
    extra.write_text("more.com\nbad.com\n")
    s = load_hashed_set([domains, extra], "domain", None)
    assert len(s) == 5 and "more.com" in s and "evil.org" in s


@pytest.mark.data
def test_real_ut1_list_loads_and_matches(shared_data, tmp_path_factory):
    """4.56 M domains: built once into ~/.cache/webdata (about 10 s the first time), then memory-mapped."""
    from pathlib import Path

    path = shared_data / "blocklists/datatrove_url_filter/domains.xz"
    s = load_hashed_set([path], "domain", Path("~/.cache/webdata").expanduser())
    assert 4_500_000 < len(s) < 4_700_000
    assert np.all(np.diff(s.hashes.astype(np.uint64)) > 0)  # sorted, unique
    with lzma.open(path, "rt") as f:
        sample = [next(f).strip() for _ in range(1000)]
    assert all(d in s for d in sample)
    assert not s.contains_any(["wikipedia.org", "bbc.co.uk", "python.org", "example.com"])
