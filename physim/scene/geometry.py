"""From morphs to geometry: the collider a solver simulates and the mesh a camera draws, both in the
entity's frame."""

from __future__ import annotations

import numpy as np
import trimesh
from trimesh.visual import TextureVisuals

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


def uv_box(size: np.ndarray) -> trimesh.Trimesh:
    """A box of extents ``size`` (m) centred on the origin, each face with its own 4 vertices and UVs.

    UVs are in metres (a texture repeats every metre, like the plane's): each face's (u, v) are its two
    in-plane coordinates, ordered so that the texture is seen unmirrored from outside.
    """
    half = np.asarray(size, dtype=np.float64) / 2
    square = np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])  # counter-clockwise in (b, c)
    vertices, uv, faces = [], [], []
    for axis in range(3):
        b, c = (axis + 1) % 3, (axis + 2) % 3  # e_b x e_c = e_axis
        for sign in (1.0, -1.0):
            corners = np.zeros((4, 3))
            corners[:, axis] = sign * half[axis]
            # seen from outside the -axis face, b runs the other way: flip it to keep the winding outward
            corners[:, b] = sign * square[:, 0] * half[b]
            corners[:, c] = square[:, 1] * half[c]
            start = len(vertices) * 4
            faces += [[start, start + 1, start + 2], [start, start + 2, start + 3]]
            vertices.append(corners)
            uv.append(np.stack([sign * corners[:, b], corners[:, c]], axis=1))
    return trimesh.Trimesh(vertices=np.concatenate(vertices), faces=faces, process=False,
                           visual=TextureVisuals(uv=np.concatenate(uv)))


def rigid_geometry(morph: morphs.Morph) -> tuple[list[GeomSpec], trimesh.Trimesh]:
    """The collision geoms and the visual mesh of a morph, in its own frame (m)."""
    if isinstance(morph, morphs.Plane):
        width, depth = morph.plane_size
        vertices = np.array([[-width / 2, -depth / 2, 0], [width / 2, -depth / 2, 0], [width / 2, depth / 2, 0],
                             [-width / 2, depth / 2, 0]])
        visual = trimesh.Trimesh(vertices=vertices, faces=[[0, 1, 2], [0, 2, 3]], process=False,
                                 visual=TextureVisuals(uv=vertices[:, :2]))
        return [GeomSpec(Shape.plane())], visual
    if isinstance(morph, morphs.Box):
        size = np.asarray(morph.size)
        return [GeomSpec(Shape.box(size / 2))], uv_box(size)
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
