"""The shard stream: domain shares, epoch caps, rank split, anneal switch, and exact resume.

Shards come from `trainer.demo_shards` with `disjoint_vocab`: each domain's main documents use their own
band of token ids and its hq documents another, so every token's origin is read off its id.
"""

import json

import numpy as np
import pytest

from trainer.data import MixtureDataset, MixtureStream, ShardLoader
from trainer.demo_shards import EOS_ID, token_band, write_demo_shards

DOMAINS = {"forum": 0.3, "news": 0.5, "reference": 0.2}  # sorted: band 0/1 forum, 2/3 news, 4/5 reference
VOCAB, SEQ, BATCH = 512, 64, 8


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    out = tmp_path_factory.mktemp("loader")
    return write_demo_shards(
        out, DOMAINS, vocab_size=VOCAB, docs_per_domain=300, anneal_docs=40, disjoint_vocab=True
    )


def origin_tokens(windows: list[np.ndarray]) -> dict[str, int]:
    """Token counts per origin ('news', 'hq/news', ...), each EOS counted with the document it ends."""
    stream = np.concatenate([w.reshape(-1) for w in windows])
    names = [name for domain in sorted(DOMAINS) for name in (domain, "hq/" + domain)]
    band_of = np.full(VOCAB, -1)
    for b in range(len(names)):
        first, width = token_band(VOCAB, len(DOMAINS), b)
        band_of[first : first + width] = b
    bands = band_of[stream]
    eos = stream == EOS_ID
    idx = np.where(eos, 0, np.arange(len(stream)))
    np.maximum.accumulate(idx, out=idx)  # EOS takes the band of the last non-EOS token before it
    bands = bands[idx]
    return {name: int((bands == b).sum()) for b, name in enumerate(names)}


def take(loader, n):
    it = iter(loader)
    return [next(it).numpy() for _ in range(n)]


def test_domain_shares_match_weights(shards):
    loader = ShardLoader(MixtureDataset(shards, seq_len=SEQ, batch_size=BATCH))
    counts = origin_tokens(take(loader, 200))  # 104,000 tokens
    total = sum(counts.values())
    for domain, weight in DOMAINS.items():
        assert abs(counts[domain] / total - weight) < 0.01, (domain, counts[domain] / total)
    assert sum(v for k, v in counts.items() if k.startswith("hq/")) == 0


def test_anneal_switch_blends_hq_at_planned_batch(shards):
    ds = MixtureDataset(shards, seq_len=SEQ, batch_size=BATCH, anneal_start_batch=30, hq_weight=0.4)
    batches = take(ShardLoader(ds), 90)
    before, after = origin_tokens(batches[:30]), origin_tokens(batches[31:])
    assert sum(v for k, v in before.items() if k.startswith("hq/")) == 0
    hq = sum(v for k, v in after.items() if k.startswith("hq/"))
    assert abs(hq / sum(after.values()) - 0.4) < 0.02
    main = {d: after[d] for d in DOMAINS}
    for d, w in DOMAINS.items():  # the main part keeps the main mix
        assert abs(main[d] / sum(main.values()) - w) < 0.02


def test_epoch_cap_and_rank_split_cover_each_document_once(shards):
    full = {d: 0 for d in DOMAINS}
    windows = []
    for rank in (0, 1):
        ds = MixtureDataset(shards, seq_len=SEQ, batch_size=1, rank=rank, world_size=2, max_epochs=1.0)
        windows += [w.numpy() for w in ShardLoader(ds)]  # ends when every domain hit its cap
    counts = origin_tokens(windows)
    manifest = json.loads((shards / "manifest.json").read_text())
    for d in DOMAINS:
        full[d] = manifest["domains"][d]["tokens"]
    # every document once, except the tail that did not fill a last window on each rank
    assert 0 <= sum(full.values()) - sum(counts[d] for d in DOMAINS) < 2 * (SEQ + 1)
    for d in DOMAINS:
        assert counts[d] <= full[d]


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_gives_identical_batches(shards, workers):
    def make():
        ds = MixtureDataset(shards, seq_len=SEQ, batch_size=BATCH, num_workers=workers, anneal_start_batch=25)
        return ShardLoader(ds)

    uninterrupted = take(make(), 40)
    first = make()
    head = take(first, 17)
    state = first.state_dict()
    resumed = make()
    resumed.load_state_dict(state)
    tail = take(resumed, 23)
    assert all(np.array_equal(a, b) for a, b in zip(head + tail, uninterrupted))
    assert len(head + tail) == 40


def test_resume_detects_changed_data(shards):
    loader = ShardLoader(MixtureDataset(shards, seq_len=SEQ, batch_size=BATCH))
    take(loader, 5)
    state = loader.state_dict()
    other = ShardLoader(MixtureDataset(shards, seq_len=SEQ, batch_size=BATCH, weights={"news": 1.0}))
    with pytest.raises(ValueError, match="shards changed"):
        other.load_state_dict(state)


def test_source_with_fewer_documents_than_streams_is_split_by_tokens(tmp_path):
    # one hq document per domain, read by 4 streams (2 ranks x 2 workers): dealt by documents, 3 of the
    # 4 streams would get no hq tokens; split by tokens, each stream reads a quarter of the document
    shards = write_demo_shards(tmp_path, DOMAINS, vocab_size=VOCAB, docs_per_domain=20, anneal_docs=1)
    hq = {
        d: s
        for d, s in MixtureDataset(shards, seq_len=SEQ, batch_size=1)._sources.items()
        if d.startswith("hq/")
    }
    for name, source in hq.items():
        document = source.document(0)
        parts = [
            MixtureStream({name: source}, {name: 1.0}, stream=s, num_streams=4, max_epochs=1.0)
            for s in range(4)
        ]
        pieces = [p.sources[name].document(0) for p in parts]
        assert all(len(piece) >= len(document) // 4 for piece in pieces)
        assert np.array_equal(np.concatenate(pieces), document)  # every token once, in order
        taken = [p.next_windows(1, len(document) // 4) for p in parts]
        assert all(t is not None for t in taken)
