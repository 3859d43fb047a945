"""Domain mixing: token budget and availability caps, proxy proposals, the Data Mixing Law fit."""

from mixing.budget import (
    InfeasibleBudgetError,
    availability_weights,
    caps,
    check_feasible,
    epochs,
    plan_mixture,
    project_capped_simplex,
    token_budget,
)
from mixing.fit import MixingLaw, fit_mixture
from mixing.propose import propose_mixtures

__all__ = [
    "InfeasibleBudgetError",
    "MixingLaw",
    "availability_weights",
    "caps",
    "check_feasible",
    "epochs",
    "fit_mixture",
    "plan_mixture",
    "project_capped_simplex",
    "propose_mixtures",
    "token_budget",
]
