"""Particles in the camera pipeline: spheres at particle positions, surfaces over particles, ids per entity."""

import numpy as np
import pytest

import physim as ps
from physim.options import VisOptions
from physim.render.camera import Camera
from physim.render.rasterizer import Rasterizer
from physim.scene.render_view import ParticleItem, RenderView
from physim.scene.surfaces import Surface

TOP_DOWN = dict(res=(64, 64), pos=(0.0, 0.0, 2.0), lookat=(0.0, 0.0, 0.0), up=(0.0, 1.0, 0.0), fov=30.0)


def _project(camera: Camera, point: np.ndarray) -> np.ndarray:
    """Pixel (column, row) of a world point, through the camera's OpenCV intrinsics and extrinsics."""
    world_to_camera = np.linalg.inv(camera.extrinsics)
    x = world_to_camera[:3, :3] @ point + world_to_camera[:3, 3]
    return (camera.K @ (x / x[2]))[:2]


@pytest.fixture(scope="module")
def falling_cube():
    scene = ps.Scene(sim_options=ps.options.SimOptions(dt=2e-3, substeps=4),
                     mpm_options=ps.options.MPMOptions(lower_bound=(-0.25, -0.25, 0.0), upper_bound=(0.25, 0.25, 0.5),
                                                       grid_density=32))
    cube = scene.add_entity(ps.morphs.Box(size=(0.1,) * 3, pos=(0.05, 0.0, 0.3)), material=ps.materials.MPM.Elastic(),
                            surface=ps.surfaces.Default(color=(0.9, 0.2, 0.1)))
    camera = scene.add_camera(res=(96, 96), pos=(0.0, -1.2, 0.25), lookat=(0.0, 0.0, 0.25), fov=30)
    scene.build()
    return scene, cube, camera


def test_an_mpm_entity_is_drawn_where_its_particles_are_with_its_id(falling_cube):
    scene, cube, camera = falling_cube
    scene.reset()
    rgb, depth, seg, normal = camera.render(rgb=True, depth=True, segmentation=True, normal=True)
    mask = seg == cube.idx
    assert mask.sum() > 100  # a 10 cm cube 1.2 m away fills ~20 x 20 pixels
    # Its silhouette spans the projected extent of the particle cloud (plus the drawn radius).
    x = cube.get_particles_pos()
    left, right = _project(camera, x.min(axis=0))[0], _project(camera, x.max(axis=0))[0]
    columns = np.flatnonzero(mask.any(axis=0))
    assert abs(columns.min() - left) <= 2 and abs(columns.max() - right) <= 2
    # The near face is 1.2 - 0.05 m away; depth reads the front of the particles' spheres.
    assert np.median(depth[mask]) == pytest.approx(1.15, abs=0.02)
    assert np.all(rgb[mask][:, 0] > rgb[mask][:, 2])  # red surface
    assert np.linalg.norm(normal[mask], axis=1) == pytest.approx(1.0, abs=1e-3)


def test_the_picture_follows_the_particles_as_they_fall(falling_cube):
    scene, cube, camera = falling_cube
    scene.reset()
    _, _, before, _ = camera.render(rgb=False, segmentation=True)
    for _ in range(50):  # 0.1 s: the cube falls ~5 cm
        scene.step()
    _, _, after, _ = camera.render(rgb=False, segmentation=True)
    row_before = np.flatnonzero((before == cube.idx).any(axis=1)).mean()
    row_after = np.flatnonzero((after == cube.idx).any(axis=1)).mean()
    fall = 0.3 - cube.get_particles_pos()[:, 2].mean()
    pixels_per_metre = camera.K[1, 1] / 1.2
    assert row_after - row_before == pytest.approx(fall * pixels_per_metre, abs=1.5)


def test_a_surface_over_particles_deforms_with_them():
    # A unit square of two triangles, 0.8 m wide, seen from above at 2 m: then tilted by moving one corner.
    square = np.array([[-0.4, -0.4, 0.0], [0.4, -0.4, 0.0], [0.4, 0.4, 0.0], [-0.4, 0.4, 0.0]])
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    positions = [square.copy()]
    item = ParticleItem(entity_index=3, name="sheet", surface=Surface(), n_particles=4, radius=0.01, faces=faces)
    view = RenderView([], lambda env: np.zeros((0, 4, 4)), 4, [item], lambda env: [positions[0]])
    camera = Camera(**TOP_DOWN)
    camera._attach(view, Rasterizer(view, VisOptions(shadow=False)))
    _, depth, seg, normal = camera.render(rgb=False, depth=True, segmentation=True, normal=True)
    covered = seg == 3
    side = 0.8 / (2 * 2.0 * np.tan(np.radians(15))) * 64  # pixels across the square
    assert covered.sum() == pytest.approx(side**2, rel=0.08)
    assert np.allclose(depth[covered], 2.0, atol=1e-3)
    assert np.allclose(np.abs(normal[covered][:, 2]), 1.0, atol=1e-4)  # both sides drawn: +z faces the camera
    assert np.all(normal[covered][:, 2] > 0)
    positions[0] = square * np.array([0.5, 1.0, 1.0])  # squeeze it to half its width
    _, _, seg, _ = camera.render(rgb=False, segmentation=True)
    assert (seg == 3).sum() == pytest.approx(side**2 / 2, rel=0.1)


def test_only_the_positions_given_are_drawn_as_spheres():
    # Four spheres of 5 cm radius in a row, seen from above; an emitter-like view hands out the first k.
    row = np.array([[-0.3, 0.0, 0.0], [-0.1, 0.0, 0.0], [0.1, 0.0, 0.0], [0.3, 0.0, 0.0]])
    shown = [4]
    item = ParticleItem(entity_index=1, name="drops", surface=Surface(), n_particles=4, radius=0.05)
    view = RenderView([], lambda env: np.zeros((0, 4, 4)), 2, [item], lambda env: [row[: shown[0]]])
    camera = Camera(**TOP_DOWN)
    camera._attach(view, Rasterizer(view, VisOptions(shadow=False)))

    def blobs() -> int:
        _, _, seg, _ = camera.render(rgb=False, segmentation=True)
        columns = (seg == 1).any(axis=0)
        return int(np.sum(columns[1:] & ~columns[:-1]) + columns[0])  # runs of covered columns

    assert blobs() == 4
    shown[0] = 2
    assert blobs() == 2
    shown[0] = 3
    assert blobs() == 3
