"""The training data stream: Megatron shards -> domain mixture -> packed (seq_len + 1)-token windows.

Reads `OUT/shards/` as described by its `manifest.json` (written by `pipeline.shards.writer.build_manifest`). Pieces, bottom to top:

- `Source`: every document of one (split, domain), e.g. `train/news` or the hq documents `anneal/news`,
  concatenated over its shards.
- `MixtureStream` (numpy only): one stream of windows. Documents of each source are visited in a seeded
  permutation per epoch; stream `s` of `S` takes the permutation positions p with p % S == s, so the
  (rank, dataloader worker) streams never share a document within an epoch. Which source supplies the next
  document is decided like Megatron's blended datasets: the source furthest behind its target token share
  (argmax of weight * tokens_taken_total - tokens_taken[source]), so shares match the weights to within one
  document. A source stops once it has been read `max_epochs` times (the per-domain epoch cap, E_max = 4 by
  default after Muennighoff et al. 2023) and the remaining weights are renormalised.
  Documents are packed back to back (each already ends with EOS) and cut into windows of seq_len + 1.
- `MixtureDataset` (torch IterableDataset): micro-batches of windows for one rank, split over the
  DataLoader workers; it switches every stream to the anneal mix at the planned batch.
- `ShardLoader`: the DataLoader plus the cursor: `state_dict()` / `load_state_dict()`.

The randomness is counter-based (the permutation of epoch e of source i is drawn from a generator seeded
with (seed, i, e)), so the cursor *is* the RNG state: a resumed run fast-forwards to the saved batch using
document sizes only (no token reads) and then sees exactly the data it would have seen.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from mixing.budget import DEFAULT_E_MAX
from pipeline import layout
from pipeline.shards.megatron import IndexedDataset

HQ_PREFIX = "hq/"
REPLAY_PREFIX = "replay/"  # sources of an earlier run's shards, replayed in continual pretraining


def load_manifest(shards_dir: str | Path) -> dict:
    path = layout.manifest_path(shards_dir)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no shards manifest (run `make crawl-to-shards` first)")
    return json.loads(path.read_text())


class Source:
    """All documents of one (split, domain), concatenated over its shards in manifest order."""

    def __init__(self, name: str, prefixes: list[Path]):
        self.name = name
        self.shards = [IndexedDataset(p) for p in prefixes]
        self.sizes = (
            np.concatenate([s.sizes for s in self.shards]).astype(np.int64)
            if self.shards
            else np.zeros(0, np.int64)
        )
        self._first_doc = np.cumsum([0] + [len(s) for s in self.shards])

    def __len__(self) -> int:
        return len(self.sizes)

    def document(self, i: int) -> np.ndarray:
        shard = int(np.searchsorted(self._first_doc, i, side="right")) - 1
        return self.shards[shard][i - int(self._first_doc[shard])]


class SourceSlice:
    """Tokens [start, end) of a source's concatenated documents, as one document.

    A source with fewer documents than streams (a small hq/anneal split read by many ranks) cannot be dealt
    out by documents: some streams would get none. It is dealt out by tokens instead: stream s of S reads
    the s-th of S equal token ranges, so every stream gets its share and no token is read twice per epoch."""

    def __init__(self, source: Source, part: int, parts: int):
        total = int(source.sizes.sum())
        self.name, self.source = source.name, source
        self.start, self.end = total * part // parts, total * (part + 1) // parts
        self.sizes = np.array([self.end - self.start], np.int64)
        self._doc_start = np.concatenate([[0], np.cumsum(source.sizes)])

    def __len__(self) -> int:
        return 1

    def document(self, i: int) -> np.ndarray:
        first = int(np.searchsorted(self._doc_start, self.start, side="right")) - 1
        last = int(np.searchsorted(self._doc_start, self.end, side="left"))
        tokens = np.concatenate(
            [self.source.document(d) for d in range(first, last)] or [np.zeros(0, np.int64)]
        )
        offset = self.start - int(self._doc_start[first])
        return tokens[offset : offset + self.end - self.start]


def sources_by_split(shards_dir: str | Path, manifest: dict, split: str) -> dict[str, Source]:
    prefixes: dict[str, list[Path]] = {}
    for shard in manifest["shards"]:
        if shard["split"] == split and shard["docs"] > 0:
            prefixes.setdefault(shard["domain"], []).append(Path(shards_dir) / shard["prefix"])
    return {domain: Source(f"{split}/{domain}", paths) for domain, paths in sorted(prefixes.items())}


def mixture_weights(manifest: dict, sources: dict[str, Source], override: dict | None = None) -> dict:
    """The main mix: manifest weights (or `override`), restricted to domains that have documents."""
    raw = override if override is not None else manifest["mixture"]["weights"]
    weights = {d: float(w) for d, w in raw.items() if w > 0 and d in sources}
    if not weights:
        raise ValueError("no domain with a positive weight has training documents")
    total = sum(weights.values())
    return {d: w / total for d, w in weights.items()}


def anneal_weights(main: dict, hq_tokens: dict, hq_weight: float) -> dict:
    """The anneal mix: `hq_weight` of the tokens from the hq shards (split over domains by their hq
    token counts), the rest from the main mix. Keys of hq sources carry the `hq/` prefix."""
    hq_total = sum(hq_tokens.values())
    if hq_total == 0 or hq_weight == 0:
        return dict(main)
    mix = {d: (1 - hq_weight) * w for d, w in main.items()}
    mix.update({HQ_PREFIX + d: hq_weight * t / hq_total for d, t in hq_tokens.items() if t > 0})
    return mix


class MixtureStream:
    """One stream (a rank's dataloader worker) of packed windows. Pure numpy; explicit cursor."""

    def __init__(
        self,
        sources: dict[str, Source],
        weights: dict[str, float],
        *,
        stream: int = 0,
        num_streams: int = 1,
        seed: int = 0,
        max_epochs: float = DEFAULT_E_MAX,
    ):
        self.names = sorted(sources)  # fixed order: the source index is part of each permutation's seed
        self.stream, self.num_streams, self.seed, self.max_epochs = stream, num_streams, seed, max_epochs
        # a source with fewer documents than streams is split by tokens (SourceSlice): this stream reads its
        # slice as a single document; every other source is dealt out by documents (stride num_streams)
        self.sources = {
            n: SourceSlice(src, stream, num_streams) if len(src) < num_streams else src
            for n, src in sources.items()
        }
        self.stride = {
            n: (0, 1) if isinstance(self.sources[n], SourceSlice) else (stream, num_streams)
            for n in self.names
        }
        # documents of one epoch that belong to this stream
        self.epoch_docs = {
            n: len(range(self.stride[n][0], len(self.sources[n]), self.stride[n][1])) for n in self.names
        }
        self._perm_cache: dict[tuple[str, int], np.ndarray] = {}
        self.cursor = {n: {"epoch": 0, "pos": 0} for n in self.names}
        self.current = None  # [source name, doc index, tokens already used] of the document being packed
        self.mix_name = "main"
        self.set_weights(weights)

    # --- mixture ----------------------------------------------------------------------------------------
    def set_weights(self, weights: dict[str, float], mix_name: str = "main") -> None:
        """Start a new mix; the token accounting restarts, the document cursors carry on."""
        unknown = set(weights) - set(self.names)
        if unknown:
            raise ValueError(f"weights for sources without documents: {sorted(unknown)}")
        self.weights = {n: float(weights.get(n, 0.0)) for n in self.names}
        self.taken = {n: 0 for n in self.names}
        self.mix_name = mix_name

    def _available(self, name: str) -> bool:
        n = self.epoch_docs[name]
        c = self.cursor[name]
        return n > 0 and self.weights[name] > 0 and c["epoch"] * n + c["pos"] < self.max_epochs * n

    def _next_document(self) -> tuple[str, int] | None:
        live = [n for n in self.names if self._available(n)]
        if not live:
            return None
        total_w = sum(self.weights[n] for n in live)
        total_taken = sum(self.taken[n] for n in live)
        # Megatron blending: the source furthest below its target share goes next (ties: first name)
        name = max(live, key=lambda n: self.weights[n] / total_w * total_taken - self.taken[n])
        c = self.cursor[name]
        doc = int(self._permutation(name, c["epoch"])[c["pos"]])
        c["pos"] += 1
        if c["pos"] == self.epoch_docs[name]:
            c["epoch"], c["pos"] = c["epoch"] + 1, 0
        self.taken[name] += int(self.sources[name].sizes[doc])
        return name, doc

    def _permutation(self, name: str, epoch: int) -> np.ndarray:
        key = (name, epoch)
        if key not in self._perm_cache:
            if len(self._perm_cache) > 4 * len(self.names):
                self._perm_cache.clear()
            rng = np.random.default_rng([self.seed, self.names.index(name), epoch])
            perm = rng.permutation(len(self.sources[name]))
            first, stride = self.stride[name]
            self._perm_cache[key] = perm[first::stride]
        return self._perm_cache[key]

    # --- packing ----------------------------------------------------------------------------------------
    def _fill(self, n: int, out: np.ndarray | None) -> bool:
        """Take the next n tokens into `out` (None: only advance the cursor). False when data ran out."""
        filled = 0
        while filled < n:
            if (
                self.current is None
                or self.current[2] >= self.sources[self.current[0]].sizes[self.current[1]]
            ):
                picked = self._next_document()
                if picked is None:
                    return False
                self.current = [picked[0], picked[1], 0]
            name, doc, used = self.current
            k = min(n - filled, int(self.sources[name].sizes[doc]) - used)
            if out is not None:
                out[filled : filled + k] = self.sources[name].document(doc)[used : used + k]
            self.current[2] += k
            filled += k
        return True

    def next_windows(self, count: int, window: int) -> np.ndarray | None:
        out = np.empty((count, window), dtype=np.int64)
        return out if self._fill(count * window, out.reshape(-1)) else None

    def skip_windows(self, count: int, window: int) -> bool:
        return self._fill(count * window, None)

    # --- cursor -----------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "cursor": {n: dict(c) for n, c in self.cursor.items()},
            "current": list(self.current) if self.current else None,
            "taken": dict(self.taken),
            "mix_name": self.mix_name,
            "weights": dict(self.weights),
        }

    def load_state_dict(self, state: dict) -> None:
        self.set_weights({n: w for n, w in state["weights"].items() if w > 0}, state["mix_name"])
        self.cursor = {n: dict(c) for n, c in state["cursor"].items()}
        self.current = list(state["current"]) if state["current"] else None
        self.taken = dict(state["taken"])


class MixtureDataset(IterableDataset):
    """Micro-batches (batch_size, seq_len + 1) of int64 token ids for one rank.

    Batch k of this rank always comes from stream k % num_workers; a DataLoader started at batch b hands
    stream (b + w) % num_workers to its worker w (the DataLoader asks its workers in order, round robin).
    So the batch index alone tells every stream where to start and when to switch to the anneal mix.
    """

    def __init__(
        self,
        shards_dir: str | Path,
        *,
        seq_len: int,
        batch_size: int,
        rank: int = 0,
        world_size: int = 1,
        num_workers: int = 0,
        seed: int = 0,
        weights: dict | None = None,
        hq_weight: float | None = None,
        max_epochs: float | None = None,
        anneal_start_batch: int | None = None,
        replay: dict | None = None,
    ):
        """`replay` (continual pretraining): {"shards_dir": the old run's shards, "fraction": f}; the old
        train sources join the mix as `replay/<domain>` with f of the tokens, in the old run's proportions."""
        super().__init__()
        self.shards_dir = Path(shards_dir)
        self.manifest = load_manifest(shards_dir)
        self.window = seq_len + 1
        self.batch_size, self.rank, self.world_size = batch_size, rank, world_size
        self.num_workers, self.seed = num_workers, seed
        self.max_epochs = max_epochs or self.manifest["mixture"].get("e_max") or DEFAULT_E_MAX
        self.anneal_start_batch = anneal_start_batch
        self.start_batch = 0
        self.live_stream: MixtureStream | None = None
        main_sources = sources_by_split(shards_dir, self.manifest, "train")
        hq_sources = sources_by_split(shards_dir, self.manifest, "anneal")
        self.main_weights = mixture_weights(self.manifest, main_sources, weights)
        if replay and replay["fraction"] > 0:
            old_sources = sources_by_split(replay["shards_dir"], load_manifest(replay["shards_dir"]), "train")
            old_weights = mixture_weights(load_manifest(replay["shards_dir"]), old_sources)
            fraction = float(replay["fraction"])
            self.main_weights = {d: (1 - fraction) * w for d, w in self.main_weights.items()}
            self.main_weights.update({REPLAY_PREFIX + d: fraction * w for d, w in old_weights.items()})
            main_sources.update({REPLAY_PREFIX + d: src for d, src in old_sources.items()})
        if hq_weight is None:
            hq_weight = float(self.manifest["anneal"]["hq_weight"])  # mix.shards.anneal_hq_weight of the run
        hq_tokens = {d: int(s.sizes.sum()) for d, s in hq_sources.items()}
        self.anneal_weights = anneal_weights(self.main_weights, hq_tokens, hq_weight)
        self._sources = {**main_sources, **{HQ_PREFIX + d: s for d, s in hq_sources.items()}}

    def make_stream(self, stream_id: int) -> MixtureStream:
        workers = max(1, self.num_workers)
        return MixtureStream(
            self._sources,
            self.main_weights,
            stream=self.rank * workers + stream_id,
            num_streams=self.world_size * workers,
            seed=self.seed,
            max_epochs=self.max_epochs,
        )

    def mix_at(self, batch: int) -> tuple[str, dict[str, float]]:
        if self.anneal_start_batch is not None and batch >= self.anneal_start_batch:
            return "anneal", self.anneal_weights
        return "main", self.main_weights

    def budget_problem(self, batches: int) -> str | None:
        """Why `batches` batches per stream cannot be served, or None. Checked before training starts, on the
        expected token share of one stream (1 / streams of each source, times the epoch cap); the exact end of
        the data is agreed across ranks while training (see `exhausted_message`)."""
        streams = self.world_size * max(1, self.num_workers)
        per_batch = self.batch_size * self.window
        anneal_start = batches if self.anneal_start_batch is None else min(batches, self.anneal_start_batch)
        for mix, used, need_batches in (
            ("main", self.main_weights, anneal_start),
            ("main and anneal", {**self.main_weights, **self.anneal_weights}, batches),
        ):
            held = {n: int(self._sources[n].sizes.sum() * self.max_epochs) // streams for n in used}
            need = -(-need_batches // max(1, self.num_workers)) * per_batch
            if need > sum(held.values()):
                return (
                    f"not enough data: each of {streams} streams needs {need:,} tokens of the {mix} mix but its "
                    f"sources hold {sum(held.values()):,} within the epoch cap of {self.max_epochs:g} ("
                    + ", ".join(f"{self._sources[n].name}: {t:,}" for n, t in sorted(held.items()))
                    + "): lower train.steps, raise train.max_epochs, or add data"
                )
        return None

    def exhausted_message(self, batch: int) -> str:
        mix, weights = self.mix_at(batch)
        names = ", ".join(self._sources[n].name for n, w in sorted(weights.items()) if w > 0)
        return (
            f"the data ran out at batch {batch} of stream {self.rank}: every source of the {mix} mix ({names}) "
            f"hit its epoch cap of {self.max_epochs:g} (raise train.max_epochs, lower train.steps, or add data)"
        )

    def _maybe_anneal(self, stream: MixtureStream, batch: int) -> None:
        if (
            self.anneal_start_batch is not None
            and batch >= self.anneal_start_batch
            and stream.mix_name == "main"
        ):
            stream.set_weights(self.anneal_weights, "anneal")

    def stream_at(self, stream_id: int, batch: int) -> MixtureStream:
        """Stream `stream_id` fast-forwarded past every batch it served before batch `batch`."""
        workers = max(1, self.num_workers)
        stream = self.make_stream(stream_id)
        for k in range(stream_id, batch, workers):
            self._maybe_anneal(stream, k)
            if not stream.skip_windows(self.batch_size, self.window):
                break
        return stream

    def __iter__(self):
        info = get_worker_info()
        worker = info.id if info is not None else 0
        workers = max(1, self.num_workers)
        first = self.start_batch + worker  # the DataLoader asks worker 0 first
        stream = self.stream_at(first % workers, first)
        if info is None:
            self.live_stream = stream  # in-process: the loader can read the exact cursor
        for k in range(first, 1 << 62, workers):
            self._maybe_anneal(stream, k)
            windows = stream.next_windows(self.batch_size, self.window)
            if windows is None:
                return  # every source hit its epoch cap
            yield torch.from_numpy(windows)


class ShardLoader:
    """Iterates a MixtureDataset through a DataLoader and counts the batches: that count is the cursor."""

    def __init__(self, dataset: MixtureDataset, pin_memory: bool = False):
        self.dataset = dataset
        self.batches = 0
        self.pin_memory = pin_memory

    def __iter__(self):
        self.dataset.start_batch = self.batches
        loader = DataLoader(
            self.dataset,
            batch_size=None,
            num_workers=self.dataset.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=False,
        )
        for batch in loader:
            self.batches += 1
            yield batch

    def state_dict(self) -> dict:
        state = {"batches": self.batches, "num_workers": self.dataset.num_workers, "seed": self.dataset.seed}
        if self.dataset.num_workers == 0:
            # the explicit cursor, checked against the fast-forward on resume (catches changed shards)
            live = self.dataset.live_stream
            state["stream"] = (live or self.dataset.stream_at(0, self.batches)).state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        if state["num_workers"] != self.dataset.num_workers or state["seed"] != self.dataset.seed:
            raise ValueError(
                "resuming needs the same dataloader workers and seed as the checkpointed run "
                f"(checkpoint: {state['num_workers']} workers, seed {state['seed']})"
            )
        self.batches = int(state["batches"])
        if "stream" in state and self.dataset.stream_at(0, self.batches).state_dict() != state["stream"]:
            raise ValueError("the shards changed since the checkpoint: the data cursor does not replay")


def validation_windows(shards_dir: str | Path, seq_len: int, max_windows: int) -> dict[str, torch.Tensor]:
    """Per domain: the first `max_windows` windows of its `val` documents, packed in shard order."""
    manifest = load_manifest(shards_dir)
    out = {}
    for domain, source in sources_by_split(shards_dir, manifest, "val").items():
        tokens = np.concatenate([np.asarray(s.tokens(), dtype=np.int64) for s in source.shards])
        n = min(max_windows, len(tokens) // (seq_len + 1))
        if n > 0:
            out[domain] = torch.from_numpy(tokens[: n * (seq_len + 1)].reshape(n, seq_len + 1).copy())
    return out
