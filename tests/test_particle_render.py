"""Particles in the camera pipeline: spheres at particle positions, surfaces over particles, ids per entity."""

import numpy as np
import pytest
import trimesh

import physim as ps
from physim.options import VisOptions
from physim.render.camera import Camera
from physim.render.rasterizer import Rasterizer
from physim.scene.render_view import ParticleItem, RenderItem, RenderView
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


# --- sphere impostors: one particle, exactly ---------------------------------------------------------------

def _particle_camera(particle_items: list[ParticleItem], positions: list[np.ndarray], items=(), poses=None,
                     vis_options: VisOptions | None = None, **camera_args) -> Camera:
    """A camera over a RenderView of fixed particles (and meshes ``items`` at ``poses``)."""
    poses = np.zeros((0, 4, 4)) if poses is None else poses
    view = RenderView(list(items), lambda env: poses, 8, particle_items, lambda env: positions)
    camera = Camera(**{**TOP_DOWN, **camera_args})
    camera._attach(view, Rasterizer(view, vis_options or VisOptions(shadow=False)))
    return camera


def _pixel_rays(camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """World origin and unit directions (H, W, 3) of the rays through every pixel centre."""
    width, height = camera.res
    columns, rows = np.meshgrid(np.arange(width), np.arange(height))
    pixels = np.stack([columns, rows, np.ones_like(columns)], axis=-1).astype(np.float64)
    directions = pixels @ np.linalg.inv(camera.K).T @ camera.extrinsics[:3, :3].T
    return camera.extrinsics[:3, 3], directions / np.linalg.norm(directions, axis=-1, keepdims=True)


def _sphere_hit_mask(camera: Camera, centre: np.ndarray, radius: float) -> np.ndarray:
    """Pixels whose centre ray meets the sphere: the exact silhouette an impostor must fill."""
    origin, directions = _pixel_rays(camera)
    offset = origin - centre
    b = directions @ offset
    return b**2 - (offset @ offset - radius**2) >= 0


ONE_PARTICLE_RADIUS, ONE_PARTICLE_DISTANCE = 0.1, 2.0


@pytest.fixture(scope="module")
def one_particle():
    item = ParticleItem(entity_index=0, name="drop", surface=Surface(color=(0.9, 0.2, 0.1)), n_particles=1,
                        radius=ONE_PARTICLE_RADIUS)
    positions = [np.zeros((1, 3))]
    camera = _particle_camera([item], positions, res=(128, 128))
    return camera, positions


def test_a_particle_is_a_sphere_of_its_radius_at_its_depth(one_particle):
    camera, positions = one_particle
    positions[0] = np.zeros((1, 3))
    _, depth, seg, normal = camera.render(rgb=False, depth=True, segmentation=True, normal=True)
    mask = seg == 0
    focal = camera.K[0, 0]
    # Seen head-on, the silhouette's diameter is 2 f r / sqrt(d^2 - r^2) = 2 f r / d (1 + 1e-3) pixels; the
    # pixel count across it can differ from it by up to one pixel (where pixel centres fall).
    diameter = 2 * ONE_PARTICLE_RADIUS * focal / ONE_PARTICLE_DISTANCE
    assert mask.any(axis=0).sum() == pytest.approx(diameter, abs=1.0)
    assert mask.any(axis=1).sum() == pytest.approx(diameter, abs=1.0)
    assert mask.sum() == pytest.approx(np.pi * diameter**2 / 4, rel=0.05)  # a disc, not the sprite's square
    # Depth at the centre is that of the front of the sphere, d - r (the pixel centres nearest the axis are
    # 0.5 px = 4 mm off it, where the surface is 0.1 mm farther: the 0.5 mm tolerance covers it).
    centre = slice(63, 65)
    assert depth[centre, centre] == pytest.approx(ONE_PARTICLE_DISTANCE - ONE_PARTICLE_RADIUS, abs=5e-4)
    # Normals: towards the camera (+z) at the centre (tilted 4 mm / r = 0.04 at the pixel centres 0.5 px off
    # the axis); sideways at the rim. The outermost pixel centre lies within a pixel (8 mm here) of the
    # silhouette, where the normal's z is at most sqrt(1 - 0.92^2) = 0.4.
    assert normal[centre, centre].reshape(-1, 3) == pytest.approx(np.array([[0.0, 0.0, 1.0]] * 4), abs=0.05)
    row = normal[64]
    covered = np.flatnonzero(mask[64])
    assert row[covered[0], 0] < -0.9 and row[covered[-1], 0] > 0.9  # image right is world +x
    assert np.abs(row[covered[[0, -1]], 2]).max() < 0.45
    assert np.linalg.norm(normal[mask], axis=1) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("centre", [(0.38, 0.3, 0.0), (-0.15, -0.25, 0.6), (0.58, 0.0, 0.0)],
                         ids=["off_axis", "near_and_off_axis", "centre_outside_the_image"])
def test_an_off_axis_particle_covers_exactly_its_projected_ellipse(one_particle, centre):
    # Off the optical axis a sphere projects to an ellipse, wider than 2 f r / d and not centred on the
    # projected centre: the sprite must still cover all of it, also when the centre is outside the image
    # (GL drops points whose centre is outside: the sprite is moved inside). Pixels disagree only where a pixel centre
    # lies on the silhouette within float32 rounding (none or a few).
    camera, positions = one_particle
    positions[0] = np.array([centre])
    _, depth, seg, _ = camera.render(rgb=False, depth=True, segmentation=True)
    expected = _sphere_hit_mask(camera, np.array(centre), ONE_PARTICLE_RADIUS)
    assert expected.sum() > 100
    assert np.sum((seg == 0) != expected) <= 2
    # Depth along the optical axis (world -z here) of the first hit of each ray.
    origin, directions = _pixel_rays(camera)
    offset = origin - np.array(centre)
    b = directions @ offset
    distance = -b - np.sqrt(np.maximum(b**2 - (offset @ offset - ONE_PARTICLE_RADIUS**2), 0.0))
    z_depth = distance * -directions[..., 2]
    both = expected & (seg == 0)
    assert np.abs(depth[both] - z_depth[both]).max() < 1e-3


def test_an_impostor_hides_a_mesh_behind_it_and_a_mesh_in_front_hides_it():
    # A 0.3 m plate at height 0 seen from 2 m above; a particle of radius 0.1 either above it (z = 0.2)
    # or below it (z = -0.2). Depth-tested per pixel against the sphere's own depth.
    plate = RenderItem(entity_index=5, name="plate", mesh=trimesh.creation.box(extents=(0.3, 0.3, 0.02)),
                       surface=Surface(color=(0.2, 0.2, 0.9)))
    item = ParticleItem(entity_index=2, name="drop", surface=Surface(color=(0.9, 0.2, 0.1)), n_particles=1,
                        radius=0.1)
    positions = [np.array([[0.0, 0.0, 0.2]])]
    camera = _particle_camera([item], positions, items=[plate], poses=np.eye(4)[None], res=(96, 96))
    rgb, depth, seg, _ = camera.render(rgb=True, depth=True, segmentation=True)
    sphere = seg == 2
    assert sphere[48, 48] and (seg == 5).any()  # the plate shows around the sphere
    assert depth[sphere].min() == pytest.approx(2.0 - 0.3, abs=1e-3)  # the sphere's top, in front of the plate
    assert np.all(rgb[sphere][:, 0] > rgb[sphere][:, 2])  # and its colour is the sphere's
    positions[0] = np.array([[0.0, 0.0, -0.2]])  # below the plate, which is wider than it: hidden
    rgb, depth, seg, _ = camera.render(rgb=True, depth=True, segmentation=True)
    assert not (seg == 2).any()
    assert depth[48, 48] == pytest.approx(2.0 - 0.01, abs=1e-3)
    positions[0] = np.array([[0.0, 0.0, 0.0]])  # through the plate: the top cap shows, cut at the plate
    _, depth, seg, _ = camera.render(rgb=False, depth=True, segmentation=True)
    cap = seg == 2
    # The cap is where the sphere is above the plate's top face (z = 0.01): radius sqrt(r^2 - 0.01^2).
    assert depth[cap].max() <= 2.0 - 0.01 + 1e-3
    assert cap.any(axis=0).sum() == pytest.approx(2 * 0.1 * camera.K[0, 0] / 2.0, abs=1.5)


def test_two_particle_entities_have_their_own_segmentation_ids():
    left = ParticleItem(entity_index=3, name="left", surface=Surface(), n_particles=2, radius=0.04)
    right = ParticleItem(entity_index=7, name="right", surface=Surface(), n_particles=3, radius=0.04)
    positions = [np.array([[-0.3, -0.1, 0.0], [-0.3, 0.1, 0.0]]),
                 np.array([[0.3, -0.15, 0.0], [0.3, 0.0, 0.0], [0.3, 0.15, 0.0]])]
    camera = _particle_camera([left, right], positions)
    _, _, seg, _ = camera.render(rgb=False, segmentation=True)
    assert set(np.unique(seg)) == {-1, 3, 7}
    columns = np.arange(seg.shape[1])[None, :].repeat(seg.shape[0], axis=0)
    assert columns[seg == 3].max() < 32 <= columns[seg == 7].min()  # left of centre, right of centre
    rows_7 = (seg == 7).any(axis=1)
    assert int(np.sum(rows_7[1:] & ~rows_7[:-1]) + rows_7[0]) == 3  # three separate spheres


def test_a_particle_casts_a_shadow_on_a_floor():
    # Light straight down; a 10 cm particle 0.3 m above a floor: the floor under it is darker than beside it.
    floor = RenderItem(entity_index=1, name="floor", mesh=trimesh.creation.box(extents=(2.0, 2.0, 0.02)),
                       surface=Surface(color=(0.8, 0.8, 0.8)))
    item = ParticleItem(entity_index=2, name="drop", surface=Surface(color=(0.8, 0.8, 0.8)), n_particles=1,
                        radius=0.1)
    from physim.options import Light

    vis = VisOptions(shadow=True, lights=(Light(kind="directional", pos=(0.0, 0.0, 3.0), lookat=(0.0, 0.0, 0.0),
                                                intensity=3.0),))
    poses = np.eye(4)[None].copy()
    poses[0, 2, 3] = -0.01  # the floor's top at z = 0
    # Seen from the side, so the shadow under the particle is not hidden behind it.
    camera = _particle_camera([item], [np.array([[0.0, 0.0, 0.3]])], items=[floor], poses=poses,
                              vis_options=vis, res=(96, 96), pos=(0.0, -1.5, 1.2), lookat=(0.0, 0.0, 0.0),
                              up=(0.0, 0.0, 1.0))
    rgb, _, seg, _ = camera.render(rgb=True, segmentation=True)
    under = _project(camera, np.array([0.0, 0.0, 0.0])).round().astype(int)
    beside = _project(camera, np.array([0.4, 0.0, 0.0])).round().astype(int)
    assert seg[under[1], under[0]] == 1 and seg[beside[1], beside[0]] == 1  # both are floor pixels
    shadowed, lit = rgb[under[1], under[0]].astype(int).sum(), rgb[beside[1], beside[0]].astype(int).sum()
    assert shadowed < 0.6 * lit  # only the ambient term remains in the shadow


# --- buried particles are not drawn -------------------------------------------------------------------------

def _jittered_lattice_cube(count_per_side: int, spacing: float, seed: int = 0) -> np.ndarray:
    """A cube of particles on a lattice, jittered a little as a simulated body's are, m."""
    axis = (np.arange(count_per_side) - (count_per_side - 1) / 2) * spacing
    lattice = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    return lattice + np.random.default_rng(seed).normal(0.0, 0.05 * spacing, lattice.shape)


def test_only_a_bodys_outer_shell_of_particles_is_drawn():
    from physim.render.particles import outer_particles

    spacing = 0.01
    cube = _jittered_lattice_cube(30, spacing)
    shown = outer_particles(cube, 0.5 * spacing)
    # The outer layers are drawn; the core is not: with 1.5-spacing cells and three cells of shell, at least
    # the outer 4 layers remain and at most the outer 9.
    depth_inside = 0.5 * 29 * spacing - np.abs(cube).max(axis=1)
    assert shown[depth_inside < 3.5 * spacing].all()
    assert not shown[depth_inside > 9.5 * spacing].any()
    assert shown.sum() < 0.85 * len(cube)
    # A sparse spray buries nothing.
    spray = np.random.default_rng(1).uniform(-1.0, 1.0, (500, 3))
    assert outer_particles(spray, 0.005).all()


@pytest.mark.parametrize("view", [dict(pos=(0.5, -0.6, 0.45)), dict(pos=(0.0, 0.0, 0.9), up=(0.0, 1.0, 0.0))])
def test_leaving_buried_particles_out_changes_no_picture(monkeypatch, view):
    from physim.render import particles

    spacing = 0.01
    cube = _jittered_lattice_cube(24, spacing)
    item = ParticleItem(entity_index=1, name="cube", surface=Surface(color=(0.9, 0.3, 0.1)), n_particles=len(cube),
                        radius=0.5 * spacing)
    frames = {}
    for culled in (True, False):
        if not culled:
            monkeypatch.setattr(particles, "outer_particles", lambda p, r: np.ones(len(p), dtype=bool))
        camera = _particle_camera([item], [cube], res=(160, 120), lookat=(0.0, 0.0, 0.0), fov=40.0, **view)
        frames[culled] = camera.render(rgb=True, depth=True, segmentation=True)
    (rgb, depth, seg, _), (rgb_all, depth_all, seg_all, _) = frames[True], frames[False]
    body = seg_all == 1
    # A ray that slips between the outer spheres may meet the far side of the shell instead of a core
    # particle. Seen straight along the lattice's rows (the second view) rays thread deepest: allowed on a
    # pixel in 200, a hole to the background on a pixel in a thousand, and the colour the same.
    assert (seg != seg_all).sum() <= 1e-3 * body.sum()
    assert (np.abs(depth - depth_all)[body] > 1e-3).mean() < 0.005
    assert (np.abs(rgb.astype(int) - rgb_all.astype(int)).max(axis=-1)[body] > 8).mean() < 0.005
