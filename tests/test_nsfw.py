"""NSFW URL pre-checks and the LDNOOBW word-ratio stage, with hand-computed expectations."""

from __future__ import annotations

import pyarrow as pa
import pytest

from pipeline.config import ConfigError, load_config
from pipeline.extract.prechecks import build_prechecks, first_blocked
from pipeline.files import resolve_path
from pipeline.filters.nsfw import BadWordCounter, NsfwFilter, UrlWordRule
from pipeline.schema import DOC_SCHEMA, conform, with_signals


@pytest.fixture
def small_cfg(tmp_path):
    """A run config pointing at small generated lists (the real 4.6 M list is tested once, below)."""
    (tmp_path / "domains").write_text("blocked.com\nadult.example.org\n")
    (tmp_path / "urls").write_text("safe.com/private/area\n")
    (tmp_path / "hard.txt").write_text("pornhard\n#xxx\n")
    (tmp_path / "soft.txt").write_text("sexy\nbabes\nhot\n")
    (tmp_path / "sub.txt").write_text("2 girls 1 cup\n")
    ld = tmp_path / "ldnoobw"
    ld.mkdir()
    (ld / "en.txt").write_text("badword\nvery bad phrase\nbad\n🖕\n")
    (ld / "de.txt").write_text("schlimm\n")
    (ld / "zh.txt").write_text("坏词\n")
    overrides = {
        "filter.nsfw.domain_blocklists": [str(tmp_path / "domains")],
        "filter.nsfw.url_blocklists": [str(tmp_path / "urls")],
        "filter.nsfw.blocklist_cache_dir": str(tmp_path / "cache"),
        "filter.nsfw.url_banned_words": str(tmp_path / "hard.txt"),
        "filter.nsfw.url_soft_banned_words": str(tmp_path / "soft.txt"),
        "filter.nsfw.url_banned_subwords": str(tmp_path / "sub.txt"),
        "filter.nsfw.ldnoobw_dir": str(ld),
        "extract.url_prechecks": ["filter.url_blocklist", "filter.url_words"],
    }
    return load_config(None, overrides)


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://blocked.com/", "filter.url_blocklist"),
        ("https://a.b.blocked.com/page", "filter.url_blocklist"),  # parent domain
        ("https://www.adult.example.org/", "filter.url_blocklist"),
        ("https://example.org/", None),  # a child of the listed domain does not block its parent
        ("https://safe.com/private/area/p?id=3", "filter.url_blocklist"),  # listed URL path prefix
        ("https://safe.com/private", None),
        ("https://site.com/pornhard-videos", "filter.url_words"),  # one hard word
        ("https://site.com/PORNHARD/", "filter.url_words"),  # case-insensitive
        ("https://site.com/xxx/", None),  # "#xxx" is a comment line, as in datatrove's load_list
        ("https://site.com/hot-sexy-babes", "filter.url_words"),  # 3 soft words >= 2
        ("https://site.com/hot-dogs", None),  # 1 soft word < 2
        ("https://site.com/hot/hot/hot", None),  # distinct soft words are counted
        ("https://site.com/watch2GIRLS1cup", "filter.url_words"),  # sub-word inside a word
        ("https://pornhardly.com/", None),  # hard words match whole URL words only
    ],
)
def test_url_prechecks(small_cfg, url, expected):
    checks = build_prechecks(small_cfg)
    assert [name for name, _ in checks] == ["filter.url_blocklist", "filter.url_words"]
    assert first_blocked(checks, url, "") == expected


def test_url_word_rule_reports_which_list():
    rule = UrlWordRule({"porn"}, {"sexy", "hot"}, {"teenporn"}, soft_word_threshold=2)
    assert rule.violation("http://x.com/porn") == "hard"
    assert rule.violation("http://x.com/sexy-hot") == "soft"
    assert rule.violation("http://x.com/teen-porno") == "subword"  # "porno" is not the word "porn"
    assert rule.violation("http://x.com/teen_p/orn") == "subword"  # separators removed: "teenporn"
    assert rule.violation("http://x.com/about") is None


def test_missing_list_is_a_one_line_error_naming_the_key(small_cfg, tmp_path):
    small_cfg["filter"]["nsfw"]["domain_blocklists"] = [str(tmp_path / "nope.xz")]
    with pytest.raises(ConfigError) as err:
        build_prechecks(small_cfg)
    msg = str(err.value)
    assert msg.startswith("filter.nsfw.domain_blocklists: ") and "make blocklists" in msg and "\n" not in msg
    with pytest.raises(ConfigError, match=r"^filter\.nsfw\.ldnoobw_dir: .*make blocklists"):
        NsfwFilter({**small_cfg["filter"]["nsfw"], "ldnoobw_dir": str(tmp_path / "none")})


def test_relative_paths_resolve_against_repo_root():
    assert resolve_path("configs/default.yaml").is_file()
    assert resolve_path("/abs/x").as_posix() == "/abs/x"


def test_bad_word_counter_hand_computed():
    c = BadWordCounter(["badword", "very bad phrase", "bad", "🖕", "s&m"])
    # tokens: this(1) is(2) a(3) badword(4) very(5) bad(6) phrase(7) and(8) bad(9) badwords(10) s(11) m(12)
    text = "This is a BADWORD. Very  bad\nphrase and bad, badwords s&m 🖕"
    # badword, "very bad phrase" (one phrase hit, not also "bad"), bad, s&m as tokens (s, m), the emoji
    assert c.count(text) == (5, 12)
    assert c.count("nothing to see here") == (0, 4)
    assert c.count("") == (0, 0)
    zh = BadWordCounter(["坏词"], unspaced=True)
    assert zh.count("这是坏词和坏词") == (2, 7)  # every word character counts as a word


def make_batch(texts, langs, reasons=None):
    n = len(texts)
    data = {
        "doc_id": [str(i) for i in range(n)],
        "text": texts,
        "lang": langs,
        "drop_reason": reasons or [None] * n,
    }
    return conform(pa.RecordBatch.from_pydict(data), DOC_SCHEMA)


def test_nsfw_filter_stage(small_cfg):
    cfg = {**small_cfg["filter"]["nsfw"], "nsfw_word_ratio_max": 0.2}
    stage = NsfwFilter(cfg)
    texts = [
        "a clean text of six words",  # 0 / 6
        "bad bad words here",  # 2 / 4 = 0.5 -> dropped
        "ein schlimm Wort und bad",  # de list: 1 / 5 = 0.2 (not > 0.2: kept); "bad" is not on the de list
        "one bad word among these many many words",  # unknown lang -> en: 1 / 8
        "bad bad",  # already dropped upstream: signals added, reason kept
        None,
    ]
    batch = make_batch(
        texts, ["en", "en", "de", "xx", "en", "en"], [None, None, None, None, "extract.x", None]
    )
    out = stage.apply(batch)
    assert out.schema == with_signals(batch.schema, NsfwFilter.signals)
    assert out.column("nsfw_word_hits").to_pylist() == [0, 2, 1, 1, 2, 0]
    assert out.column("nsfw_word_ratio").to_pylist() == pytest.approx([0, 0.5, 0.2, 0.125, 1.0, 0])
    assert out.column("drop_reason").to_pylist() == [None, "filter.nsfw_words", None, None, "extract.x", None]


@pytest.mark.data
def test_default_config_uses_real_lists(shared_data):
    cfg = load_config()
    checks = build_prechecks(cfg)  # the 4.6 M-domain list: memory-mapped from the cache after the first run
    assert first_blocked(checks, "https://www.0-1avsex.com/x", "0-1avsex.com") == "filter.url_blocklist"
    assert first_blocked(checks, "https://020sextoy.com/sk/item", "020sextoy.com") == "filter.url_blocklist"
    assert first_blocked(checks, "https://en.wikipedia.org/wiki/Toulouse", "wikipedia.org") is None
    assert (
        first_blocked(checks, "https://news.example.com/free-porn-videos", "example.com")
        == "filter.url_words"
    )
    stage = NsfwFilter(cfg["filter"]["nsfw"])
    assert stage.counter("en").count("what a fucking mess")[0] == 1
    assert stage.counter("fr").count("un texte propre")[0] == 0
