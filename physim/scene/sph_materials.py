"""SPH materials (``ps.materials.SPH.*``): liquids simulated by the SPH solver. Parameters only.

Units are SI: density ``rho`` in kg/m^3, dynamic viscosity in Pa s. Each particle
of an entity weighs ``rho * particle_size**3``, so an entity's particles add up to ``rho`` times the volume
they sample (see ``SPHOptions.particle_size``).
"""

from __future__ import annotations

from dataclasses import dataclass

from physim.scene.materials import Material
from physim.utils import validate as v


@dataclass(frozen=True)
class SPHMaterial(Material):
    """Base of every SPH material."""


@dataclass(frozen=True)
class Liquid(SPHMaterial):
    """A nearly incompressible Newtonian liquid (water by default).

    rho: rest density, kg/m^3. The pressure solve holds the liquid at this density (see
        ``SPHOptions.max_density_error``); there is no stiffness to tune.
    viscosity: dynamic viscosity mu, Pa s (water 1e-3); the solver applies the kinematic viscosity
        ``mu / rho`` through the SPH Laplacian of the velocity (Monaghan 2005). At the resolutions SPH
        runs at, water's own viscosity hardly damps anything; a larger value makes a thicker liquid.
    surface_tension: the cohesion coefficient gamma of Akinci et al. 2013's pairwise cohesion force
        (SPlisHSPlasH's ``surfaceTension``), m^3 / (kg s^2): the acceleration of a particle is
        ``-gamma sum_j m_j C(r_ij) x_ij / r_ij``. It is a model coefficient, not water's 0.072 N/m;
        0 (default) turns cohesion off; about 0.1 to 1 holds droplets together.

    Genesis's names are accepted: ``mu`` for viscosity and ``gamma`` for surface_tension; ``stiffness``,
    ``exponent`` (its weakly compressible equation of state) and ``sampler`` are accepted and unused, since
    the DFSPH solve needs no stiffness and particles are always sampled on a lattice.
    """

    rho: float = 1000.0
    viscosity: float = 1e-3
    surface_tension: float = 0.0
    mu: float | None = None
    gamma: float | None = None
    stiffness: float | None = None
    exponent: float | None = None
    sampler: str | None = None

    def __post_init__(self) -> None:
        owner = type(self).__name__
        if self.mu is not None:
            object.__setattr__(self, "viscosity", self.mu)
        if self.gamma is not None:
            object.__setattr__(self, "surface_tension", self.gamma)
        object.__setattr__(self, "rho", v.positive(owner, "rho", self.rho))
        object.__setattr__(self, "viscosity", v.finite_scalar(owner, "viscosity", self.viscosity, low=0.0,
                                                              high=1e4))
        object.__setattr__(self, "surface_tension", v.finite_scalar(owner, "surface_tension", self.surface_tension,
                                                                    low=0.0, high=1e3))

    @property
    def kinematic_viscosity(self) -> float:
        """nu = mu / rho, m^2/s."""
        return self.viscosity / self.rho
