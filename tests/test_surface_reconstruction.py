"""Particle bodies drawn as their reconstructed surface (``Surface(vis_mode="recon")``)."""

from pathlib import Path

import numpy as np
import pytest
import trimesh

import physim as ps
from physim.errors import PhysimError
from physim.options import VisOptions
from physim.render.camera import Camera
from physim.render.rasterizer import Rasterizer
from physim.render.surface_reconstruction import reconstruct_surface
from physim.scene.render_view import ParticleItem, RenderView
from physim.scene.surfaces import Surface

SPACING = 0.02
CLOTH = str(Path(__file__).resolve().parents[1] / "assets" / "cloth" / "square_32.obj")


def _lattice_cube(per_side: int, spacing: float, corner=(0.0, 0.0, 0.0)) -> np.ndarray:
    """Particle centres of a cube sampled as the solvers sample bodies: a lattice, ``spacing`` apart."""
    axis = np.arange(per_side) * spacing
    return np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3) + np.asarray(corner)


def test_a_cube_of_particles_becomes_a_closed_surface_where_its_volume_ends():
    # 10^3 particles 2 cm apart stand for a 0.2 m cube reaching half a spacing past the outer centres.
    centres = _lattice_cube(10, SPACING, corner=(0.013, -0.1, 0.3))
    vertices, normals, faces = reconstruct_surface(centres, SPACING)
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    assert mesh.is_watertight
    body = np.array([centres.min(axis=0) - SPACING / 2, centres.max(axis=0) + SPACING / 2])
    assert mesh.bounds == pytest.approx(body, abs=0.1 * SPACING)
    assert mesh.volume == pytest.approx(0.2**3, rel=0.04)  # positive: wound counter-clockwise seen from outside
    outward = np.einsum("ij,ij->i", normals, vertices - centres.mean(axis=0))
    assert np.all(outward > 0)
    assert np.linalg.norm(normals, axis=1) == pytest.approx(1.0, abs=1e-3)
    # A face of the cube is flat: its vertices away from the edges lie within a tenth of a spacing of the plane.
    top = vertices[(np.abs(vertices[:, 0] - 0.103) < 0.06) & (np.abs(vertices[:, 1]) < 0.06) & (vertices[:, 2] > 0.45)]
    assert len(top) > 50
    assert top[:, 2] == pytest.approx(centres[:, 2].max() + SPACING / 2, abs=0.1 * SPACING)


def test_a_lone_particle_is_a_small_ball_and_no_particle_no_surface():
    centre = np.array([0.3, -0.2, 0.1])
    vertices, normals, faces = reconstruct_surface(centre[None], SPACING)
    # The grid is half a spacing fine, so the ball is coarse (an octahedron or so), but round it and small.
    radius = np.linalg.norm(vertices - centre, axis=1)
    assert len(faces) >= 8 and vertices.mean(axis=0) == pytest.approx(centre, abs=0.1 * SPACING)
    assert np.all((0.25 * SPACING < radius) & (radius < 0.45 * SPACING))  # a sphere drawn would be 0.5 spacings
    assert all(len(array) == 0 for array in reconstruct_surface(np.zeros((0, 3)), SPACING))


def test_a_reconstructed_body_is_drawn_as_its_surface_and_follows_its_particles():
    # Seen from 2 m above: the cube's top face is a square of the body's width at the depth of the face.
    item = ParticleItem(entity_index=4, name="water", surface=Surface(color=(0.2, 0.4, 0.9)), n_particles=1000,
                        radius=SPACING / 2, reconstruct=True)
    centres = _lattice_cube(10, SPACING, corner=(-0.09, -0.09, -0.09))  # centred on the origin
    positions = [centres]
    view = RenderView([], lambda env: np.zeros((0, 4, 4)), 8, [item], lambda env: positions)
    camera = Camera(res=(96, 96), pos=(0.0, 0.0, 2.0), lookat=(0.0, 0.0, 0.0), up=(0.0, 1.0, 0.0), fov=20.0)
    camera._attach(view, Rasterizer(view, VisOptions(shadow=False)))
    _, depth, seg, normal = camera.render(rgb=False, depth=True, segmentation=True, normal=True)
    body = seg == 4
    top = 2.0 - 0.1  # the face lies half a spacing above the top particles' centres (z = 0.09)
    width = 2 * 0.1 * camera.K[0, 0] / top  # the square's side in pixels, at the face's depth
    assert body.any(axis=0).sum() == pytest.approx(width, abs=1.5)
    assert body.any(axis=1).sum() == pytest.approx(width, abs=1.5)
    assert body.sum() == pytest.approx(width**2, rel=0.1)  # a square, filled: not a field of spheres
    assert depth[46:50, 46:50] == pytest.approx(top, abs=0.1 * SPACING)
    # Up, to within the lattice's ripple (tilts of up to 3 degrees, measured).
    assert normal[44:52, 44:52].reshape(-1, 3) == pytest.approx(np.array([[0.0, 0.0, 1.0]] * 64), abs=0.05)
    # The next frame draws the surface of the particles where they are now (the surface is rebuilt).
    positions[0] = centres + np.array([0.2, 0.0, 0.0])
    _, seg = camera.render(rgb=False, segmentation=True)[::2]
    columns = np.flatnonzero((seg == 4).any(axis=0))
    shift = 0.2 * camera.K[0, 0] / top
    assert columns.mean() == pytest.approx(np.flatnonzero(body.any(axis=0)).mean() + shift, abs=1.0)


def test_vis_mode_is_checked_where_it_cannot_apply():
    scene = ps.Scene()
    with pytest.raises(PhysimError, match="'crate'.*rigid body"):
        scene.add_entity(ps.morphs.Box(size=(0.1,) * 3), surface=Surface(vis_mode="recon"), name="crate")
    with pytest.raises(PhysimError, match="'sheet'.*cloth"):
        scene.add_entity(ps.morphs.Mesh(file=CLOTH), material=ps.materials.PBD.Cloth(),
                         surface=Surface(vis_mode="recon"), name="sheet")


def test_a_cloth_with_vis_mode_particle_is_drawn_as_its_particles():
    scene = ps.Scene()
    scene.add_entity(ps.morphs.Mesh(file=CLOTH), material=ps.materials.PBD.Cloth(), name="sheet")
    scene.add_entity(ps.morphs.Mesh(file=CLOTH, pos=(0.0, 0.0, 0.5)), material=ps.materials.PBD.Cloth(),
                     surface=Surface(vis_mode="particle"), name="dots")
    items = {item.name: item for item in scene._make_render_view().particle_items}
    assert items["sheet"].faces is not None and items["dots"].faces is None
