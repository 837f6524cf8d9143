"""The rigid-body solver: free bodies as one-link trees on a 6-DoF free joint, contacts, friction."""

from physim.solvers.rigid.model import GeomSpec, RigidBodySpec
from physim.solvers.rigid.shapes import GeomType, Shape
from physim.solvers.rigid.solver import RigidSolver

__all__ = ["GeomSpec", "GeomType", "RigidBodySpec", "RigidSolver", "Shape"]
