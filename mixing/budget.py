"""Token budget, per-domain availability caps, and the capped simplex the mixture lives on.

- Budget: `D = tokens_per_param * N` with 20 tokens per parameter (Chinchilla, Hoffmann et al. 2022),
  unless `D` is given outright; with neither, one pass over the available data (`D = sum U_i`).
- Caps: a domain with `U_i` unique tokens may be repeated at most `E_max` times, so its weight is at
  most `b_i = min(1, E_max * U_i / D)`; `E_max = 4` because up to ~4 epochs of repeated data are
  nearly as good as fresh data (Muennighoff et al. 2023, "Scaling Data-Constrained Language Models").
- Feasible: the weights must sum to 1 under the caps, so `sum b_i >= 1`; otherwise the budget asks
  for more tokens than the data can give and `InfeasibleBudgetError` says by how much.

Mixtures are dicts {domain: weight}; the array helpers work on vectors in a fixed domain order.
"""

from __future__ import annotations

import numpy as np

from pipeline.config import default

CHINCHILLA_TOKENS_PER_PARAM = 20
DEFAULT_E_MAX = float(default("mix.e_max"))  # declared (with its source) in configs/default.yaml


class InfeasibleBudgetError(ValueError):
    """The token budget exceeds what the domains can supply within E_max epochs each."""


def token_budget(
    available: dict[str, int],
    model_params: float | None = None,
    tokens_per_param: float = CHINCHILLA_TOKENS_PER_PARAM,
    budget: float | None = None,
) -> int:
    """D: the explicit `budget`, else `tokens_per_param * model_params`, else sum of availability."""
    if budget is not None:
        out = budget
    elif model_params is not None:
        out = tokens_per_param * model_params
    else:
        out = sum(available.values())
    if out <= 0:
        raise InfeasibleBudgetError(f"token budget must be positive, got {out}")
    return int(round(out))


def caps(available: dict[str, int], budget: float, e_max: float = DEFAULT_E_MAX) -> dict[str, float]:
    """b_i = min(1, E_max * U_i / D) for every domain."""
    return {d: min(1.0, e_max * u / budget) for d, u in available.items()}


def check_feasible(
    available: dict[str, int], budget: float, e_max: float = DEFAULT_E_MAX
) -> dict[str, float]:
    """The caps, or `InfeasibleBudgetError` when they cannot sum to 1."""
    b = caps(available, budget, e_max)
    total = sum(b.values())
    if total < 1.0 - 1e-9:
        supply = e_max * sum(available.values())
        raise InfeasibleBudgetError(
            f"token budget D={budget:,.0f} is infeasible: {len(b)} domains with {sum(available.values()):,} "
            f"unique tokens give at most {supply:,.0f} tokens at E_max={e_max:g} epochs "
            f"(sum of caps {total:.3f} < 1). Lower the model size / token budget, raise mix.e_max, or add data."
        )
    return b


def project_capped_simplex(v, upper) -> np.ndarray:
    """Euclidean projection of `v` onto {w : 0 <= w_i <= upper_i, sum w = 1} (needs sum upper >= 1).

    The projection is clip(v - tau, 0, upper) for the tau that makes it sum to 1; the sum falls
    monotonically in tau, so bisection finds it.
    """
    v = np.asarray(v, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    if upper.sum() < 1.0 - 1e-9:
        raise InfeasibleBudgetError(f"caps sum to {upper.sum():.4f} < 1: no mixture fits under them")
    lo, hi = v.min() - 1.0, v.max()
    for _ in range(200):
        tau = 0.5 * (lo + hi)
        if np.clip(v - tau, 0.0, upper).sum() > 1.0:
            lo = tau
        else:
            hi = tau
    w = np.clip(v - 0.5 * (lo + hi), 0.0, upper)
    return _fix_sum(w, upper)


def availability_weights(available: dict[str, int], cap: dict[str, float]) -> dict[str, float]:
    """Weights proportional to availability, capped: w_i = min(b_i, lam * U_i) with sum w = 1.

    Water-filling: domains that hit their cap keep it, the rest share what is left in proportion to U_i.
    """
    names = list(available)
    u = np.array([available[d] for d in names], dtype=np.float64)
    b = np.array([cap[d] for d in names], dtype=np.float64)
    if b.sum() < 1.0 - 1e-9:
        raise InfeasibleBudgetError(f"caps sum to {b.sum():.4f} < 1: no mixture fits under them")
    positive = u > 0
    lo, hi = 0.0, float((b[positive] / u[positive]).max())
    for _ in range(200):
        lam = 0.5 * (lo + hi)
        if np.minimum(b, lam * u).sum() < 1.0:
            lo = lam
        else:
            hi = lam
    w = _fix_sum(np.minimum(b, hi * u), b)
    return dict(zip(names, w.tolist()))


def epochs(weights: dict[str, float], available: dict[str, int], budget: float) -> dict[str, float]:
    """How many times each domain is seen: w_i * D / U_i (0 for an empty domain)."""
    return {d: (w * budget / available[d] if available[d] else 0.0) for d, w in weights.items()}


def _fix_sum(w: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Remove the bisection's last rounding error from the entries with room to move."""
    gap = 1.0 - w.sum()
    room = (upper - w) if gap > 0 else w
    if room.sum() > 0:
        w = w + gap * room / room.sum()
    return np.clip(w, 0.0, upper)


def plan_mixture(
    available: dict[str, int],
    model_params: float | None = None,
    tokens_per_param: float = CHINCHILLA_TOKENS_PER_PARAM,
    budget: float | None = None,
    e_max: float = DEFAULT_E_MAX,
    fitted: dict | None = None,
) -> dict:
    """The manifest's `mixture`: availability-proportional under the caps, or `fitted` weights
    (a weights.json from `python -m mixing fit`) projected onto this run's caps."""
    available = {d: u for d, u in available.items() if u > 0}
    d_tokens = token_budget(available, model_params, tokens_per_param, budget)
    cap = check_feasible(available, d_tokens, e_max)
    names = list(available)
    if fitted is None:
        weights, source = availability_weights(available, cap), "availability"
    else:
        given = fitted.get("weights", fitted)
        vector = project_capped_simplex([float(given.get(d, 0.0)) for d in names], [cap[d] for d in names])
        weights = dict(zip(names, vector.tolist()))
        source = "fitted" if fitted.get("source") == "fitted" else "config"
    return {
        "source": source,
        "weights": weights,
        "epochs": epochs(weights, available, d_tokens),
        "token_budget": d_tokens,
        "e_max": e_max,
        "caps": cap,
        "model_params": model_params,
        "tokens_per_param": tokens_per_param,
    }
