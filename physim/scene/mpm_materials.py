"""MPM materials (``ps.materials.MPM.*``): continua simulated by the MPM solver. Parameters only.

Units are SI: Young's modulus ``E`` in Pa, density ``rho`` in kg/m^3, viscosity in Pa s, angles in degrees.
Each particle of an entity weighs ``rho * particle_size**3``, so the particles of an entity add up to
``rho`` times the volume they sample (see ``MPMOptions.particle_size``).
"""

from __future__ import annotations

from dataclasses import dataclass

from physim.scene.materials import Material
from physim.utils import validate as v

# Material kinds as the solver's kernel reads them.
ELASTIC, PLASTICINE, SAND, LIQUID, SNOW = range(5)


@dataclass(frozen=True)
class MPMMaterial(Material):
    """Base of every MPM material: an isotropic solid or fluid of Young's modulus ``E``, Poisson ratio
    ``nu`` and density ``rho``."""

    E: float = 3e5  # noqa: N815 - the symbol every text uses
    nu: float = 0.2
    rho: float = 1000.0

    kind = -1

    def __post_init__(self) -> None:
        owner = type(self).__name__
        object.__setattr__(self, "E", v.positive(owner, "E", self.E))
        # nu < 0.5: an incompressible solid has an infinite bulk modulus (and no stable time step).
        object.__setattr__(self, "nu", v.finite_scalar(owner, "nu", self.nu, low=0.0, high=0.49))
        object.__setattr__(self, "rho", v.positive(owner, "rho", self.rho))
        self._validate(owner)

    def _validate(self, owner: str) -> None:
        """Subclasses check their own fields here."""

    @property
    def mu(self) -> float:
        """Shear modulus (first Lame parameter's partner), Pa."""
        return self.E / (2.0 * (1.0 + self.nu))

    @property
    def lam(self) -> float:
        """First Lame parameter, Pa."""
        return self.E * self.nu / ((1.0 + self.nu) * (1.0 - 2.0 * self.nu))

    def wave_speed(self) -> float:
        """Speed of the fastest (pressure) wave in the material, m/s: sqrt((lam + 2 mu) / rho)."""
        return ((self.lam + 2.0 * self.mu) / self.rho) ** 0.5

    def solver_params(self) -> tuple[float, ...]:
        """(mu, lam, a, b, c): the two Lame parameters and three material-specific numbers for the kernel."""
        return self.mu, self.lam, 0.0, 0.0, 0.0

    def solver_model(self) -> int:
        return 0


@dataclass(frozen=True)
class Elastic(MPMMaterial):
    """A hyperelastic solid. model: ``"corotation"`` (fixed corotated, as Stomakhin 2012) or ``"neohooken"``
    (compressible neo-Hookean; ``"neohookean"`` is accepted too)."""

    model: str = "corotation"

    kind = ELASTIC

    def _validate(self, owner: str) -> None:
        v.one_of(owner, "model", self.model, ("corotation", "neohooken", "neohookean"))

    def solver_model(self) -> int:
        return 0 if self.model == "corotation" else 1


@dataclass(frozen=True)
class Plasticine(MPMMaterial):
    """An elastoplastic solid with a von Mises yield surface on the Hencky (log) strain.

    yield_lower: deviatoric stress at which it yields, Pa. (``yield_higher`` is Genesis's name for a
    hardening bound; it is not used by this model.)
    """

    E: float = 1e6  # noqa: N815
    yield_lower: float = 1e4
    yield_higher: float | None = None

    kind = PLASTICINE

    def _validate(self, owner: str) -> None:
        object.__setattr__(self, "yield_lower", v.positive(owner, "yield_lower", self.yield_lower))

    def solver_params(self) -> tuple[float, ...]:
        return self.mu, self.lam, self.yield_lower, 0.0, 0.0


@dataclass(frozen=True)
class Sand(MPMMaterial):
    """A cohesionless granular material: Drucker-Prager plasticity on the Hencky strain (Klar et al. 2016).

    friction_angle: internal friction angle, degrees, in (0, 90).
    """

    E: float = 1e6  # noqa: N815
    nu: float = 0.2
    friction_angle: float = 45.0

    kind = SAND

    def _validate(self, owner: str) -> None:
        object.__setattr__(self, "friction_angle", v.finite_scalar(owner, "friction_angle", self.friction_angle,
                                                                   low=0.0, low_open=True, high=89.9))

    def solver_params(self) -> tuple[float, ...]:
        import math

        sin = math.sin(math.radians(self.friction_angle))
        alpha = math.sqrt(2.0 / 3.0) * 2.0 * sin / (3.0 - sin)
        return self.mu, self.lam, alpha, 0.0, 0.0


@dataclass(frozen=True)
class Liquid(MPMMaterial):
    """A weakly compressible liquid: pressure from the volume change, ``p = -K (J - 1)`` with the bulk
    modulus ``K = E / (3 (1 - 2 nu))``, plus Newtonian viscous stress.

    E, nu: set the bulk modulus (the liquid has no shear modulus). Water's real K (2.2 GPa) needs tiny
    steps; the default (K ~ 5.6e5 Pa, sound speed ~ 24 m/s) keeps density within about 1 % in a tank
    under 1 m deep. viscosity: dynamic viscosity, Pa s (water 1e-3).
    """

    E: float = 1e6  # noqa: N815
    viscosity: float = 0.0

    kind = LIQUID

    def _validate(self, owner: str) -> None:
        object.__setattr__(self, "viscosity", v.finite_scalar(owner, "viscosity", self.viscosity, low=0.0))

    @property
    def bulk_modulus(self) -> float:
        return self.E / (3.0 * (1.0 - 2.0 * self.nu))

    def wave_speed(self) -> float:
        return (self.bulk_modulus / self.rho) ** 0.5

    def solver_params(self) -> tuple[float, ...]:
        return 0.0, self.bulk_modulus, self.viscosity, 0.0, 0.0


@dataclass(frozen=True)
class Snow(MPMMaterial):
    """Snow (Stomakhin et al. 2013): fixed-corotated elasticity whose singular values are clamped to
    ``[1 - critical_compression, 1 + critical_stretch]``; compaction hardens it by ``exp(hardening (1 - Jp))``.
    """

    E: float = 1.4e5  # noqa: N815
    nu: float = 0.2
    rho: float = 400.0
    critical_compression: float = 2.5e-2
    critical_stretch: float = 4.5e-3
    hardening: float = 10.0

    kind = SNOW

    def _validate(self, owner: str) -> None:
        for name in ("critical_compression", "critical_stretch"):
            object.__setattr__(self, name, v.finite_scalar(owner, name, getattr(self, name), low=0.0,
                                                           low_open=True, high=0.9))
        object.__setattr__(self, "hardening", v.finite_scalar(owner, "hardening", self.hardening, low=0.0,
                                                              high=50.0))

    def solver_params(self) -> tuple[float, ...]:
        return self.mu, self.lam, self.critical_compression, self.critical_stretch, self.hardening
