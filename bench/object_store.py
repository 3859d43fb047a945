"""`crawl-to-shards` on the demo crawl with INPUT and OUT on an S3 endpoint against both on local disk,
side by side in one run (sides alternate each round): wall and CPU time of our whole process tree.

    .venv/bin/python -m bench.object_store [--rounds 2]

The S3 endpoint is moto's server on loopback, in a thread of the bench (its CPU time is reported apart:
a real store's work happens on other machines). Loopback has no network latency or bandwidth limit,
so the S3 side measures what the object-store code path costs in requests, copies and listing, not a
real store's latency. Results: bench/results/object_store.json.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics

from bench.common.env import OUT, PY_OURS, REPO
from bench.common.inputs import demo_crawl
from bench.common.proc_cpu import become_subreaper, run_measured
from bench.results_table import write_result

WORK = OUT / "object_store"
BUCKET = "bench"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def start_server():
    """moto's S3 server in a thread of this process: the measured commands are our children, so the
    server's CPU time is this process's own (the bench does nothing else while they run)."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    become_subreaper()
    crawl = demo_crawl(WORK / "crawl")
    server, endpoint = start_server()
    env = {**CREDENTIALS, "AWS_ENDPOINT_URL": endpoint, "PYSPARK_PYTHON": str(PY_OURS)}
    os.environ.update(env)
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket=BUCKET)
    for path in sorted(crawl.rglob("*")):
        if path.is_file():
            s3.upload_file(str(path), BUCKET, f"crawl/{path.relative_to(crawl).as_posix()}")
    sides = {
        "local disk": (str(crawl), lambda r: str(WORK / f"run-{r}")),
        "S3 (loopback)": (f"s3://{BUCKET}/crawl", lambda r: f"s3://{BUCKET}/run-{r}"),
    }
    runs: dict[str, list[dict]] = {side: [] for side in sides}
    try:
        for r in range(args.rounds):
            for side in sides if r % 2 == 0 else reversed(list(sides)):
                inp, out = sides[side][0], sides[side][1](r)
                shutil.rmtree(WORK / f"run-{r}", ignore_errors=True)
                cmd = [str(PY_OURS), "-m", "jobs", "crawl-to-shards", "--input", inp, "--output", out]
                server_cpu0 = own_cpu_s()
                result = run_measured(cmd, env=env, cwd=REPO)
                result["server_cpu_s"] = own_cpu_s() - server_cpu0
                print(
                    f"round {r} {side}: wall {result['wall_s']:.1f} s, CPU {result['cpu_s']:.1f} s",
                    flush=True,
                )
                runs[side].append(result)
    finally:
        server.stop()
    rows = []
    for side in sides:
        wall = statistics.median(x["wall_s"] for x in runs[side])
        cpu = statistics.median(x["cpu_s"] for x in runs[side])
        server_cpu = statistics.median(x["server_cpu_s"] for x in runs[side])
        rows.append([side, round(wall, 1), round(cpu, 1), round(server_cpu, 1)])
    rows.append(
        ["S3 / local (ratio)", round(rows[1][1] / rows[0][1], 2), round(rows[1][2] / rows[0][2], 2), ""]
    )
    table = {
        "title": "crawl-to-shards on the demo crawl, INPUT and OUT on S3 (loopback) vs local disk "
        "(local[*], process start included; median of rounds)",
        "command": f"python -m bench.object_store --rounds {args.rounds}",
        "columns": [
            "side",
            "wall s",
            "CPU s (our process tree)",
            "CPU s (bench process: S3 server + sampling)",
        ],
        "rows": rows,
        "notes": "Sides alternate within each round on the same machine. The S3 server is moto on loopback "
        "in a thread of the bench process, whose CPU also holds the /proc sampling of the measured tree (the local row's figure). No network latency: the S3 row is the cost of the object-store code path.",
    }
    print(write_result("object_store", [table]))


if __name__ == "__main__":
    main()
