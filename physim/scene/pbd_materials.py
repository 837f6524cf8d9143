"""PBD materials (``ps.materials.PBD.*``): bodies simulated by the XPBD particle solver. Parameters only.

Units are SI. Compliances are XPBD's (Macklin et al. 2016): the inverse stiffness of one distance
constraint, m/N; 0 is as stiff as the solver's substeps allow. Friction is a Coulomb coefficient; a contact
uses the larger of its two sides' coefficients, as rigid contacts do. Damping is a rate, 1/s: a free
particle's velocity decays as ``exp(-damping t)`` (0 by default: nothing hidden is added).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from physim.scene.materials import Material
from physim.utils import validate as v

# Body kinds as the solver sees them.
CLOTH, PARTICLE, ELASTIC = range(3)
# A cloth's bending_compliance below this (a bending stiffness above 100 N m) is no cloth: most likely a value
# written when the parameter was a per-constraint compliance in m/N. Warned about.
STIFFEST_CLOTH_COMPLIANCE = 1e-2


@dataclass(frozen=True)
class PBDMaterial(Material):
    """Base of every PBD material."""

    friction: float = 0.3
    damping: float = 0.0

    kind = -1

    def __post_init__(self) -> None:
        owner = type(self).__name__
        object.__setattr__(self, "friction", v.finite_scalar(owner, "friction", self.friction, low=0.0))
        object.__setattr__(self, "damping", v.finite_scalar(owner, "damping", self.damping, low=0.0))
        self._validate(owner)

    def _validate(self, owner: str) -> None:
        """Subclasses check their own fields here."""

    @property
    def collides_with_particles(self) -> bool:
        return True


@dataclass(frozen=True)
class Cloth(PBDMaterial):
    """A cloth: the vertices of a triangle mesh (``ps.morphs.Mesh``), in the file's vertex order, joined by
    stretch constraints along the mesh edges and bending constraints across them.

    Rigid bodies meet the cloth at its vertices (their signed distance) and at its triangles (the rigid collider
    points: box corners, cylinder rims, convex-mesh vertices, sphere and capsule centres), so a box corner does
    not poke through a coarse cloth between its vertices.

    rho: areal density, kg/m^2 (cotton shirting about 0.1-0.2, denim about 0.4); each vertex weighs rho times
        a third of the area of its triangles, so the cloth weighs rho times its area.
    stretch_compliance: compliance of each edge, m/N (0: inextensible as far as the substeps allow).
    bending_compliance: the inverse of the cloth's bending stiffness D, 1/(N m) (larger: a limper cloth). D is
        the bending moment per unit width per unit curvature: a strip of it bent to a radius R takes D / R,
        N m per metre of width. Woven fabrics have D of about 1e-6 (fine shirting) to 1e-4 N m (heavy denim),
        paper about 1e-3 to 1e-2. Each mesh edge is a hinge of stiffness D |e|^2 / A_e (A_e its two triangles'
        area), so the cloth bends alike however finely it is meshed. A cloth stiffer than its substeps can
        resolve bends as far as they allow: a strip of 0.2 m clamped at one end and meant to droop 5 mm
        (D = 0.05 N m) droops 20 mm at 20 substeps of 0.5 ms and 8 mm at 80 of 0.125 ms (measured, the latter
        in double precision: single-precision rounding of the positions jitters a stiff hinge at such short
        substeps).
    self_collision: particles of the cloth (and of other colliding PBD bodies) keep a particle diameter
        apart. Only the vertices collide: a cloth coarser than the particle size can pass through itself
        between them.
    tethers: long-range attachments (Kim, Chentanez and Mueller 2012): while particles are pinned (fixed or
        attached), no free particle gets farther from a pin than its rest distance along the cloth. A cloth
        as stiff as the default compliance barely stretches under its weight, but a few substeps of constraint
        sweeps cannot carry a pin's pull through a large cloth: without tethers a cloth hung by two corners
        stretches by tens of per cent at the pins until about ten times more substeps are spent. Turn them
        off for a cloth meant to stretch (a large ``stretch_compliance``): they would stop it at its rest size.
    """

    rho: float = 0.2
    stretch_compliance: float = 1e-7
    bending_compliance: float = 1e6
    self_collision: bool = True
    tethers: bool = True

    kind = CLOTH

    def _validate(self, owner: str) -> None:
        object.__setattr__(self, "rho", v.positive(owner, "rho", self.rho))
        for name in ("stretch_compliance", "bending_compliance"):
            object.__setattr__(self, name, v.finite_scalar(owner, name, getattr(self, name), low=0.0))
        if 0.0 < self.bending_compliance < STIFFEST_CLOTH_COMPLIANCE:
            # Until 2026-12-06 this was each bending constraint's compliance in m/N (default 1e-4); the same
            # number as 1/D makes a cloth far stiffer than steel sheet, silently.
            warnings.warn(f"{owner}.bending_compliance={self.bending_compliance!r} is 1/D in 1/(N m): a bending "
                          f"stiffness D of {1.0 / self.bending_compliance:.3g} N m, stiffer than 1 mm steel sheet "
                          "(about 17 N m). Fabrics are 1e4 to 1e6 (D = 1e-4 to 1e-6 N m); a value written for the "
                          "old per-constraint compliance in m/N (default 1e-4) needs changing", UserWarning,
                          stacklevel=4)
        for name in ("self_collision", "tethers"):
            if not isinstance(getattr(self, name), bool):
                raise v.InvalidValueError(f"{owner}.{name}: must be True or False, got {getattr(self, name)!r}")

    @property
    def collides_with_particles(self) -> bool:
        return self.self_collision


@dataclass(frozen=True)
class Particle(PBDMaterial):
    """Granular matter: loose spheres of diameter ``PBDOptions.particle_size`` sampled on a lattice inside the
    morph, with Coulomb friction between them (the angle of a pile grows with ``friction``).

    rho: density of the bulk, kg/m^3; each particle weighs ``rho * particle_size**3``.
    """

    rho: float = 1000.0
    friction: float = 0.5

    kind = PARTICLE

    def _validate(self, owner: str) -> None:
        object.__setattr__(self, "rho", v.positive(owner, "rho", self.rho))


@dataclass(frozen=True)
class Elastic(PBDMaterial):
    """A soft body: the morph's volume sampled on a lattice whose neighbours (axis, face- and body-diagonal
    steps) are joined by distance constraints, so it recovers its shape after being deformed.

    rho: density, kg/m^3; each particle weighs ``rho * particle_size**3``.
    stretch_compliance: compliance of each lattice constraint, m/N (0: as stiff as the substeps allow). As a
        rough guide the lattice's Young's modulus is of order ``1 / (stretch_compliance * particle_size)``.
    """

    rho: float = 1000.0
    stretch_compliance: float = 0.0

    kind = ELASTIC

    def _validate(self, owner: str) -> None:
        object.__setattr__(self, "rho", v.positive(owner, "rho", self.rho))
        object.__setattr__(self, "stretch_compliance",
                           v.finite_scalar(owner, "stretch_compliance", self.stretch_compliance, low=0.0))
