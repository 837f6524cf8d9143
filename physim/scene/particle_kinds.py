"""The particle solvers a scene knows, each described once: which materials it owns, where its options
live, how a morph becomes its particles, and how to make the solver.

``Scene`` treats every kind alike through this table (add, build, step, reset, state, render), so a new
particle solver is one entry here plus its own modules; nothing in the scene special-cases MPM, SPH or PBD.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from physim.options import MPMOptions, PBDOptions, SPHOptions
from physim.scene import morphs as mor
from physim.scene.entity import MPMEntity, ParticleEntity
from physim.scene.mpm_materials import MPMMaterial
from physim.scene.pbd_entity import PBDEntity
from physim.scene.pbd_materials import PBDMaterial
from physim.scene.sph_entity import SPHEntity
from physim.scene.sph_materials import SPHMaterial


@dataclass(frozen=True)
class ParticleSample:
    """The particles a morph becomes: world positions (n, 3), m; the volume (m^3) and mass (kg) of each;
    the radius a camera draws each with, m; triangle faces (F, 3) when the body is a surface (cloth); which
    particles take part from the start, (n,) bool (None: all; an SPH emitter's reserve waits inactive)."""

    positions: np.ndarray
    particle_volume: float
    particle_mass: float
    render_radius: float
    faces: np.ndarray | None = None
    active: np.ndarray | None = None


@dataclass(frozen=True)
class ParticleKind:
    """One particle solver as the scene sees it.

    label: its name in messages and in ``scene.get_state()`` ("MPM", "SPH", "PBD").
    material_type: entities whose material is an instance of it belong to this solver.
    options_attr / options_type: the Scene keyword (and attribute) holding its options, and their class.
    sample: ``(morph, material, options, entity_name) -> ParticleSample``.
    make_solver: ``(sim_options, options) -> solver`` (see physim.solvers.particles.ParticleSolver).
    entity_type: the handle class users get (ParticleEntity or a subclass with the kind's extras).
    couple_rigid: ``(rigid_solver, solver) -> None``, called once at build when the scene also holds rigid
        bodies: wires the two-way coupling (the solver then exchanges momentum with rigid bodies as it steps).
        None: this kind ignores rigid bodies.
    displaced_by_rigid: a body of this kind sampled where a rigid body stands leaves those particles out at
        build (those nearer a rigid surface than half a particle_size, or inside), as a liquid poured around
        the body would lie. Without it, a box placed in the water it floats on started with the water inside
        it, which burst out and threw the box to the ceiling (measured, SPH).
    divergence_advice: what to tell a user whose particles went non-finite.
    """

    label: str
    material_type: type
    options_attr: str
    options_type: type
    sample: Callable[[mor.Morph, Any, Any, str], ParticleSample]
    make_solver: Callable[[Any, Any], Any]
    divergence_advice: str
    entity_type: type[ParticleEntity] = ParticleEntity
    couple_rigid: Callable[[Any, Any], None] | None = None
    displaced_by_rigid: bool = False


def _sample_mpm(morph: mor.Morph, material: MPMMaterial, options: MPMOptions, name: str) -> ParticleSample:
    from physim.solvers.mpm import sample_morph

    size = options.particle_size
    return ParticleSample(positions=sample_morph(morph, size, name), particle_volume=size**3,
                          particle_mass=material.rho * size**3, render_radius=0.5 * size)


def _sample_sph(morph: mor.Morph, material: Any, options: Any, name: str) -> ParticleSample:
    from physim.scene.sph_entity import Nozzle
    from physim.solvers.mpm import sample_morph

    size = options.particle_size
    active = None
    if isinstance(morph, Nozzle):  # an emitter: its reserve waits inactive at the nozzle
        positions = np.tile(np.asarray(morph.pos, np.float64), (morph.max_particles, 1))
        active = np.zeros(morph.max_particles, bool)
    else:
        positions = sample_morph(morph, size, name, "an SPH material")
    return ParticleSample(positions=positions, particle_volume=size**3, particle_mass=material.rho * size**3,
                          render_radius=0.5 * size, active=active)


def _make_sph(sim_options: Any, options: Any) -> Any:
    from physim.solvers.sph import SPHSolver

    return SPHSolver(sim_options, options)


def _couple_sph(rigid_solver: Any, sph_solver: Any) -> None:
    sph_solver.attach_rigid(rigid_solver)


def _make_mpm(sim_options: Any, options: MPMOptions) -> Any:
    from physim.solvers.mpm import MPMSolver

    return MPMSolver(sim_options, options)


def _couple_mpm(rigid_solver: Any, mpm_solver: Any) -> None:
    from physim.solvers.coupling import RigidMPMCoupling

    RigidMPMCoupling(rigid_solver, mpm_solver)


def _sample_pbd(morph: mor.Morph, material: PBDMaterial, options: PBDOptions, name: str) -> ParticleSample:
    from physim.solvers.pbd.sampling import sample_body

    return sample_body(morph, material, options, name)


def _make_pbd(sim_options: Any, options: PBDOptions) -> Any:
    from physim.solvers.pbd import PBDSolver

    return PBDSolver(sim_options, options)


def _couple_pbd(rigid_solver: Any, pbd_solver: Any) -> None:
    pbd_solver.bind_rigid(rigid_solver)


PARTICLE_KINDS: tuple[ParticleKind, ...] = (
    ParticleKind(label="MPM", material_type=MPMMaterial, options_attr="mpm_options", options_type=MPMOptions,
                 sample=_sample_mpm, make_solver=_make_mpm,
                 divergence_advice="particle position, velocity or deformation; reduce dt, raise substeps (or set "
                                   "MPMOptions(auto_substeps=True)), or soften the material",
                 entity_type=MPMEntity, couple_rigid=_couple_mpm),
    ParticleKind(label="PBD", material_type=PBDMaterial, options_attr="pbd_options", options_type=PBDOptions,
                 sample=_sample_pbd, make_solver=_make_pbd,
                 divergence_advice="particle position or velocity; raise PBDOptions.substeps, raise compliances "
                                   "(softer constraints), or check initial overlaps with rigid bodies",
                 entity_type=PBDEntity, couple_rigid=_couple_pbd),
    ParticleKind(label="SPH", material_type=SPHMaterial, options_attr="sph_options", options_type=SPHOptions,
                 sample=_sample_sph, make_solver=_make_sph,
                 divergence_advice="particle position or velocity; raise substeps (or set "
                                   "SPHOptions(auto_substeps=True)), or check the rigid bodies touching the liquid",
                 entity_type=SPHEntity, couple_rigid=_couple_sph, displaced_by_rigid=True),
)


def kind_of(material: Any) -> ParticleKind | None:
    """The particle kind owning ``material``, or None when it is not a particle material."""
    return next((kind for kind in PARTICLE_KINDS if isinstance(material, kind.material_type)), None)
