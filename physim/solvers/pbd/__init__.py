"""XPBD particles: cloth, granular matter and soft bodies, coupled with rigid bodies (see ``kernels.py``)."""

from physim.solvers.pbd.solver import PBDSolver

__all__ = ["PBDSolver"]
