"""Budget, caps, proposals and the Data Mixing Law fit, against synthetic ground-truth laws."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mixing.__main__ import main as mixing_cli
from mixing.budget import (
    InfeasibleBudgetError,
    availability_weights,
    caps,
    check_feasible,
    plan_mixture,
    project_capped_simplex,
    token_budget,
)
from mixing.fit import MixingLaw, fit_mixture, optimal_mixture
from mixing.propose import propose_mixtures

DOMAINS = ["news", "web", "code", "qa"]
AVAILABLE = {"news": 300, "web": 1000, "code": 60, "qa": 150}  # budget 1000 -> caps 1, 1, 0.24, 0.6
# Ground truth: training on a domain lowers its own loss most (diagonal), others a little.
TRUE_T = -np.array([[3.0, 0.8, 0.2, 0.5], [1.0, 2.0, 0.3, 0.6], [0.3, 0.4, 4.0, 1.0], [0.6, 0.7, 1.2, 3.0]])
TRUE_LAWS = [MixingLaw(c=2.0 + 0.3 * j, k=1.0, t=TRUE_T[j]) for j in range(4)]


def test_budget_and_caps_hand_computed():
    assert token_budget(AVAILABLE, model_params=50) == 1000  # Chinchilla: 20 tokens per parameter
    assert token_budget(AVAILABLE, model_params=50, budget=777) == 777
    assert token_budget(AVAILABLE) == 1510  # no N: one pass over the data
    assert caps(AVAILABLE, 1000, 4.0) == pytest.approx({"news": 1.0, "web": 1.0, "code": 0.24, "qa": 0.6})


def test_infeasible_budget_is_a_clear_error():
    with pytest.raises(InfeasibleBudgetError, match=r"D=10,000 is infeasible.*E_max=4"):
        check_feasible(AVAILABLE, 10_000, 4.0)  # 4 epochs of 1510 tokens = 6040 < 10000
    with pytest.raises(InfeasibleBudgetError):
        plan_mixture(AVAILABLE, model_params=10**9)
    assert sum(check_feasible(AVAILABLE, 6000, 4.0).values()) >= 1.0


def test_projection_and_water_filling_respect_caps():
    upper = np.array([0.5, 0.2, 0.4])
    w = project_capped_simplex([0.9, 0.9, -1.0], upper)
    assert w.sum() == pytest.approx(1.0) and (w <= upper + 1e-12).all() and (w >= 0).all()
    assert w == pytest.approx([0.5, 0.2, 0.3])
    # Availability 10:60:30 with the middle domain capped at 0.5 -> the rest share 0.5 as 1:3.
    got = availability_weights({"a": 10, "b": 60, "c": 30}, {"a": 1.0, "b": 0.5, "c": 1.0})
    assert got == pytest.approx({"a": 0.125, "b": 0.5, "c": 0.375})


def test_proposals_respect_caps_and_include_prior_and_uniform():
    cap = caps(AVAILABLE, 1000, 4.0)
    props = propose_mixtures(AVAILABLE, cap, k=20, concentration=3.0, seed=5)
    assert [p["name"] for p in props[:2]] == ["prior", "uniform"] and len(props) == 22
    for p in props:
        assert sum(p["weights"].values()) == pytest.approx(1.0)
        assert all(0 <= p["weights"][d] <= cap[d] + 1e-12 for d in DOMAINS)
    assert props[0]["weights"]["web"] == pytest.approx(1000 / 1510)
    # Uniform, projected: code is capped at 0.24 and the 0.01 it gives up is shared by the other three.
    assert props[1]["weights"] == pytest.approx(
        {"news": 0.76 / 3, "web": 0.76 / 3, "code": 0.24, "qa": 0.76 / 3}
    )
    assert props == propose_mixtures(AVAILABLE, cap, k=20, concentration=3.0, seed=5)  # seeded
    spread = np.std([[p["weights"][d] for d in DOMAINS] for p in props[2:]], axis=0)
    assert (spread > 0.01).all()  # the samples explore every direction


def synthetic_results(seed: int, k: int = 14, noise: float = 0.002):
    cap = caps(AVAILABLE, 1000, 4.0)
    props = propose_mixtures(AVAILABLE, cap, k=k, concentration=1.0, seed=seed)
    w = np.array([[p["weights"][d] for d in DOMAINS] for p in props])
    losses = np.array([[law(x) for law in TRUE_LAWS] for x in w])
    return cap, props, w, losses + np.random.default_rng(100 + seed).normal(0.0, noise, losses.shape)


@pytest.mark.parametrize("seed", [0, 1])
def test_fitted_optimum_is_near_the_true_one(seed):
    cap, _, w, losses = synthetic_results(seed)
    upper = np.array([cap[d] for d in DOMAINS])
    true_w, _ = optimal_mixture(TRUE_LAWS, np.full(4, 0.25), upper, [np.full(4, 0.25)])
    assert true_w[2] == pytest.approx(0.24)  # the code cap binds: the fit must respect it too
    result = fit_mixture(DOMAINS, w, losses, cap, n_starts=6, huber_delta=0.02, min_spearman=0.6, seed=seed)
    got = np.array([result["weights"][d] for d in DOMAINS])
    assert result["method"] == "mixing_law" and result["spearman_rho"] > 0.9
    assert np.abs(got - true_w).sum() < 0.05
    assert got.sum() == pytest.approx(1.0) and (got <= upper + 1e-9).all() and (got >= 0).all()


def test_poor_rank_correlation_falls_back_to_best_observed():
    cap, _, w, _ = synthetic_results(0, k=10)
    losses = np.random.default_rng(3).normal(3.0, 0.05, (len(w), 4))  # no law behind these numbers
    result = fit_mixture(DOMAINS, w, losses, cap, n_starts=3, huber_delta=0.02, min_spearman=0.99, seed=0)
    best = int(np.argmin(losses.mean(axis=1)))
    assert result["method"] == "best_observed" and result["best_observed"]["index"] == best
    assert [result["weights"][d] for d in DOMAINS] == pytest.approx(w[best].tolist())


def test_cli_propose_then_fit(tmp_path, capsys):
    avail = tmp_path / "avail.json"
    avail.write_text(json.dumps(AVAILABLE))
    proposals = tmp_path / "proposals.json"
    assert mixing_cli(["propose", "--availability", str(avail), "--token-budget", "1000", "-k", "12",
                       "--concentration", "1", "--out", str(proposals)]) == 0  # fmt: skip
    doc = json.loads(proposals.read_text())
    assert doc["caps"]["code"] == pytest.approx(0.24) and len(doc["proposals"]) == 14
    runs = [
        {
            "name": p["name"],
            "val_loss": {
                d: float(law(np.array([p["weights"][x] for x in DOMAINS])))
                for d, law in zip(DOMAINS, TRUE_LAWS)
            },
        }  # fmt: skip
        for p in doc["proposals"]
    ]
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"runs": runs}))
    weights = tmp_path / "weights.json"
    assert mixing_cli(["fit", "--proposals", str(proposals), "--results", str(results), "--n-starts", "4",
                       "--out", str(weights)]) == 0  # fmt: skip
    fitted = json.loads(weights.read_text())
    assert fitted["source"] == "fitted" and set(fitted["weights"]) == set(DOMAINS)
    assert plan_mixture({d: AVAILABLE[d] for d in DOMAINS}, budget=1000, fitted=fitted)["source"] == "fitted"
    assert mixing_cli(["propose", "--availability", str(avail), "--token-budget", "1e6", "--out",
                       str(tmp_path / "x.json")]) == 2  # fmt: skip
    assert "infeasible" in capsys.readouterr().err


def test_fit_mixture_proposes_from_the_run_config(tmp_path):
    """`trainer.proxies.propose` hands the typed `mix` settings to `python -m mixing propose`: the
    budget, k and seed of the config decide the proposals (a token budget of 1000 caps code at 0.24)."""
    from pipeline import layout
    from pipeline.config import load_config
    from trainer.proxies import propose

    manifest = layout.manifest_path(layout.shards_dir(tmp_path))
    manifest.parent.mkdir(parents=True)
    layout.mixing_dir(tmp_path).mkdir()  # fit_mixture makes it before proposing
    manifest.write_text(json.dumps({"domains": {d: {"tokens": u} for d, u in AVAILABLE.items()}}))
    cfg = load_config(
        overrides={"mix.token_budget": 1000, "mix.propose.k": 5, "mix.propose.concentration": 1}
    )
    doc = json.loads(propose(cfg, tmp_path).read_text())
    assert doc["caps"]["code"] == pytest.approx(0.24) and len(doc["proposals"]) == 7  # k + prior + uniform
    again = json.loads(propose(cfg, tmp_path).read_text())
    assert again["proposals"] == doc["proposals"]  # seeded by run.seed
