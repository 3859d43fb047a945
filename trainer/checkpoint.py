"""Training checkpoints: sharded model + optimizer through `torch.distributed.checkpoint` (DCP), the run's
settings in meta.json, and the data cursors.

One checkpoint directory holds
    .metadata, __<rank>_0.distcp   DCP: every rank writes only its own shards (FSDP2) or its share of the
                                   replicated tensors (DDP); any world size loads them back (DCP reshards)
    meta.json                      rank 0: step, run name, model shape and the run's settings (RUN_FIELDS);
                                   written last, once every rank's DCP write finished: a directory with
                                   meta.json is complete
    files/rank<r>.json             size and sha256 of every file rank r wrote, recorded once written:
                                   `verify` checks them before a resume, so a truncated or damaged
                                   checkpoint is skipped for the newest one that verifies
    data/stream<s>.pt              the cursor of logical data stream s (written by the rank that reads it)
    rng/rank<r>.pt                 the torch RNG state of rank r
Under Ray each rank writes into its own temporary directory and Ray merges them into one checkpoint; the
file names never collide.

A parameter shared by several modules (the GPT's tied embedding and output projection) is stored once, under
its first name, and put back under the other names on load. Saves may be asynchronous (`start_save`): DCP
copies the state to CPU memory, then writes it in a background thread over a gloo group of its own (so its
collectives never interleave with training's), and training goes on; `PendingSave.finish` waits for the
write and only then writes meta.json.

Resuming or branching from a checkpoint is refused, naming the field, when a setting that shapes the run
differs: the schedule, the batch, the data or the model. The world size may change when the global batch
is kept: the data is read as `data_streams` logical streams (the world size of the run's start), and a rank
of a smaller world reads several of them (see trainer/train_loop.py).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import hashlib
import json
import shutil
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.distributed as dist

from pipeline import storage
from pipeline.files import resolve_path, sha256_file
from pipeline.settings import TrainSettings

# one process without a process group is a valid single-rank checkpoint; DCP warns about it on every call
warnings.filterwarnings("ignore", message="torch.distributed is disabled", category=UserWarning)

TRANSFER_BLOCK = 8 << 20  # bytes per read when a checkpoint is uploaded, downloaded or hashed on a store
FILES_DIR = "files"  # per-rank records of the files written (name, size, sha256)
# `train:` settings a resume or branch may change: how the run is executed, logged, evaluated and
# checkpointed, AdamW's betas, weight decay and clipping, hq_weight (anneal branches exist to change it);
# seq_len, grad_accum and replay are compared as the loop derives them (RUN_FIELDS)
MAY_CHANGE = {
    "seq_len", "grad_accum", "replay", "weight_decay", "beta1", "beta2", "grad_clip", "hq_weight", "log_every",
    "eval_every", "eval_windows", "ckpt_every", "ckpt_every_min", "ckpt_async", "keep_checkpoints",
    "max_failures", "run_name", "workers", "gpu", "compile", "fsdp", "threads", "cache_dir",
}  # fmt: skip
# settings meta.json copies from the run's config as they are: every other `train:` key (a new key is
# checked unless it is added above), and the mixture weights a proxy run trains on
TRAIN_FIELDS = tuple(f.name for f in dataclasses.fields(TrainSettings) if f.name not in MAY_CHANGE)
CONFIG_FIELDS = (*TRAIN_FIELDS, "weights")
# settings that must be equal for a resume or a branch to continue the same run: those, and what the loop
# derives from the model, the batch and the data (hq_weight may differ: anneal branches exist to change it)
RUN_FIELDS = CONFIG_FIELDS + ("seq_len", "vocab_size", "global_batch", "replay", "shards_sha256")


def shards_sha256(manifest: dict) -> str:
    """One digest over the manifest's shard list (each entry carries its .bin/.idx sha256)."""
    entries = sorted(
        (e["split"], e["domain"], e["prefix"], e.get("sha256_bin"), e.get("sha256_idx"))
        for e in manifest["shards"]
    )
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()


def read_meta(directory: storage.Where) -> dict:
    path = storage.path(directory) / "meta.json"
    if not path.exists():
        raise FileNotFoundError(f"{directory}: not a training checkpoint (no meta.json)")
    return json.loads(path.read_text())


def check_same_run(saved: dict, now: dict, what: str) -> None:
    """Refuse to continue a run whose settings changed; the message names the first differing field."""
    for field in RUN_FIELDS:
        if saved.get(field) != now.get(field):
            raise ValueError(
                f"{what}: {field} is {saved.get(field)!r} in the checkpoint but {now.get(field)!r} now "
                "(a resume or branch continues the same schedule, batch and data; start a new run instead)"
            )
    if saved["data_streams"] % now["world_size"]:
        raise ValueError(
            f"{what}: world_size {now['world_size']} does not divide the run's {saved['data_streams']} data "
            "streams (resume on a world size that divides the starting one)"
        )


def _tied_aliases(model: torch.nn.Module) -> dict[str, str]:
    """{alias: stored name} for each parameter registered under several names (weight tying); the first
    name (the embedding's) is the one stored."""
    first, aliases = {}, {}
    for name, param in model.named_parameters(remove_duplicate=False):
        if id(param) in first:
            aliases[name] = first[id(param)]
        else:
            first[id(param)] = name
    return aliases


def _state(model: torch.nn.Module, optimizer: torch.optim.Optimizer | None) -> dict:
    """What DCP saves and loads: the model (each tied parameter once) and the optimizer."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_state_dict

    if optimizer is None:
        state = {"model": get_model_state_dict(model)}
    else:
        model_state, optim_state = get_state_dict(model, optimizer)
        state = {"model": model_state, "optimizer": optim_state}
    for alias in _tied_aliases(model):  # the optimizer state already names a shared parameter once
        del state["model"][alias]
    return state


class PendingSave:
    """A checkpoint being written; `finish()` waits for DCP's write and the record of its files (sizes and
    sha256: in the background too when the write is), then writes meta.json (rank 0)."""

    def __init__(self, directory: Path, future, rank: int, meta: dict):
        self.directory, self.rank, self.meta = directory, rank, meta
        self.recording = None
        if future is not None:
            self.recording = concurrent.futures.ThreadPoolExecutor(1).submit(self._record, future)

    def _record(self, future) -> None:
        future.result()  # raises the write's error, if any
        _record_files(self.directory, self.rank)

    def done(self) -> bool:
        return self.recording is None or self.recording.done()

    def finish(self) -> None:
        if self.recording is None:
            _record_files(self.directory, self.rank)
        else:
            self.recording.result()
            self.recording = None
        if self.rank == 0:  # DCP's coordinator (rank 0) finishes after every rank's files are written
            staged = self.directory / "meta.json.tmp"
            staged.write_text(json.dumps({**self.meta, "files_recorded": True}, indent=1))
            staged.rename(self.directory / "meta.json")


def start_save(
    directory: Path,
    model,
    optimizer,
    *,
    rank: int,
    meta: dict,
    cursors: dict[int, dict],
    asynchronous: bool,
    group=None,
) -> PendingSave:
    """Start writing a checkpoint; it is complete once the returned save is `finish()`ed. Asynchronously, the
    model and optimizer are copied to CPU memory before this returns (training may change them right after)
    and DCP writes them in a background thread over `group`, a gloo group used only by checkpoints;
    synchronously, DCP writes them here. The data cursors and RNG state are small and written here."""
    import torch.distributed.checkpoint as dcp

    state, no_dist = _state(model, optimizer), not dist.is_initialized()
    future = None
    if asynchronous:
        future = dcp.async_save(state, checkpoint_id=str(directory), process_group=group, no_dist=no_dist)
    else:
        dcp.save(state, checkpoint_id=str(directory), no_dist=no_dist)
    _save_cursors_and_rng(directory, rank, cursors)
    return PendingSave(directory, future, rank, meta)


def _save_cursors_and_rng(directory: Path, rank: int, cursors: dict[int, dict]) -> None:
    (directory / "data").mkdir(exist_ok=True)
    for stream, cursor in cursors.items():
        torch.save(cursor, directory / "data" / f"stream{stream}.pt")
    (directory / "rng").mkdir(exist_ok=True)
    torch.save(torch.get_rng_state(), directory / "rng" / f"rank{rank}.pt")


def _record_files(directory: Path, rank: int) -> None:
    """Record size and sha256 of each file this rank wrote (its own directory holds only those)."""
    files = {
        str(path.relative_to(directory)): [path.stat().st_size, sha256_file(path)]
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.parent.name != FILES_DIR and not path.name.startswith("meta.json")
    }
    (directory / FILES_DIR).mkdir(exist_ok=True)
    staged = directory / FILES_DIR / f"rank{rank}.json.tmp"
    staged.write_text(json.dumps(files, indent=1))
    staged.rename(staged.with_suffix(""))


def verify(directory: storage.Where) -> str | None:
    """None if the checkpoint is complete and every file matches the size and sha256 recorded when it was
    written; else why not, in a few words. (A checkpoint from before the files were recorded: meta.json.)
    On an object store the files are hashed as they stream in, without a local copy."""
    directory = storage.path(directory)
    try:
        meta = read_meta(directory)
    except (FileNotFoundError, ValueError) as exc:  # ValueError: a meta.json that is not JSON
        return "no readable meta.json" if isinstance(exc, FileNotFoundError) else f"meta.json: {exc}"
    if not meta.get("files_recorded"):
        return None
    sizes = {name: size for name, size, _ in storage.files_under(directory)}
    for rank in range(meta["world_size"]):
        listing = f"{FILES_DIR}/rank{rank}.json"
        if listing not in sizes:
            return f"{listing} missing"
        for name, (size, digest) in json.loads((directory / listing).read_text()).items():
            if name not in sizes:
                return f"{name} missing"
            if sizes[name] != size:
                return f"{name} is {sizes[name]} bytes, {size} when written"
            if _sha256(directory / name) != digest:
                return f"{name}: sha256 differs from when it was written"
    return None


def _sha256(location: storage.Location) -> str:
    if not storage.is_remote(location):
        return sha256_file(location)
    digest = hashlib.sha256()
    with location.open("rb") as stream:
        for block in iter(lambda: stream.read(TRANSFER_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def newest_intact(
    run_dir: storage.Where, fetch_into: Path | None = None
) -> tuple[storage.Location | None, list[tuple[storage.Location, str]]]:
    """The newest checkpoint of a run folder that verifies, and the newer ones that did not (with why).
    Ray's folders (checkpoint_<time>) and trainer/local.py's (checkpoint_<step>) both sort by age by name.
    With `fetch_into`, a checkpoint on an object store is downloaded there and verified as downloaded; the
    local copy is returned (what `load` reads)."""
    damaged = []
    for directory in sorted(storage.path(run_dir).glob("checkpoint_*"), reverse=True):
        if not directory.is_dir():
            continue
        candidate = directory
        if fetch_into is not None and storage.is_remote(directory):
            candidate = fetch(directory, fetch_into / directory.name)
        problem = verify(candidate)
        if problem is None:
            return candidate, damaged
        damaged.append((directory, problem))
    return None, damaged


@contextlib.contextmanager
def download_area(cache_dir: str) -> Iterator[Path]:
    """A fresh local folder for checkpoints downloaded from an object store, under `train.cache_dir`; made
    only when something is downloaded into it, removed with its contents on exit."""
    area = resolve_path(cache_dir) / "downloads" / uuid.uuid4().hex
    try:
        yield area
    finally:
        shutil.rmtree(area, ignore_errors=True)


def fetch(directory: storage.Where, into: Path) -> Path:
    """A local folder holding the checkpoint at `directory`: itself when local, else a download into `into`."""
    source = storage.path(directory)
    if not storage.is_remote(source):
        return source
    for name, _, _ in storage.files_under(source):
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with source.joinpath(name).open("rb") as stream, open(target, "wb") as out:
            for block in iter(lambda: stream.read(TRANSFER_BLOCK), b""):
                out.write(block)
    return into


def publish(directory: Path, target: storage.Where, *, rank: int, barrier) -> None:
    """Upload this rank's checkpoint files from `directory` to `target` on an object store, replacing what
    was there. meta.json, which marks a checkpoint complete, goes last (rank 0, once every rank's files are
    up): a checkpoint cut off halfway through its upload is never read as complete. `barrier()` waits for
    every rank."""
    target = storage.path(target)
    if rank == 0:
        storage.rmtree(target)  # a replaced checkpoint's files: never mixed with the new ones
    barrier()
    files = [p for p in sorted(directory.rglob("*")) if p.is_file()]
    for path in files:
        if path.name != "meta.json":
            _upload(path, target / path.relative_to(directory).as_posix())
    barrier()
    if (directory / "meta.json").exists():
        _upload(directory / "meta.json", target / "meta.json")


def _upload(path: Path, target: storage.ObjectPath) -> None:
    with open(path, "rb") as source, target.open("wb") as out:
        for block in iter(lambda: source.read(TRANSFER_BLOCK), b""):
            out.write(block)


def load(directory: Path, model, optimizer=None) -> None:
    """Model (and optimizer, unless None: weights only) from a DCP checkpoint of any world size."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import set_model_state_dict, set_state_dict

    state = _state(model, optimizer)
    dcp.load(state, checkpoint_id=str(directory), no_dist=not dist.is_initialized())
    for alias, stored in _tied_aliases(model).items():
        state["model"][alias] = state["model"][stored]
    if optimizer is None:
        set_model_state_dict(model, state["model"])
    else:
        set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optimizer"])


def load_cursor(directory: Path, stream: int) -> dict:
    return torch.load(Path(directory) / "data" / f"stream{stream}.pt", weights_only=False)


def load_rng(directory: Path, rank: int) -> None:
    path = Path(directory) / "rng" / f"rank{rank}.pt"
    if not path.exists():  # a rank the checkpointed run did not have (resumed on a larger world)
        path = Path(directory) / "rng" / "rank0.pt"
    torch.set_rng_state(torch.load(path, weights_only=False))
