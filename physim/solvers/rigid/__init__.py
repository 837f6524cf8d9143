"""The rigid-body solver: free bodies as one-link trees on a 6-DoF free joint, contacts, friction."""

from physim.solvers.rigid.shapes import GeomType, Shape
from physim.solvers.rigid.solver import RigidBodySpec, RigidSolver

__all__ = ["GeomType", "RigidBodySpec", "RigidSolver", "Shape"]
