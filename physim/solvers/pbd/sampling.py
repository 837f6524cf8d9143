"""Particles of PBD bodies: a cloth is its mesh's vertices (in the file's order) and triangles; granular
and soft bodies are the lattice points inside their morph (``physim.solvers.mpm.sampling``)."""

from __future__ import annotations

import numpy as np

from physim.errors import AssetError, InvalidValueError
from physim.scene import morphs as mor
from physim.utils.rotations import quat_to_matrix


def cloth_mesh(morph: mor.Morph, name: str) -> tuple[np.ndarray, np.ndarray]:
    """World vertex positions (n, 3) and triangles (F, 3) of a cloth morph. The file's vertices are kept as
    they are (no merging, no reordering), so particle i is vertex i of the file."""
    import trimesh

    if not isinstance(morph, mor.Mesh):
        raise InvalidValueError(f"Scene.add_entity.morph: entity {name!r}: a PBD.Cloth needs a surface mesh "
                                f"(ps.morphs.Mesh), got {type(morph).__name__}")
    try:
        mesh = trimesh.load(morph.file, force="mesh", process=False)
    except Exception as error:  # noqa: BLE001 - any loader failure is a bad asset
        raise AssetError(f"Mesh.file: entity {name!r}: cannot read {morph.file!r} as a cloth mesh ({error})") from None
    faces = np.asarray(getattr(mesh, "faces", np.zeros((0, 3))), np.int64).reshape(-1, 3)
    if len(faces) == 0:
        raise InvalidValueError(f"Mesh.file: entity {name!r}: a PBD.Cloth needs a triangle mesh, {morph.file!r} "
                                f"has no triangles")
    vertices = np.asarray(mesh.vertices, np.float64) * np.asarray(morph.scale)
    rotation = quat_to_matrix(np.asarray(morph.quat, np.float64))
    return vertices @ rotation.T + np.asarray(morph.pos), faces


def surface_area(positions: np.ndarray, faces: np.ndarray) -> float:
    a, b, c = (positions[faces[:, k]] for k in range(3))
    return float(0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1).sum())


def sample_body(morph: mor.Morph, material, options, name: str):
    """The ParticleSample of a PBD entity: a cloth's vertices and faces (each vertex drawn as the mean vertex
    mass; the solver lumps the real per-vertex masses), or lattice points of ``options.particle_size``."""
    from physim.scene import pbd_materials as pm
    from physim.scene.particle_kinds import ParticleSample
    from physim.solvers.mpm.sampling import sample_morph

    size = options.particle_size
    if material.kind == pm.CLOTH:
        positions, faces = cloth_mesh(morph, name)
        area = surface_area(positions, faces)
        return ParticleSample(positions=positions, particle_volume=area * size / len(positions),
                              particle_mass=material.rho * area / len(positions), render_radius=0.5 * size,
                              faces=faces)
    label = f"a PBD.{type(material).__name__} material"
    return ParticleSample(positions=sample_morph(morph, size, name, label), particle_volume=size**3,
                          particle_mass=material.rho * size**3, render_radius=0.5 * size)
