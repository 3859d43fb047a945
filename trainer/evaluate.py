"""Per-domain validation loss of the model in training (trainer/train_loop.py, every `eval_every` steps).

Every rank runs the same number of forwards (its share of each domain's windows, padded with zero-weight
copies), which FSDP's all-gathers need, and the per-domain sums are reduced once. A continued run
(`init_from`) also validates on the old run's shards, under `old/<domain>`, to measure forgetting.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
import torch.nn.functional as F

OLD_VAL_PREFIX = "old/"  # validation domains of the run continued by `init_from`


@torch.no_grad()
def validation_losses(
    model: torch.nn.Module,
    val: dict[str, torch.Tensor],
    *,
    micro_batch: int,
    rank: int,
    world: int,
    device: torch.device,
    autocast,
) -> dict:
    """`val_loss/<domain>` and `val_ppl/<domain>` of each domain's windows, and their means over the new
    (`val_loss`) and the old (`val_loss_old`) domains."""
    model.eval()
    sums = []
    for windows in val.values():
        per_rank = -(-len(windows) // world)
        mine = windows[rank::world]
        weight = torch.zeros(per_rank)
        weight[: len(mine)] = 1.0
        mine = torch.cat([mine, windows[:1].expand(per_rank - len(mine), -1)])
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        for i in range(0, per_rank, micro_batch):
            batch, w = mine[i : i + micro_batch].to(device), weight[i : i + micro_batch].to(device)
            with autocast:
                logits, _ = model(batch[:, :-1])
            token_loss = F.cross_entropy(
                logits.float().flatten(0, 1), batch[:, 1:].reshape(-1), reduction="none"
            )
            loss_sum += (token_loss.view(len(batch), -1).sum(1).double() * w).sum()
        sums += [loss_sum, torch.tensor(weight.sum().item() * (windows.shape[1] - 1))]
    totals = torch.stack([t.to(device, torch.float64) for t in sums]) if sums else None
    if totals is not None and world > 1:
        dist.all_reduce(totals)
    out = {}
    for i, domain in enumerate(val):
        loss = (totals[2 * i] / totals[2 * i + 1]).item()
        out[f"val_loss/{domain}"], out[f"val_ppl/{domain}"] = loss, math.exp(min(loss, 50.0))
    old = [out[f"val_loss/{d}"] for d in val if d.startswith(OLD_VAL_PREFIX)]
    new = [out[f"val_loss/{d}"] for d in val if not d.startswith(OLD_VAL_PREFIX)]
    for key, losses in (("val_loss", new), ("val_loss_old", old)):
        if losses:
            out[key] = sum(losses) / len(losses)
    model.train()
    return out
