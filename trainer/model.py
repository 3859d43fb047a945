"""A GPT in one file, readable top to bottom (in the spirit of nanoGPT).

Architecture (the LLaMA recipe on a GPT-2-sized body):
- token embedding, no learned positions: rotary position embeddings (RoPE, Su et al. 2021) rotate q and k;
- pre-norm blocks with RMSNorm (Zhang & Sennrich 2019);
- causal self-attention through `F.scaled_dot_product_attention(is_causal=True)` (flash / memory-efficient
  kernels on CUDA, a plain math kernel on CPU);
- SwiGLU MLP (Shazeer 2020) with hidden size 8/3 * d_model rounded up to a multiple of 64, so the MLP has
  the parameter count of a 4x GELU MLP;
- the output projection shares its weight with the token embedding (weight tying).

`flops_per_token()` is the PaLM estimate (Chowdhery et al. 2022, appendix B): 6N for the matmuls of
forward + backward plus 12 * L * H * Q * T for attention scores, where N is the parameter count.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 8000
    seq_len: int = 256
    n_layer: int = 2
    n_head: int = 4
    d_model: int = 128
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def mlp_hidden(self) -> int:
        return 64 * math.ceil(8 * self.d_model / 3 / 64)


# Sizes follow GPT-2 small / medium (124m, 350m) and TinyLlama (1b); `tiny` is for CPU tests.
# vocab_size comes from the tokenizer in the shards manifest, padded up to a multiple of VOCAB_MULTIPLE.
PRESETS: dict[str, dict] = {
    "tiny": dict(n_layer=2, n_head=4, d_model=96, seq_len=64),
    "124m": dict(n_layer=12, n_head=12, d_model=768, seq_len=1024),
    "350m": dict(n_layer=24, n_head=16, d_model=1024, seq_len=1024),
    "1b": dict(n_layer=22, n_head=32, d_model=2048, seq_len=2048),
}


# Embedding and output matmuls run on tensor-core tiles: a vocabulary that is a multiple of 128 avoids a
# ragged last tile (nanoGPT pads GPT-2's 50257 to 50304 for this). Token ids are unchanged; the extra rows
# are never a target, so training only pushes their logits down.
VOCAB_MULTIPLE = 128


def padded_vocab(vocab_size: int) -> int:
    return VOCAB_MULTIPLE * math.ceil(vocab_size / VOCAB_MULTIPLE)


def preset_config(name: str, vocab_size: int, **overrides) -> GPTConfig:
    """The preset's shape for a tokenizer of `vocab_size` ids (the embedding gets the padded size)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    fields = {**PRESETS[name], **{k: v for k, v in overrides.items() if v is not None}}
    return replace(GPTConfig(vocab_size=padded_vocab(vocab_size)), **fields)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # normalise in float32 even under bf16 autocast: the mean of squares loses precision in bf16
        x32 = x.float()
        return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


def rope_tables(seq_len: int, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of the rotation angle pos * theta^(-2i/d), shape (seq_len, head_dim / 2)."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv_freq)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate consecutive pairs (x0, x1) of each head by the position's angle. x: (B, H, T, Q)."""
    x0, x1 = x.float().unflatten(-1, (-1, 2)).unbind(-1)
    rotated = torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).flatten(-2)
    return rotated.type_as(x)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).contiguous().view(B, T, C))


class SwiGLU(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.gate = nn.Linear(cfg.d_model, cfg.mlp_hidden, bias=False)
        self.up = nn.Linear(cfg.d_model, cfg.mlp_hidden, bias=False)
        self.down = nn.Linear(cfg.mlp_hidden, cfg.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.attn_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.attn = CausalSelfAttention(cfg)
        self.mlp_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.mlp = SwiGLU(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), cos, sin)
        return x + self.mlp(self.mlp_norm(x))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.embed.weight  # weight tying (Press & Wolf 2017)
        # RoPE tables are derived, not learned: non-persistent buffers, never checkpointed nor broadcast
        self.register_buffer("rope_cos", torch.empty(cfg.seq_len, cfg.head_dim // 2), persistent=False)
        self.register_buffer("rope_sin", torch.empty(cfg.seq_len, cfg.head_dim // 2), persistent=False)
        self.init_weights()

    @torch.no_grad()
    def init_weights(self) -> None:
        """Fill parameters and RoPE tables. Called on construction, and again after `to_empty()` when the model
        was built on the meta device (large presets: no full copy is ever materialised on one rank)."""
        cfg = self.cfg
        self.lm_head.weight = self.embed.weight  # again: `to_empty()` gives each module its own tensor
        cos, sin = rope_tables(cfg.seq_len, cfg.head_dim, cfg.rope_theta)
        self.rope_cos.copy_(cos)
        self.rope_sin.copy_(sin)
        self.apply(self._init_weights)
        # GPT-2: scale the residual projections by 1/sqrt(2L) so the residual stream does not grow with depth
        for name, p in self.named_parameters():
            if name.endswith(("attn.proj.weight", "mlp.down.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))
        for norm in [self.norm] + [m for b in self.blocks for m in (b.attn_norm, b.mlp_norm)]:
            nn.init.ones_(norm.weight)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """idx, targets: (B, T) token ids. Returns (logits, mean cross-entropy or None)."""
        T = idx.shape[1]
        if T > self.cfg.seq_len:
            raise ValueError(f"sequence of {T} tokens is longer than the model's seq_len {self.cfg.seq_len}")
        cos, sin = self.rope_cos[:T], self.rope_sin[:T]
        x = self.embed(idx)
        for block in self.blocks:
            x = block(x, cos, sin)
        logits = self.lm_head(self.norm(x))
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss

    def num_params(self) -> int:
        """Parameters, the tied embedding counted once."""
        return sum(p.numel() for p in self.parameters())

    def flops_per_token(self) -> float:
        """Training FLOPs per token: 6N + 12 * L * H * Q * T (PaLM appendix B)."""
        c = self.cfg
        return 6 * self.num_params() + 12 * c.n_layer * c.n_head * c.head_dim * c.seq_len

    def config_dict(self) -> dict:
        return asdict(self.cfg)


def optimizer_param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Decay matrices (linear and embedding weights); leave norm gains undecayed, as nanoGPT does."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
