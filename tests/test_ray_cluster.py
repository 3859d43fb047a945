"""The Ray cluster path, proven like the Spark one (tests/test_cluster.py): a head and a worker node started
as separate processes with Ray's own launcher (`ray start`) on loopback, with token authentication on, and
the trainer pointed at them with `--address` - the commands README's "Running on a cluster" gives.

Two Ray Train workers (one CPU each, one CPU per node) land one on each node. Mid-run the worker node's
processes are killed; a replacement node joins (what an autoscaler or a node restart does) and Ray Train's
failure handling restarts the worker group from the last registered checkpoint.

Every port is chosen free at run time and every node has a private --temp-dir and HOME (its
~/.ray/auth_token), so other Ray instances on the machine are neither joined nor touched; teardown
kills only the process groups this module started (never `ray stop`, which stops every Ray on the host).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from trainer.demo_shards import write_demo_shards

pytestmark = pytest.mark.ray

REPO = Path(__file__).resolve().parent.parent
RAY = str(Path(sys.executable).parent / "ray")
STEPS, CKPT_EVERY = 16, 4
# `ray job submit` needs Ray's job server on the head and Ray's job CLI: the ray[default] extra (aiohttp, ...)
JOBS = importlib.util.find_spec("aiohttp") is not None
CLIENT = importlib.util.find_spec("grpc") is not None  # with it the head also starts Ray Client (port 10001)
NODE_PORT_FLAGS = (
    "--node-manager-port",
    "--object-manager-port",
    "--dashboard-agent-listen-port",
    "--dashboard-agent-grpc-port",
    "--runtime-env-agent-port",
    "--metrics-export-port",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


class Node:
    """One `ray start --block` process group; `kill()` ends it and everything it spawned."""

    def __init__(self, base: Path, name: str, env: dict, *args: str):
        self.log = base / f"{name}.log"
        cmd = [RAY, "start", "--block", "--num-cpus", "1", "--node-ip-address", "127.0.0.1"]
        cmd += ["--temp-dir", str(base / name), "--disable-usage-stats", *args]
        for flag in NODE_PORT_FLAGS:
            cmd += [flag, str(_free_port())]
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(
                cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        _wait(lambda: self.started() or self.proc.poll() is not None, 120, name)

    def started(self) -> bool:
        return "Ray runtime started" in self.log.read_text()

    def kill(self) -> None:
        try:  # Ray's workers may leave the process group; their parent chain still leads here
            procs = [psutil.Process(self.proc.pid), *psutil.Process(self.proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            procs = []
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for p in procs:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        self.proc.wait(timeout=30)


def start_node(base: Path, name: str, env: dict, *args: str) -> Node:
    for attempt in range(2):  # Ray allows a new raylet 30 s to register: a starved machine can miss that once
        node = Node(base, f"{name}-{attempt}", env, *args)
        if node.started():
            return node
        node.kill()
    raise RuntimeError(f"{name} did not start:\n{node.log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def cluster():
    # short paths: Ray's Unix sockets live under --temp-dir and must stay under 108 bytes
    base = Path(tempfile.mkdtemp(prefix="rayc-", dir="/tmp"))
    (base / "home").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_AUTH", "RAY_ADDRESS"))}
    pythonpath = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    env.update(HOME=str(base / "home"), PYTHONPATH=pythonpath, RAY_USAGE_STATS_ENABLED="0")
    # README: generate the token on the head (~/.ray/auth_token), copy it to every node and client
    subprocess.run(
        [RAY, "get-auth-token", "--generate"], env=env, check=True, capture_output=True, timeout=60
    )
    env["RAY_AUTH_MODE"] = "token"
    address, dashboard = f"127.0.0.1:{_free_port()}", _free_port()
    head = ["--head", "--port", address.split(":")[1]]
    head += (
        ["--dashboard-host", "127.0.0.1", "--dashboard-port", str(dashboard)]
        if JOBS
        else ["--include-dashboard", "false"]
    )
    head += ["--ray-client-server-port", str(_free_port())] if CLIENT else []
    nodes: list[Node] = []
    try:
        nodes.append(start_node(base, "head", env, *head))
        nodes.append(start_node(base, "worker", env, "--address", address))
        yield {
            "address": address,
            "dashboard": f"http://127.0.0.1:{dashboard}",
            "env": env,
            "base": base,
            "nodes": nodes,
        }
    finally:
        for node in reversed(nodes):
            node.kill()
        shutil.rmtree(base, ignore_errors=True)


def _train(cluster, out: Path, *extra: str, env: dict | None = None, **popen) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "trainer",
        "train",
        "--out",
        str(out),
        "--address",
        cluster["address"],
        *extra,
    ]
    return subprocess.Popen(cmd, env=env or cluster["env"], cwd=REPO, text=True, **popen)


def _metrics(out: Path) -> list[str]:
    path = out / "train" / "metrics.jsonl"
    return path.read_text().splitlines() if path.exists() else []


def _steps(lines: list[str]) -> list[int]:
    return [json.loads(line)["step"] for line in lines]


def test_two_nodes_train_and_survive_losing_the_worker_node(cluster, tmp_path):
    out = tmp_path / "run"
    write_demo_shards(out, docs_per_domain=80)
    config = tmp_path / "train.yaml"
    config.write_text(
        f"train:\n  log_every: 1\n  ckpt_every: {CKPT_EVERY}\n  eval_every: 1000\n  eval_windows: 4\n"
        "  warmup_steps: 2\n  keep_checkpoints: 2\n"
    )
    log = tmp_path / "train.log"
    with log.open("w") as f:
        proc = _train(
            cluster, out, "--config", str(config), "--preset", "tiny", "--steps", str(STEPS), "--workers", "2",
            "--set", "train.threads=1", "--set", "train.max_failures=1", "--run-name", "cluster", stdout=f, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        # both workers run (one per node) once steps are logged; past a checkpoint step, kill the worker node
        # Ray's controller records the checkpoint in its snapshot after the rank's metrics line: wait for both
        snapshot_file = out / "train" / "cluster" / "checkpoint_manager_snapshot.json"
        _wait(
            lambda: (
                (max(_steps(_metrics(out)), default=0) > CKPT_EVERY and snapshot_file.exists())
                or proc.poll() is not None
            ),
            240,
            "step 5",
        )
        assert proc.poll() is None, log.read_text()[-3000:]
        cluster["nodes"][1].kill()
        before = _metrics(out)
        snapshot = json.loads(snapshot_file.read_text())
        last_checkpoint = snapshot["latest_checkpoint_result"]["metrics"]["step"]
        assert 0 < last_checkpoint < STEPS
        # a replacement node brings the second CPU back (what an autoscaler or a node restart does)
        cluster["nodes"][1] = start_node(
            cluster["base"], "worker2", cluster["env"], "--address", cluster["address"]
        )
        assert proc.wait(timeout=300) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    after = _metrics(out)
    assert _steps(after) == list(range(1, STEPS + 1))  # every step once: no gap, no duplicate
    # A step trained again logs a new line (its tokens_per_s differs), so the first line that changed is
    # the step the run resumed from: a checkpoint step, at least the last one registered when the node died
    resumed = next((i for i, (a, b) in enumerate(zip(after, before)) if a != b), len(before))
    assert resumed % CKPT_EVERY == 0 and last_checkpoint <= resumed <= len(before), (resumed, last_checkpoint)
    assert all(a != b for a, b in zip(after[resumed:], before[resumed:]))  # everything after it redone
    losses = [json.loads(line)["train_loss"] for line in after]
    assert sum(losses[-3:]) < sum(losses[:3])
    final = json.loads(after[-1])
    assert final["step"] == STEPS and "val_loss" in final
    latest = json.loads((out / "train" / "cluster" / "checkpoint_manager_snapshot.json").read_text())
    checkpoint = out / "train" / "cluster" / latest["latest_checkpoint_result"]["checkpoint_dir_name"]
    assert json.loads((checkpoint / "meta.json").read_text())["step"] == STEPS
    # a sharded (DCP) checkpoint: one shard file per rank, the run's settings, cursors and RNG states
    names = {p.name for p in checkpoint.iterdir()}
    assert (
        names >= {".metadata", "meta.json", "data", "rng"} and sum(n.endswith(".distcp") for n in names) == 2
    )


def test_sigterm_to_a_trainer_on_a_cluster_only_disconnects(cluster, tmp_path):
    """The cluster is the user's: a stopped trainer leaves every node running and its CPUs free again."""
    out = tmp_path / "run"
    write_demo_shards(out, docs_per_domain=20)
    config = tmp_path / "train.yaml"  # many steps, nothing slow between them: it is still training when hit
    config.write_text("train:\n  max_epochs: 100000\n  eval_every: 100000\n  ckpt_every: 100000\n")
    log = tmp_path / "train.log"
    with log.open("w") as f:
        proc = _train(
            cluster, out, "--config", str(config), "--preset", "tiny", "--steps", "5000", "--workers", "2",
            "--set", "train.threads=1", "--set", "train.log_every=1", stdout=subprocess.DEVNULL, stderr=f,
        )  # fmt: skip
    try:
        _wait(lambda: _metrics(out) or proc.poll() is not None, 240, "a training step")
        assert proc.poll() is None, log.read_text()[-3000:]
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)  # TimeoutExpired fails the test
    finally:
        if proc.poll() is None:
            proc.kill()
    last = log.read_text().strip().splitlines()[-1]
    assert code == 128 + signal.SIGTERM, last
    assert last == "FAILED: interrupted by SIGTERM: training stopped, disconnected from the Ray cluster"
    assert all(node.proc.poll() is None for node in cluster["nodes"])  # `ray start --block` still runs
    # the cluster still takes drivers, and the trainer's workers are gone: both CPUs are free again
    code = (
        "import sys, time, ray; ray.init(address=sys.argv[1]); deadline = time.monotonic() + 60\n"
        "while ray.available_resources().get('CPU', 0) < 2 and time.monotonic() < deadline: time.sleep(0.5)\n"
        "print(ray.available_resources().get('CPU', 0))"
    )
    check = subprocess.run(
        [sys.executable, "-c", code, cluster["address"]], env=cluster["env"], cwd=REPO,
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr[-2000:]
    assert float(check.stdout.strip().splitlines()[-1]) == 2.0


def _last_stderr_line(proc: subprocess.Popen) -> str:
    _, err = proc.communicate(timeout=120)
    return err.strip().splitlines()[-1]


def test_wrong_or_missing_token_is_one_line(cluster, tmp_path):
    write_demo_shards(tmp_path, docs_per_domain=20)  # valid input: the only fault is the token
    wrong = {**cluster["env"], "RAY_AUTH_TOKEN": "0" * 32}
    proc = _train(cluster, tmp_path, env=wrong, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = _last_stderr_line(proc)
    assert proc.returncode == 2 and "rejected this machine's token (from RAY_AUTH_TOKEN)" in line, line

    (tmp_path / "empty-home").mkdir()
    none = {**cluster["env"], "HOME": str(tmp_path / "empty-home")}
    del none["RAY_AUTH_MODE"]
    proc = _train(cluster, tmp_path, env=none, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = _last_stderr_line(proc)
    assert proc.returncode == 2 and "requires token authentication and none is set here" in line, line


def test_token_mode_follows_an_existing_token_like_ray_start(cluster):
    """RAY_AUTH_MODE unset but ~/.ray/auth_token present: token mode, as Ray 2.60's `ray start --head` does."""
    env = {k: v for k, v in cluster["env"].items() if k != "RAY_AUTH_MODE"}
    code = "import sys; from trainer.cluster import check_cluster; print(check_cluster(sys.argv[1]))"
    proc = subprocess.run(
        [sys.executable, "-c", code, cluster["address"]], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == cluster["address"]


def test_nothing_listening_is_one_line(tmp_path):
    write_demo_shards(tmp_path, docs_per_domain=20)
    address = f"127.0.0.1:{_free_port()}"
    proc = subprocess.run(
        [sys.executable, "-m", "trainer", "train", "--out", str(tmp_path), "--address", address],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 2 and f"nothing answers at {address}" in last, last


def test_without_address_a_stale_cluster_file_is_ignored(tmp_path):
    """A killed `ray start` head leaves ray_current_cluster behind; a bare ray.init() would try to join it."""
    ray_tmp = Path(tempfile.mkdtemp(prefix="rayl-", dir="/tmp"))
    try:
        (ray_tmp / "ray").mkdir()
        (ray_tmp / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{_free_port()}")
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        env.update(RAY_TMPDIR=str(ray_tmp), PYTHONPATH=str(REPO))
        code = (
            "import ray; from trainer.cluster import connect; connect(num_cpus=1); "
            "print(ray.get_runtime_context().gcs_address); ray.shutdown()"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        planted = (ray_tmp / "ray" / "ray_current_cluster").read_text()
        assert proc.stdout.strip().splitlines()[-1] != planted
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)


@pytest.mark.skipif(
    not JOBS, reason="`ray job submit` needs the ray[default] extra (Ray's job server and CLI)"
)
def test_ray_job_submit_runs_the_trainer_and_returns_its_status(cluster, tmp_path):
    out = tmp_path / "run"
    write_demo_shards(out, docs_per_domain=80)

    def submit(*args: str) -> subprocess.CompletedProcess:
        cmd = [RAY, "job", "submit", "--address", cluster["dashboard"], "--working-dir", str(REPO), "--"]
        cmd += [sys.executable, "-m", "trainer", "train", "--out", str(out), *args]
        return subprocess.run(cmd, env=cluster["env"], capture_output=True, text=True, timeout=300)

    done = submit(
        "--preset", "tiny", "--steps", "4", "--workers", "1", "--set", "train.threads=1", "--run-name", "job"
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    # the entrypoint joined the cluster through RAY_ADDRESS (set by the job server), not a local instance
    assert "Connected to Ray cluster" in done.stdout and "Started a local Ray instance" not in done.stdout
    assert _steps(_metrics(out))[-1] == 4

    failed = submit("--address", f"127.0.0.1:{_free_port()}")
    assert failed.returncode != 0 and "nothing answers at" in failed.stdout, failed.stdout[-2000:]
