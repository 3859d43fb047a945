"""Cost of the 4.6 M-domain UT1 blocklist: load time, resident memory, lookup ns per URL.

    .venv/bin/python -m bench.blocklist_cost [--reps 2] [--urls 200000]

Ours (pipeline.filters.blocklist: sorted uint64 xxhash64 array, .npy memory-mapped) against the peer
approach datatrove's URLFilter uses: a Python `set` of the domain strings read from the list.
Each measurement runs in a fresh subprocess (so resident memory is that approach's alone), in the
order ours, set, ours, set, ... and medians are reported. Both check the same URLs with the same
rule (the host and every parent domain, pipeline.urls.parent_domains).
URLs: half are hosts from the list with a random subdomain (blocked), half are hosts of the UT1
"press" list (not blocked), in shuffled order.
"""

from __future__ import annotations

import argparse
import json
import lzma
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.results_table import write_result

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "../shared/data/blocklists"
DOMAINS = DATA / "datatrove_url_filter/domains.xz"


def rss_kb() -> dict[str, int]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS", "RssAnon", "RssFile")):
            key, value = line.split(":")
            out[key] = int(value.split()[0])
    return out


def make_urls(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    with lzma.open(DOMAINS, "rt") as f:
        listed = [line.strip() for _, line in zip(range(2_000_000), f)]
    press = (DATA / "ut1_categories/press/domains").read_text().split()
    urls = []
    for i in range(n):
        host = f"www{rng.randrange(9)}.{rng.choice(listed)}" if i % 2 else rng.choice(press)
        urls.append((f"https://{host}/page/{i}", host))
    rng.shuffle(urls)
    return urls


def child(approach: str, urls_file: str, cache_dir: str) -> dict:
    """Runs in a subprocess: load one approach, then time lookups."""
    from pipeline.filters.blocklist import load_hashed_set, read_entries
    from pipeline.urls import parent_domains

    urls = json.loads(Path(urls_file).read_text())
    before = rss_kb()
    t0 = time.perf_counter()
    if approach == "ours":
        table = load_hashed_set([DOMAINS], "domain", Path(cache_dir))
        check = lambda host: table.contains_any(parent_domains(host))  # noqa: E731
    else:
        table = {d.lower() for d in read_entries(DOMAINS)}
        check = lambda host: any(p in table for p in parent_domains(host))  # noqa: E731
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    blocked = sum(check(host) for _, host in urls)
    lookup_ns = (time.perf_counter() - t0) / len(urls) * 1e9
    result = {"approach": approach, "load_s": load_s, "lookup_ns": lookup_ns, "blocked": blocked}
    after = rss_kb()  # the table plus the pages the lookups touched (not the batch arrays below)
    result["rss_mb"] = (after["VmRSS"] - before["VmRSS"]) / 1024
    result["rss_anon_mb"] = (after["RssAnon"] - before["RssAnon"]) / 1024
    result["rss_file_mb"] = (after["RssFile"] - before["RssFile"]) / 1024
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--urls", type=int, default=200_000)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        urls_file = Path(tmp) / "urls.json"
        urls_file.write_text(json.dumps(make_urls(args.urls)))
        cache = Path(tmp) / "cache"
        # cold build: xz -> hashes -> sorted .npy (once per list file, shared by every later process)
        from pipeline.filters.blocklist import _load_or_build

        t0 = time.perf_counter()
        _load_or_build(DOMAINS, "domain", cache)
        build_s = time.perf_counter() - t0
        npy_mb = sum(p.stat().st_size for p in cache.glob("*.npy")) / 2**20
        runs: dict[str, list[dict]] = {"ours": [], "set": []}
        for _ in range(args.reps):
            for approach in ("ours", "set"):
                cmd = [
                    sys.executable,
                    "-m",
                    "bench.blocklist_cost",
                    "--child",
                    approach,
                    str(urls_file),
                    str(cache),
                ]
                out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO).stdout
                runs[approach].append(json.loads(out.strip().splitlines()[-1]))

    def med(approach: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[approach])

    assert runs["ours"][0]["blocked"] == runs["set"][0]["blocked"], "the two approaches disagree"
    print(
        f"domains: {DOMAINS.name}; {args.urls} URLs, {runs['ours'][0]['blocked']} blocked; reps={args.reps}"
    )
    print(f"ours cold build (xz -> .npy, once per list file): {build_s:.1f} s, .npy {npy_mb:.1f} MB")
    print("| approach | load s | RSS MB (anon + file-backed) | lookup ns/URL |")
    print("|---|---:|---:|---:|")
    for approach in ("ours", "set"):
        print(
            f"| {approach} | {med(approach, 'load_s'):.3f} | {med(approach, 'rss_mb'):.0f} "
            f"({med(approach, 'rss_anon_mb'):.0f} + {med(approach, 'rss_file_mb'):.0f}) "
            f"| {med(approach, 'lookup_ns'):.0f} |"
        )
    print(
        f"ratios set/ours: load {med('set', 'load_s') / med('ours', 'load_s'):.0f}x, "
        f"RSS {med('set', 'rss_mb') / max(med('ours', 'rss_mb'), 1):.1f}x, "
        f"lookup {med('set', 'lookup_ns') / med('ours', 'lookup_ns'):.2f}x"
    )
    keys = ("load_s", "rss_mb", "rss_anon_mb", "rss_file_mb", "lookup_ns")
    figures = {
        "urls": args.urls,
        "reps": args.reps,
        "blocked": runs["ours"][0]["blocked"],
        "cache_build_s": build_s,
        "npy_mb": npy_mb,
        "medians": {approach: {key: med(approach, key) for key in keys} for approach in ("ours", "set")},
    }
    print(write_result("blocklist_cost", [table(figures)], figures))


APPROACHES = {"ours": "ours (hashed, memory-mapped)", "set": "Python `set` of str (datatrove)"}


def _three_digits(x: float) -> str:
    return f"{float(f'{x:.3g}'):,.0f}" if x >= 100 else f"{x:.3g}"


def table(figures: dict) -> dict:
    rows = []
    for approach, label in APPROACHES.items():
        m = figures["medians"][approach]
        rss = f"{m['rss_mb']:.0f} ({m['rss_anon_mb']:.0f} + {m['rss_file_mb']:.0f})"
        rows.append([label, _three_digits(m["load_s"]), rss, _three_digits(m["lookup_ns"])])
    return {
        "title": f"URL blocklist: UT1 adult domains, {figures['urls']:,} URLs, medians of {figures['reps']} fresh processes",
        "command": f"python -m bench.blocklist_cost --reps {figures['reps']} --urls {figures['urls']}",
        "columns": ["approach", "load s", "RSS MB (anon + file-backed)", "lookup ns/URL (host + parents)"],
        "rows": rows,
    }


if __name__ == "__main__":
    main()
