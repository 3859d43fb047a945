"""Proxy mixtures to train small models on before fitting the mixing law.

The set is the availability prior, the uniform mixture, and K Dirichlet samples centred on the
prior (alpha_i = concentration * n * prior_i, so the mean is the prior and a larger concentration
keeps samples closer to it), each projected onto the capped simplex so no proxy asks a domain for
more than E_max epochs. Seeded: the same inputs give the same proposals.
"""

from __future__ import annotations

import numpy as np

from mixing.budget import availability_weights, project_capped_simplex

# Dirichlet parameters must be positive; an empty domain's tiny alpha is then clipped to 0 by its cap.
_MIN_ALPHA = 1e-3


def propose_mixtures(
    available: dict[str, int],
    cap: dict[str, float],
    k: int,
    concentration: float,
    seed: int = 0,
) -> list[dict]:
    """[{"name": ..., "weights": {domain: w}}]: "prior", "uniform", then "dirichlet_00" ... K samples."""
    names = list(available)
    upper = np.array([cap[d] for d in names])
    prior = availability_weights(available, cap)
    prior_vec = np.array([prior[d] for d in names])
    uniform = project_capped_simplex(np.full(len(names), 1.0 / len(names)), upper)

    rng = np.random.default_rng(seed)
    alpha = np.maximum(concentration * len(names) * prior_vec, _MIN_ALPHA)
    proposals = [("prior", prior_vec), ("uniform", uniform)]
    for i in range(k):
        sample = rng.dirichlet(alpha)
        proposals.append((f"dirichlet_{i:02d}", project_capped_simplex(sample, upper)))
    return [{"name": name, "weights": dict(zip(names, w.tolist()))} for name, w in proposals]
