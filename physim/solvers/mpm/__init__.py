"""The MLS-MPM continuum solver: elastic solids, plasticine, sand, liquids and snow on a background grid."""

from physim.solvers.mpm.sampling import sample_morph
from physim.solvers.mpm.solver import MPMSolver

__all__ = ["MPMSolver", "sample_morph"]
