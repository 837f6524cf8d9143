"""Materials say how an entity behaves, and so which solver owns it. No physics here, only parameters.

Units are SI: density kg/m^3; friction and restitution are dimensionless coefficients.
"""

from __future__ import annotations

from dataclasses import dataclass

from physim.utils import validate as v


@dataclass(frozen=True)
class Material:
    """Base of every material; the solver that owns an entity is chosen by its material's type."""


@dataclass(frozen=True)
class Rigid(Material):
    """A rigid body, simulated by the rigid solver.

    rho: density, kg/m^3 (mass = rho * volume of the collider).
    friction: Coulomb friction coefficient; a contact uses the larger of its two bodies' values
        (as MuJoCo and Genesis do).
    restitution: normal bounce coefficient in [0, 1]; a contact uses the larger of the two.
    contype, conaffinity: collision filter bit masks, as MuJoCo's: two bodies may touch when
        ``contype_a & conaffinity_b`` or ``contype_b & conaffinity_a`` is non-zero.
    """

    rho: float = 1000.0
    friction: float = 1.0
    restitution: float = 0.0
    contype: int = 1
    conaffinity: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "rho", v.positive("Rigid", "rho", self.rho))
        object.__setattr__(self, "friction", v.finite_scalar("Rigid", "friction", self.friction, low=0.0))
        object.__setattr__(self, "restitution",
                           v.finite_scalar("Rigid", "restitution", self.restitution, low=0.0, high=1.0))
        for name in ("contype", "conaffinity"):  # bit masks
            object.__setattr__(self, name, v.integer("Rigid", name, getattr(self, name), high=2**31 - 1))


from physim.scene import mpm_materials as MPM  # noqa: E402, F401, N812 - ps.materials.MPM.Elastic, as Genesis
from physim.scene import pbd_materials as PBD  # noqa: E402, F401, N812 - ps.materials.PBD.Cloth, as Genesis
from physim.scene import sph_materials as SPH  # noqa: E402, F401, N812 - ps.materials.SPH.Liquid, as Genesis
