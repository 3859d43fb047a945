"""Fit the Data Mixing Law to proxy runs and pick the mixture it predicts is best.

Data Mixing Law (Ye et al. 2024, "Data Mixing Laws", eq. for multiple domains): the validation loss
on target domain j of a model trained on mixture w is

    L_j(w) = c_j + k_j * exp(sum_i t_ji * w_i)

One law per target domain, fitted to the M proxy runs by minimising a Huber loss on the residuals
(robust to a noisy proxy run) with L-BFGS-B from many seeded starts, keeping the best. On the simplex
k_j is redundant: sum w = 1 gives k * exp(t . w) = exp((t + ln k) . w), so we fit (c_j, t_j) with
k_j = 1. Dropping that flat direction makes L-BFGS converge in a fraction of the iterations.

Trust check: leave-one-out. Each proxy run in turn is held out, the laws are refit on the rest,
and the held-out run's total loss is predicted; the Spearman rank correlation rho between predicted
and observed totals says whether the laws rank mixtures correctly. Below `min_spearman` we do not
trust the extrapolation and fall back to the best observed proxy mixture.

Optimum: minimise the weighted total sum_j a_j L_j(w) over the capped simplex
{0 <= w_i <= b_i, sum w = 1} with SLSQP from several starts (prior, uniform, every proxy mixture).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.stats import spearmanr
from threadpoolctl import threadpool_limits

from mixing.budget import project_capped_simplex

T_BOUND = 20.0  # |t_ji| bound: exp(20) already spans far more than any loss range


def single_threaded_blas(fn):
    """Run `fn` with BLAS limited to one thread. scipy's L-BFGS-B and SLSQP call BLAS on vectors of a
    few entries; a multi-threaded BLAS spins its threads on each call, which on a shared 2-core
    machine made every fit 20-200x slower."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper


@dataclass
class MixingLaw:
    c: float
    k: float
    t: np.ndarray

    def __call__(self, w: np.ndarray) -> np.ndarray:
        return self.c + self.k * np.exp(np.asarray(w) @ self.t)

    def grad(self, w: np.ndarray) -> np.ndarray:
        """d L / d w."""
        return self.k * np.exp(w @ self.t) * self.t


def _huber_objective(params: np.ndarray, w: np.ndarray, loss: np.ndarray, delta: float):
    c, t = params[0], params[1:]
    e = np.exp(np.clip(w @ t, -50.0, 50.0))
    r = c + e - loss
    small = np.abs(r) <= delta
    value = np.where(small, 0.5 * r * r, delta * (np.abs(r) - 0.5 * delta)).sum()
    psi = np.where(small, r, delta * np.sign(r))  # d huber / d r
    return value, np.concatenate([[psi.sum()], (psi * e) @ w])


def fit_law(
    w: np.ndarray,
    loss: np.ndarray,
    n_starts: int,
    huber_delta: float,
    seed: int,
    warm_start: MixingLaw | None = None,
) -> MixingLaw:
    """One target domain's law from proxy mixtures `w` (M x n) and their losses `loss` (M,)."""
    rng = np.random.default_rng(seed)
    n = w.shape[1]
    lo = float(loss.min())
    bounds = [(0.0, lo)] + [(-T_BOUND, T_BOUND)] * n
    starts = [np.concatenate([[warm_start.c], warm_start.t])] if warm_start is not None else []
    for _ in range(n_starts):
        # c below every observed loss; t centred on the level that explains the mean excess loss.
        c0 = rng.uniform(0.0, lo)
        level = np.log(max(np.mean(loss) - c0, 1e-6))
        starts.append(np.concatenate([[c0], level + rng.normal(0.0, 2.0, n)]))
    best = None
    for start in starts:
        start = np.clip(start, [b[0] for b in bounds], [b[1] for b in bounds])
        res = minimize(
            _huber_objective, start, args=(w, loss, huber_delta), jac=True, method="L-BFGS-B", bounds=bounds
        )
        if best is None or res.fun < best.fun:
            best = res
    return MixingLaw(c=float(best.x[0]), k=1.0, t=np.array(best.x[1:]))


@single_threaded_blas
def fit_laws(
    w: np.ndarray, losses: np.ndarray, n_starts: int, huber_delta: float, seed: int, warm: list | None = None
) -> list[MixingLaw]:
    """One law per column of `losses` (M x J); `warm` laws (if given) are tried as an extra start."""
    return [
        fit_law(w, losses[:, j], n_starts, huber_delta, seed + j, warm[j] if warm else None)
        for j in range(losses.shape[1])
    ]


def total_loss(laws: list[MixingLaw], target: np.ndarray, w: np.ndarray) -> float:
    return float(sum(a * law(w) for a, law in zip(target, laws)))


@single_threaded_blas
def leave_one_out_spearman(
    w: np.ndarray,
    losses: np.ndarray,
    target: np.ndarray,
    n_starts: int,
    huber_delta: float,
    seed: int,
    warm: list[MixingLaw] | None = None,
) -> tuple[float, np.ndarray]:
    """(rho, predicted totals): each run's total loss predicted by laws fitted without it.

    Each refit starts from the full-data laws (`warm`) plus a quarter of the random starts: removing
    one run moves the optimum only a little.
    """
    predicted = np.empty(len(w))
    for m in range(len(w)):
        keep = np.arange(len(w)) != m
        laws = fit_laws(
            w[keep], losses[keep], max(1, n_starts // 4), huber_delta, seed + 1000 * (m + 1), warm
        )
        predicted[m] = total_loss(laws, target, w[m])
    rho = spearmanr(predicted, losses @ target).statistic
    return (float(rho) if np.isfinite(rho) else 0.0), predicted


@single_threaded_blas
def optimal_mixture(laws: list[MixingLaw], target: np.ndarray, upper: np.ndarray, starts: list[np.ndarray]):
    """argmin of the weighted total loss on the capped simplex (best over SLSQP runs from `starts`)."""

    def objective(w):
        return total_loss(laws, target, w), sum(a * law.grad(w) for a, law in zip(target, laws))

    constraint = {"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones_like(w)}
    best_w, best_value = None, np.inf
    for start in starts:
        res = minimize(
            objective,
            project_capped_simplex(start, upper),
            jac=True,
            method="SLSQP",
            bounds=list(zip(np.zeros_like(upper), upper)),
            constraints=[constraint],
            options={"maxiter": 500, "ftol": 1e-12},
        )
        w = project_capped_simplex(res.x, upper)  # remove SLSQP's tiny constraint violations
        value = total_loss(laws, target, w)
        if value < best_value:
            best_w, best_value = w, value
    return best_w, best_value


@single_threaded_blas
def fit_mixture(
    domains: list[str],
    proxy_weights: np.ndarray,
    proxy_losses: np.ndarray,
    cap: dict[str, float],
    target_weights: dict[str, float] | None = None,
    *,
    n_starts: int,
    huber_delta: float,
    min_spearman: float,
    seed: int = 0,
    extra_starts: list[np.ndarray] | None = None,
) -> dict:
    """The recommended mixture and how it was chosen (the weights.json document).

    `proxy_weights` is M x n (mixtures over `domains`), `proxy_losses` M x n (validation loss on
    each domain, same order).
    """
    upper = np.array([cap[d] for d in domains])
    target = (
        np.array([(target_weights or {}).get(d, 1.0) for d in domains])
        if target_weights
        else np.ones(len(domains))
    )
    target = target / target.sum()
    laws = fit_laws(proxy_weights, proxy_losses, n_starts, huber_delta, seed)
    rho, loo_predicted = leave_one_out_spearman(
        proxy_weights, proxy_losses, target, n_starts, huber_delta, seed, warm=laws
    )

    observed_totals = proxy_losses @ target
    best_run = int(np.argmin(observed_totals))
    starts = [np.full(len(domains), 1.0 / len(domains)), *proxy_weights, *(extra_starts or [])]
    law_w, law_value = optimal_mixture(laws, target, upper, starts)

    use_law = rho >= min_spearman
    chosen = law_w if use_law else project_capped_simplex(proxy_weights[best_run], upper)
    return {
        "source": "fitted",
        "method": "mixing_law" if use_law else "best_observed",
        "weights": dict(zip(domains, chosen.tolist())),
        "law_optimum": dict(zip(domains, law_w.tolist())),
        "predicted_total_loss": law_value,
        "best_observed": {"index": best_run, "total_loss": float(observed_totals[best_run])},
        "spearman_rho": rho,
        "min_spearman": min_spearman,
        "loo_predicted_total_loss": loo_predicted.tolist(),
        "target_weights": dict(zip(domains, target.tolist())),
        "caps": dict(zip(domains, upper.tolist())),
        "laws": {
            d: {"c": law.c, "k": law.k, "t": dict(zip(domains, law.t.tolist()))}
            for d, law in zip(domains, laws)
        },
    }
