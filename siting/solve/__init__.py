"""The solver core: one problem type, one HiGHS builder, one :class:`Solution`.

- :mod:`siting.solve.problem`: the coverage problem validated once (errors name the
  parameter: :class:`~siting.solve.problem.ParameterError`), :class:`Solution`;
- :mod:`siting.solve.mclp`: :func:`solve_mclp` (``count`` sites maximising the covered
  weight) and :func:`solve_set_cover` (the fewest sites reaching a ``target`` share);
- :mod:`siting.solve.capacitated`: :func:`solve_capacitated`, sites that serve the traffic
  they cover within capacity, and :func:`served_traffic`;
- :mod:`siting.solve.greedy` (lazy greedy and its bounds), :mod:`siting.solve.ails`
  (compiled swap search and AILS), :mod:`siting.solve.relax` (presolve, Lagrangian, LP,
  MILP) and :mod:`siting.solve.highs` (the one HiGHS model builder and status decoding).

Every solve takes the run's :class:`~siting.config.SolverParams` as ``params`` (``solver``
for the capacitated one, whose ``params`` are the capacity parameters).
"""
from __future__ import annotations

from siting.solve.capacitated import served_traffic, solve_capacitated
from siting.solve.mclp import solve_mclp, solve_set_cover
from siting.solve.problem import METHODS, ParameterError, Solution

__all__ = ["METHODS", "ParameterError", "Solution", "served_traffic", "solve_capacitated", "solve_mclp",
           "solve_set_cover"]
