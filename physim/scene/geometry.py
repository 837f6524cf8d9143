"""From morphs to geometry: the collider a solver simulates and the mesh a camera draws, both in the
entity's frame."""

from __future__ import annotations

import numpy as np
import trimesh

from physim.errors import AssetError
from physim.scene import morphs
from physim.scene.decompose import convex_parts
from physim.solvers.rigid import GeomSpec, Shape


def load_mesh(morph: morphs.Mesh) -> trimesh.Trimesh:
    """Read a mesh file, scaled, keeping its texture or vertex colours; errors name the file."""
    try:
        loaded = trimesh.load(morph.file, force="mesh", process=False)
    except Exception as error:  # trimesh raises many types for unreadable files
        raise AssetError(f"Mesh.file: cannot read mesh {morph.file!r}: {error}") from None
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise AssetError(f"Mesh.file: {morph.file!r} holds no triangles")
    if not np.all(np.isfinite(loaded.vertices)):
        raise AssetError(f"Mesh.file: {morph.file!r} has non-finite vertex coordinates")
    loaded.apply_scale(np.asarray(morph.scale))
    return loaded


def rigid_geometry(morph: morphs.Morph) -> tuple[list[GeomSpec], trimesh.Trimesh]:
    """The collision geoms and the visual mesh of a morph, in its own frame (m)."""
    if isinstance(morph, morphs.Plane):
        width, depth = morph.plane_size
        visual = trimesh.Trimesh(
            vertices=[[-width / 2, -depth / 2, 0], [width / 2, -depth / 2, 0], [width / 2, depth / 2, 0],
                      [-width / 2, depth / 2, 0]],
            faces=[[0, 1, 2], [0, 2, 3]], process=False)
        return [GeomSpec(Shape.plane())], visual
    if isinstance(morph, morphs.Box):
        size = np.asarray(morph.size)
        return [GeomSpec(Shape.box(size / 2))], trimesh.creation.box(extents=size)
    if isinstance(morph, morphs.Sphere):
        return [GeomSpec(Shape.sphere(morph.radius))], trimesh.creation.icosphere(subdivisions=3, radius=morph.radius)
    if isinstance(morph, morphs.Capsule):
        visual = trimesh.creation.capsule(height=morph.height, radius=morph.radius, count=[32, 16])
        return [GeomSpec(Shape.capsule(morph.radius, morph.height))], visual
    if isinstance(morph, morphs.Cylinder):
        visual = trimesh.creation.cylinder(radius=morph.radius, height=morph.height, sections=32)
        return [GeomSpec(Shape.cylinder(morph.radius, morph.height))], visual
    if isinstance(morph, morphs.Mesh):
        mesh = load_mesh(morph)
        pieces = convex_parts(mesh, morph.decompose_threshold) if morph.decompose else [np.asarray(mesh.vertices)]
        geoms = []
        for vertices in pieces:
            try:
                shape = Shape.convex(trimesh.Trimesh(vertices=vertices, process=False))
            except Exception as error:  # qhull fails on flat or degenerate point sets
                raise AssetError(f"Mesh.file: {morph.file!r} has no solid convex hull (is it flat?): {error}") from None
            if shape.volume > 0:
                geoms.append(GeomSpec(shape))
        if not geoms:
            raise AssetError(f"Mesh.file: {morph.file!r} encloses no volume")
        return geoms, mesh
    raise AssetError(f"{type(morph).__name__}: not a shape the rigid solver knows")
