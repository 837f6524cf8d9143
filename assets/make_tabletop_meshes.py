"""Regenerate the tabletop object meshes in assets/tabletop/ (committed; run this only to change them).

    python assets/make_tabletop_meshes.py

Six household-sized objects made with trimesh, each centred on its bounding box (so an object's frame
origin is the middle of its 3D box) and with z up. Sizes in metres.

Each mesh carries UV coordinates, so that ``ps.surfaces.Default(texture=...)`` can paint it. The texture's
side is one "wrap length" S = 2 pi r (r: the object's largest distance from its z axis), the same in u and v
so texels stay square: faces that look up or down (|n_z| > 0.7) get a top view, u, v = (x, y) / S + 1/2;
round sides a cylindrical wrap, u = azimuth / 2 pi (once around), v = z / S; flat sides (carton, wedge) a
box projection along their dominant axis. Vertices are split where the shading has a sharp edge (trimesh's
smooth_shaded) and where the wrap's seam cuts a face, nowhere else, so the files stay small.
"""

from pathlib import Path

import numpy as np
import trimesh
from trimesh.exchange.obj import export_obj

HERE = Path(__file__).resolve().parent / "tabletop"


def can() -> trimesh.Trimesh:
    """A drink can: 66 mm across, 120 mm tall."""
    return trimesh.creation.cylinder(radius=0.033, height=0.12, sections=24)


def carton() -> trimesh.Trimesh:
    """A juice carton: 70 x 50 x 140 mm."""
    return trimesh.creation.box(extents=(0.07, 0.05, 0.14))


def bottle() -> trimesh.Trimesh:
    """A bottle, 200 mm tall: a 70 mm body narrowing to a 24 mm neck (a surface of revolution)."""
    profile = np.array([[0.0, 0.0], [0.035, 0.0], [0.035, 0.12], [0.02, 0.15], [0.012, 0.17], [0.012, 0.2],
                        [0.0, 0.2]])
    return trimesh.creation.revolve(profile, sections=20)


def cone() -> trimesh.Trimesh:
    """A traffic-cone-like toy: 80 mm base, 90 mm tall."""
    return trimesh.creation.cone(radius=0.04, height=0.09, sections=24)


def ball() -> trimesh.Trimesh:
    """A ball of 80 mm diameter."""
    return trimesh.creation.icosphere(subdivisions=2, radius=0.04)


def wedge() -> trimesh.Trimesh:
    """A door-stop wedge: a right-triangle prism, 100 mm long, 40 mm wide, 35 mm tall."""
    triangle = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.035]])
    prism = trimesh.creation.extrude_polygon(trimesh.path.polygons.Polygon(triangle), height=0.04)
    prism.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, (1, 0, 0)))  # triangle upright
    return prism


# Which side projection each object gets: a cylindrical wrap for round sides, a box projection for flat ones.
ROUND = {"can": True, "carton": False, "bottle": True, "cone": True, "ball": True, "wedge": False}
MAKERS = {"can": can, "carton": carton, "bottle": bottle, "cone": cone, "ball": ball, "wedge": wedge}


def centred(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    mesh.apply_translation(-mesh.bounds.mean(axis=0))
    return mesh


def with_uvs(mesh: trimesh.Trimesh, round_sides: bool) -> trimesh.Trimesh:
    """``mesh`` with per-vertex UVs (see the module docstring), vertices split at sharp edges and UV seams."""
    shaded = mesh.smooth_shaded  # same faces, in the same order, vertices split at sharp edges
    corners = shaded.vertices[shaded.faces]  # (F, 3 corners, 3)
    normals = shaded.face_normals
    wrap = 2.0 * np.pi * np.linalg.norm(mesh.vertices[:, :2], axis=1).max()
    uv = np.empty(corners.shape[:2] + (2,))
    top = np.abs(normals[:, 2]) > 0.7
    uv[top] = corners[top][..., :2] / wrap + 0.5
    side = ~top
    if round_sides:
        centroid = corners[side].mean(axis=1)
        # each face's corners take the azimuth branch of the face's centroid, so no face spans the seam
        reference = np.arctan2(centroid[:, 1], centroid[:, 0])[:, None]
        azimuth = np.arctan2(corners[side][..., 1], corners[side][..., 0])
        azimuth = reference + np.angle(np.exp(1j * (azimuth - reference)))
        # a corner on the axis (a cone's tip, a ball's pole) has no azimuth of its own: it takes its face's
        on_axis = np.linalg.norm(corners[side][..., :2], axis=-1) < 1e-9
        azimuth = np.where(on_axis, reference, azimuth)
        uv[side] = np.stack([np.mod(reference, 2 * np.pi) + (azimuth - reference), corners[side][..., 2]],
                            axis=-1) / np.array([2 * np.pi, wrap])
    else:
        axis = np.argmax(np.abs(normals[side][:, :2]), axis=1)  # 0: faces +-x, 1: faces +-y
        across = np.where(axis == 0, corners[side][..., 1].T, corners[side][..., 0].T).T
        uv[side] = np.stack([across, corners[side][..., 2]], axis=-1) / wrap + 0.5
    # One output vertex per (shaded vertex, uv) pair.
    keys = np.concatenate([shaded.faces.reshape(-1, 1).astype(np.float64), np.round(uv.reshape(-1, 2), 6)], axis=1)
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    vertices = shaded.vertices[unique[:, 0].astype(np.int64)]
    return trimesh.Trimesh(vertices=vertices, faces=inverse.reshape(-1, 3), process=False,
                           visual=trimesh.visual.TextureVisuals(uv=unique[:, 1:]))


def obj_text(mesh: trimesh.Trimesh) -> str:
    """The OBJ text of a UV-mapped mesh: positions, UVs and faces, no material file (surfaces give the looks)."""
    text, _ = export_obj(mesh, include_normals=False, include_texture=True, return_texture=True, digits=5)
    return "\n".join(line for line in text.splitlines() if not line.startswith(("mtllib", "usemtl"))) + "\n"


if __name__ == "__main__":
    HERE.mkdir(exist_ok=True)
    for name, make in MAKERS.items():
        mesh = centred(make())
        assert mesh.is_watertight, name
        (HERE / f"{name}.obj").write_text(obj_text(with_uvs(mesh, ROUND[name])))
    print("wrote", sorted(p.name for p in HERE.iterdir()))
