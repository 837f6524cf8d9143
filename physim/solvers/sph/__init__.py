"""The SPH liquid solver: DFSPH pressure solves, a uniform-grid neighbour search, Akinci boundaries, two-way
rigid coupling."""

from physim.solvers.sph.solver import SPHSolver

__all__ = ["SPHSolver"]
