"""Coverage pairs and matrices against a brute-force distance check; the memory budget."""
from __future__ import annotations

import numpy as np
import pytest

from siting import coverage as cov
from siting.config import load_params
from siting.errors import ResourceError


def _brute(demand_xy, candidate_xy, radius):
    dist = np.hypot(demand_xy[:, None, 0] - candidate_xy[None, :, 0], demand_xy[:, None, 1] - candidate_xy[None, :, 1])
    return dist, dist <= np.broadcast_to(radius, (len(candidate_xy),))[None, :]


@pytest.mark.parametrize("seed", range(4))
def test_pairs_match_brute_force_with_per_candidate_radius(seed):
    rng = np.random.default_rng(seed)
    demand = rng.uniform(0, 2000, (1500, 2))
    cands = rng.uniform(0, 2000, (120, 2))
    radius = rng.uniform(0, 400, 120)  # many radius classes, some tiny
    radius[:3] = 0.0
    cands[0] = demand[7]  # a zero-radius candidate on a demand point covers that point
    rows, cols, dist = cov.pairs_within(demand, cands, radius)
    full, inside = _brute(demand, cands, radius)
    got = np.zeros_like(inside)
    got[rows, cols] = True
    assert len(rows) == inside.sum()  # no duplicates
    assert (got == inside).all()
    assert got[7, 0]
    np.testing.assert_allclose(dist, full[rows, cols], atol=1e-3)
    matrix = cov.coverage_matrix(rows, cols, len(demand), len(cands))
    assert matrix.dtype == bool and matrix.shape == (1500, 120)
    assert (matrix.toarray() == inside).all()


def test_scalar_radius_boundary_and_keep_mask():
    demand = np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0], [0.0, 5.0000001]])
    cands = np.array([[0.0, 0.0], [100.0, 100.0]])
    rows, cols, dist = cov.pairs_within(demand, cands, 5.0)
    assert sorted(zip(rows.tolist(), cols.tolist())) == [(0, 0), (1, 0)]  # exactly 5 m is inside
    keep = dist < 1.0
    m = cov.coverage_matrix(rows, cols, 4, 2, keep=keep)
    assert m.nnz == 1 and m[0, 0]


def test_empty_inputs_give_empty_matrix():
    m = cov.coverage_from_radius(np.empty((0, 2)), np.array([[0.0, 0.0]]), 100.0)
    assert m.shape == (0, 1) and m.nnz == 0
    rows, cols, dist = cov.pairs_within(np.array([[0.0, 0.0]]), np.empty((0, 2)), 100.0)
    assert len(rows) == len(cols) == len(dist) == 0


def test_estimate_pairs_is_close_on_uniform_demand():
    rng = np.random.default_rng(0)
    demand = rng.uniform(0, 10_000, (100_000, 2))
    cands = rng.uniform(0, 10_000, (5_000, 2))
    exact = len(cov.pairs_within(demand, cands, 300.0)[0])
    estimate = cov.estimate_pairs(demand, cands, 300.0)
    assert abs(estimate - exact) / exact < 0.1


def test_memory_budget_refuses_before_allocating():
    rng = np.random.default_rng(1)
    demand = rng.uniform(0, 5000, (50_000, 2))
    cands = rng.uniform(0, 5000, (5000, 2))
    # about 50,000 * pi * 1000^2 / 25e6 = 6,300 demand points per candidate: 31 M pairs, ~2 GB
    with pytest.raises(ResourceError) as err:
        cov.coverage_from_radius(demand, cands, 1000.0, memory_budget_gb=0.5)
    msg = str(err.value)
    assert "GB" in msg and "--cell-size" in msg and "siting batch" in msg and "\n" not in msg
    assert cov.check_memory(demand[:1000], cands[:100], 100.0, budget_gb=0.5) > 0


def test_memory_budget_is_a_parameter():
    params = load_params(overrides={"solver.memory_budget_gb": 2})
    assert params.solver.memory_budget_gb == 2
    assert load_params().solver.memory_budget_gb == 8
