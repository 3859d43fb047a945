"""The GPT: shapes, causality, RoPE, weight tying, parameter and FLOP counts, and that it learns."""

import math

import torch

from trainer.model import GPT, GPTConfig, apply_rope, preset_config, rope_tables


def tiny(vocab=97, seq_len=16):
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=vocab, seq_len=seq_len, n_layer=2, n_head=2, d_model=32))


def test_param_count_by_hand_and_flops():
    model = tiny()
    d, v, h = 32, 97, 128  # mlp hidden: 64 * ceil(8 * 32 / 3 / 64) = 64 * ceil(1.33) = 128
    per_block = 3 * d * d + d * d + 3 * d * h + 2 * d  # qkv, proj, gate/up/down, two RMSNorm gains
    assert model.num_params() == v * d + 2 * per_block + d  # tied embedding once, final norm
    n = model.num_params()
    assert model.flops_per_token() == 6 * n + 12 * 2 * 2 * 16 * 16  # 6N + 12 L H Q T
    assert model.lm_head.weight is model.embed.weight


def test_presets_sizes():
    assert 0.8e6 < GPT(preset_config("tiny", 8000)).num_params() < 1.2e6
    with torch.device("meta"):
        assert abs(GPT(preset_config("124m", 50304)).num_params() - 124e6) < 2e6


def test_causal_and_loss_at_init():
    model = tiny().eval()
    x = torch.randint(0, 97, (2, 16))
    y = x.clone()
    y[:, 10:] = (y[:, 10:] + 1) % 97  # change only the future
    lx, _ = model(x)
    ly, _ = model(y)
    assert torch.allclose(lx[:, :10], ly[:, :10], atol=1e-6)
    assert not torch.allclose(lx[:, 10:], ly[:, 10:])
    _, loss = model(x, torch.randint(0, 97, (2, 16)))
    assert abs(loss.item() - math.log(97)) < 0.3  # near-uniform predictions at init


def test_rope_is_relative():
    cos, sin = rope_tables(32, 8, 10000.0)
    q, k = torch.randn(8), torch.randn(8)

    def score(i, j):
        qi = apply_rope(q.view(1, 1, 1, 8).expand(1, 1, 32, 8), cos, sin)[0, 0, i]
        kj = apply_rope(k.view(1, 1, 1, 8).expand(1, 1, 32, 8), cos, sin)[0, 0, j]
        return (qi @ kj).item()

    assert abs(score(5, 2) - score(20, 17)) < 1e-4  # depends on i - j only
    assert abs(score(5, 2) - score(5, 4)) > 1e-4


def test_learns_a_batch():
    model = tiny()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x = torch.randint(0, 97, (4, 17))
    losses = []
    for _ in range(30):
        _, loss = model(x[:, :-1], x[:, 1:])
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_vocab_padded_to_128_and_meta_init_keeps_tying():
    cfg = preset_config("tiny", 500)
    assert cfg.vocab_size == 512 and preset_config("tiny", 512).vocab_size == 512
    torch.manual_seed(0)
    eager = GPT(cfg)
    with torch.device("meta"):
        lazy = GPT(cfg)  # large presets are built like this, then sharded, then materialised
    lazy.to_empty(device="cpu")
    torch.manual_seed(0)
    lazy.init_weights()
    assert lazy.lm_head.weight is lazy.embed.weight
    assert abs(lazy.embed.weight.std().item() - 0.02) < 0.002  # GPT-2 init, not the empty memory
    assert torch.equal(lazy.norm.weight, torch.ones_like(lazy.norm.weight))
    assert torch.equal(lazy.rope_cos, eager.rope_cos)
    ids = torch.randint(0, 500, (2, 9))  # tokenizer ids only; the padding rows are never a target
    _, loss = lazy(ids[:, :-1], ids[:, 1:])
    assert math.isfinite(loss.item())
