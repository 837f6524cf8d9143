"""The offscreen renderer checked against geometry: depth, segmentation, normals, colour, projection, video.

The scene is built by hand (trimesh meshes + a poses() function), so no solver or Taichi is involved.
Camera: at (3, 0, 0.5) looking along -x at (0, 0, 0.5), vertical fov 30 degrees, 320x240 pixels, so
the focal length is f = 120 / tan(15 deg) = 447.85 px and a point (x, y, z) in front of it lands at
u = 159.5 + f * y / (3 - x), v = 119.5 - f * (z - 0.5) / (3 - x) (OpenCV pixel centres).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
import trimesh

from physim.errors import InvalidValueError, PhysimError, RenderError, SceneStateError
from physim.options import Light, VisOptions
from physim.render import (
    Camera,
    Rasterizer,
    depth_to_rgb,
    describe,
    normal_to_rgb,
    save_png,
    segmentation_to_rgb,
    shared_rasterizer,
)
from physim.render.recorder import VideoWriter
from physim.scene.render_view import RenderItem, RenderView
from physim.scene.surfaces import Surface

RES = (320, 240)
FOV = 30.0
FOCAL = 120.0 / math.tan(math.radians(15.0))
CAMERA = dict(res=RES, pos=(3.0, 0.0, 0.5), lookat=(0.0, 0.0, 0.5), up=(0.0, 0.0, 1.0), fov=FOV)

RED_BOX, MARKER, GROUND, PLAIN, PAINTED, TEXTURED = range(6)
MARKER_SIZE = 0.08


def _translation(x: float, y: float, z: float) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, 3] = (x, y, z)
    return pose


def _rotation_z(degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    pose = np.eye(4)
    pose[:2, :2] = [[c, -s], [s, c]]
    return pose


def _ground_quad(half: float) -> trimesh.Trimesh:
    vertices = np.array([[-half, -half, 0.0], [half, -half, 0.0], [half, half, 0.0], [-half, half, 0.0]])
    return trimesh.Trimesh(vertices, np.array([[0, 1, 2], [0, 2, 3]]), process=False)


def _textured_quad(texture_path: Path) -> tuple[trimesh.Trimesh, Surface]:
    """A 0.4 m square in the y-z plane facing +x, left half of its texture green, right half blue."""
    vertices = np.array([[0.0, -0.2, -0.2], [0.0, 0.2, -0.2], [0.0, 0.2, 0.2], [0.0, -0.2, 0.2]])
    uv = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    mesh = trimesh.Trimesh(vertices, np.array([[0, 1, 2], [0, 2, 3]]), process=False,
                           visual=trimesh.visual.TextureVisuals(uv=uv))
    return mesh, Surface(texture=str(texture_path))


class SceneFixture:
    """A hand-built RenderView whose poses the tests may change (reset before each test)."""

    def __init__(self, tmp_dir: Path) -> None:
        from PIL import Image

        texture = np.zeros((8, 8, 3), dtype=np.uint8)
        texture[:, :4] = (0, 255, 0)
        texture[:, 4:] = (0, 0, 255)
        texture_path = tmp_dir / "halves.png"
        Image.fromarray(texture).save(texture_path)
        painted = trimesh.creation.box((0.3, 0.3, 0.3))
        painted.visual.vertex_colors = np.tile([255, 255, 0, 255], (len(painted.vertices), 1))
        quad, quad_surface = _textured_quad(texture_path)
        self.items = [
            RenderItem(RED_BOX, "red_box", trimesh.creation.box((1.0, 1.0, 1.0)), Surface(color=(0.9, 0.1, 0.1))),
            RenderItem(MARKER, "marker", trimesh.creation.box((MARKER_SIZE,) * 3), Surface(color=(0.1, 0.8, 0.1))),
            RenderItem(GROUND, "ground", _ground_quad(3.0), Surface(color=(0.5, 0.5, 0.5)), double_sided=True),
            RenderItem(PLAIN, "plain", trimesh.creation.icosphere(2, 0.15), Surface()),  # no colour: grey
            RenderItem(PAINTED, "painted", painted, Surface()),  # keeps its vertex colours
            RenderItem(TEXTURED, "textured", quad, quad_surface),
        ]
        self.default_poses = np.stack([
            _translation(0.0, 0.0, 0.5),
            _translation(0.6, 0.6, 0.9),
            np.eye(4),
            _translation(-1.0, -2.6, 1.6),  # out of the default view; tests move it in
            _translation(-1.0, -2.6, 2.0),
            _translation(-1.0, -2.6, 2.4),
        ])
        self.poses = self.default_poses.copy()
        self.pose_reads = 0
        self.view = RenderView(self.items, self._read_poses, n_entities=len(self.items))
        self.vis = VisOptions()
        self.rasterizer = Rasterizer(self.view, self.vis)

    def _read_poses(self, env_idx: int) -> np.ndarray:
        self.pose_reads += 1
        return self.poses.copy()

    def camera(self, **overrides: object) -> Camera:
        camera = Camera(**{**CAMERA, **overrides})
        camera._attach(self.view, self.rasterizer)
        return camera


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> SceneFixture:
    return SceneFixture(tmp_path_factory.mktemp("render_assets"))


@pytest.fixture(autouse=True)
def _reset_poses(request: pytest.FixtureRequest) -> None:
    if "scene" in request.fixturenames:
        fixture: SceneFixture = request.getfixturevalue("scene")
        fixture.poses[:] = fixture.default_poses


def _project(camera: Camera, point: np.ndarray) -> np.ndarray:
    """Pixel (u, v) of a world point through the camera's OpenCV K and extrinsics."""
    world_to_camera = np.linalg.inv(camera.extrinsics)
    p = world_to_camera @ np.append(point, 1.0)
    uvw = camera.K @ p[:3]
    return uvw[:2] / uvw[2]


def _mask_centroid(mask: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(mask)
    return np.array([cols.mean(), rows.mean()])


# --- geometry of the images ------------------------------------------------------------------------------


def test_depth_is_distance_along_the_optical_axis(scene: SceneFixture) -> None:
    camera = scene.camera()
    rgb, depth, seg, normal = camera.render(rgb=False, depth=True)
    assert rgb is None and seg is None and normal is None
    assert depth.shape == (240, 320) and depth.dtype == np.float32
    # The red box's front face is the plane x = 0.5, 2.5 m from the camera, facing it.
    assert depth[120, 160] == pytest.approx(2.5, abs=2e-3)
    # z-depth is the same across that plane (a Euclidean range would grow off-axis by 1/cos).
    assert depth[60, 90] == pytest.approx(2.5, abs=2e-3)
    assert depth[0, 0] == 0.0  # sky: nothing hit


def test_segmentation_mask_has_the_size_the_fov_predicts(scene: SceneFixture) -> None:
    camera = scene.camera()
    _, _, seg, _ = camera.render(rgb=False, segmentation=True)
    assert seg.dtype == np.int32 and seg.shape == (240, 320)
    box = seg == RED_BOX
    expected = FOCAL * 1.0 / 2.5  # a 1 m face at 2.5 m
    rows, cols = np.nonzero(box)
    assert cols.max() - cols.min() + 1 == pytest.approx(expected, abs=2)
    assert rows.max() - rows.min() + 1 == pytest.approx(expected, abs=2)
    assert box.sum() == pytest.approx(expected**2, rel=0.03)
    assert seg[0, 0] == -1
    assert set(np.unique(seg)) <= {-1, RED_BOX, MARKER, GROUND}  # exact ids, no blended values


def test_red_box_renders_red(scene: SceneFixture) -> None:
    rgb, _, _, _ = scene.camera().render()
    assert rgb.shape == (240, 320, 3) and rgb.dtype == np.uint8
    r, g, b = (int(c) for c in rgb[120, 160])
    assert r > 100 and r > 2 * g and r > 2 * b
    sky = rgb[2, 2].astype(int)
    assert np.abs(sky - np.round(np.array(VisOptions().background_color) * 255)).max() <= 2


def test_normals_face_the_camera_in_world_frame(scene: SceneFixture) -> None:
    camera = scene.camera()
    _, _, _, normal = camera.render(rgb=False, normal=True)
    assert normal.dtype == np.float32 and normal.shape == (240, 320, 3)
    to_camera = np.array([1.0, 0.0, 0.0])
    assert float(normal[120, 160] @ to_camera) > 0.99
    assert np.all(normal[0, 0] == 0.0)  # background
    hit = np.linalg.norm(normal, axis=2) > 0
    assert np.allclose(np.linalg.norm(normal[hit], axis=1), 1.0, atol=1e-4)
    # Turn the box by 30 degrees about z: the face in front of the camera now faces (cos 30, sin 30, 0).
    scene.poses[RED_BOX] = _translation(0.0, 0.0, 0.5) @ _rotation_z(30.0)
    _, _, _, normal = camera.render(rgb=False, normal=True)
    assert normal[120, 160] == pytest.approx([math.cos(math.radians(30)), math.sin(math.radians(30)), 0.0], abs=1e-3)


def test_double_sided_ground_is_seen_from_below_with_its_normal_down(scene: SceneFixture) -> None:
    camera = scene.camera(pos=(0.5, 0.0, -1.0), lookat=(0.5, 0.0, 0.0), up=(1.0, 0.0, 0.0))
    _, depth, seg, normal = camera.render(rgb=False, depth=True, segmentation=True, normal=True)
    assert seg[120, 160] == GROUND
    assert depth[120, 160] == pytest.approx(1.0, abs=2e-3)
    assert normal[120, 160] == pytest.approx([0.0, 0.0, -1.0], abs=1e-3)


def test_intrinsics_and_extrinsics_project_points_where_they_are_drawn(scene: SceneFixture) -> None:
    camera = scene.camera()
    assert camera.K[0, 0] == pytest.approx(FOCAL) and camera.K[1, 1] == pytest.approx(FOCAL)
    assert camera.K[0, 2] == pytest.approx(159.5) and camera.K[1, 2] == pytest.approx(119.5)
    # OpenCV camera: z forward (towards -x in the world), y down (world -z), x right (world +y).
    assert camera.extrinsics[:3, 2] == pytest.approx([-1.0, 0.0, 0.0])
    assert camera.extrinsics[:3, 1] == pytest.approx([0.0, 0.0, -1.0])
    assert camera.extrinsics[:3, 0] == pytest.approx([0.0, 1.0, 0.0])
    assert camera.transform[:3, 2] == pytest.approx([1.0, 0.0, 0.0])  # OpenGL: looks along -z
    _, _, seg, _ = camera.render(rgb=False, segmentation=True)
    mask = seg == MARKER
    rows, cols = np.nonzero(mask)
    center = scene.default_poses[MARKER][:3, 3]
    corners = center + MARKER_SIZE / 2 * np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    projected = np.array([_project(camera, corner) for corner in corners])
    # The drawn pixels cover the projected silhouette, within a pixel at each side.
    assert cols.min() == pytest.approx(projected[:, 0].min(), abs=1.0)
    assert cols.max() == pytest.approx(projected[:, 0].max(), abs=1.0)
    assert rows.min() == pytest.approx(projected[:, 1].min(), abs=1.0)
    assert rows.max() == pytest.approx(projected[:, 1].max(), abs=1.0)


def test_moving_a_pose_moves_the_object_in_the_image(scene: SceneFixture) -> None:
    camera = scene.camera()
    _, _, before, _ = camera.render(rgb=False, segmentation=True)
    scene.poses[MARKER, 1, 3] -= 0.2  # 0.2 m towards -y: to the left in the image
    _, _, after, _ = camera.render(rgb=False, segmentation=True)
    shift = _mask_centroid(after == MARKER) - _mask_centroid(before == MARKER)
    expected = -0.2 * FOCAL / (3.0 - 0.6)
    assert shift[0] == pytest.approx(expected, abs=1.0)
    assert shift[1] == pytest.approx(0.0, abs=0.5)


def test_all_outputs_in_one_call_agree(scene: SceneFixture) -> None:
    camera = scene.camera()
    rgb, depth, seg, normal = camera.render(rgb=True, depth=True, segmentation=True, normal=True)
    hit = seg >= 0
    assert np.array_equal(hit, depth > 0)
    assert np.array_equal(hit, np.linalg.norm(normal, axis=2) > 0)
    assert rgb.shape == (240, 320, 3)


def test_several_cameras_with_different_resolutions_share_the_scene(scene: SceneFixture) -> None:
    small = scene.camera(res=(64, 48))
    wide = scene.camera(res=(400, 100), fov=20.0)
    big = scene.camera()
    for _ in range(2):  # alternate, so framebuffers of several sizes coexist
        for camera in (small, wide, big):
            rgb, depth, seg, _ = camera.render(depth=True, segmentation=True)
            width, height = camera.res
            assert rgb.shape == (height, width, 3) and depth.shape == (height, width) and seg.shape == (height, width)
            assert depth[height // 2, width // 2] == pytest.approx(2.5, abs=3e-3)
            assert seg[height // 2, width // 2] == RED_BOX


def test_cameras_attached_with_vis_options_share_one_rasterizer(scene: SceneFixture) -> None:
    view = RenderView(scene.items[:1], lambda env: scene.default_poses[:1].copy(), n_entities=1)
    first, second = Camera(**CAMERA), Camera(res=(32, 24))
    first._attach(view, VisOptions(shadow=False))
    second._attach(view, VisOptions(shadow=False))
    assert first._rasterizer is second._rasterizer is shared_rasterizer(view, VisOptions(shadow=False))
    _, depth, _, _ = first.render(rgb=False, depth=True)
    assert depth[120, 160] == pytest.approx(2.5, abs=2e-3)


# --- looks ---------------------------------------------------------------------------------------------------


def test_mesh_colours_default_grey_and_textures(scene: SceneFixture) -> None:
    scene.poses[RED_BOX] = _translation(0.0, 0.0, -5.0)  # out of the way
    scene.poses[PLAIN] = _translation(0.0, -0.5, 0.5)
    scene.poses[PAINTED] = _translation(0.0, 0.0, 0.5)
    scene.poses[TEXTURED] = _translation(0.0, 0.5, 0.5)
    camera = scene.camera()
    rgb, _, seg, _ = camera.render(segmentation=True)

    def mean_color(entity: int) -> np.ndarray:
        return rgb[seg == entity].astype(float).mean(axis=0)

    grey = mean_color(PLAIN)
    assert np.ptp(grey) < 8 and grey.mean() > 60  # uncoloured mesh: neutral grey
    yellow = mean_color(PAINTED)
    assert yellow[0] > 2 * yellow[2] and yellow[1] > 2 * yellow[2]  # vertex colours kept
    # Texture: u grows with world +y (image right): green on the left half, blue on the right.
    quad = np.nonzero(seg == TEXTURED)
    left = rgb[quad[0], quad[1]][quad[1] < quad[1].mean() - 5].astype(float).mean(axis=0)
    right = rgb[quad[0], quad[1]][quad[1] > quad[1].mean() + 5].astype(float).mean(axis=0)
    assert left[1] > 2 * left[2] and right[2] > 2 * right[1]


def test_lights_shadows_and_background_follow_vis_options(scene: SceneFixture) -> None:
    items = scene.items[:1]
    poses = scene.default_poses[:1].copy()
    view = RenderView(items, lambda env: poses.copy(), n_entities=1)
    dark = VisOptions(lights=(Light(kind="point", pos=(3.0, 0.0, 0.5), intensity=0.0),), ambient_light=(0, 0, 0),
                      background_color=(0.0, 0.0, 1.0), shadow=False)
    camera = Camera(**CAMERA)
    camera._attach(view, dark)
    rgb, _, _, _ = camera.render()
    assert tuple(rgb[0, 0]) == (0, 0, 255)
    assert rgb[120, 160].max() <= 2  # no light, no ambient: black box


# --- recording ---------------------------------------------------------------------------------------------------


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _read_video(path: Path) -> list[np.ndarray]:
    with imageio.get_reader(path) as reader:
        return [np.asarray(frame) for frame in reader]


def test_mp4_recorded_per_step_at_an_odd_resolution(scene: SceneFixture, tmp_path: Path) -> None:
    camera = scene.camera(res=(161, 121))
    target = tmp_path / "videos" / "steps.mp4"
    camera.start_recording(target, fps=10)  # Genesis 1.4.5: the camera records on every step
    assert not target.exists()  # written only when finished
    for step in range(5):
        scene.poses[MARKER, 1, 3] -= 0.05
        camera._after_step()
        if step == 2:
            camera.render()  # an explicit render adds no frame in this mode
    assert camera.stop_recording() == target
    frames = _read_video(target)
    assert len(frames) == 5
    assert frames[0].shape == (122, 162, 3)  # yuv420p needs even sizes: padded by one row and column
    assert sorted(os.listdir(target.parent)) == ["steps.mp4"]  # no temporary file left behind
    assert target.stat().st_mode & 0o777 == _new_file_mode()  # as any new file, not a private temp file


def test_render_after_step_reuses_the_step_frame(scene: SceneFixture, tmp_path: Path) -> None:
    camera = scene.camera(res=(64, 48))
    camera.start_recording(tmp_path / "reuse.mp4", fps=30)
    camera._after_step()
    reads = scene.pose_reads
    rgb, _, _, _ = camera.render()
    again, _, _, _ = camera.render()
    assert scene.pose_reads == reads + 2
    assert np.array_equal(rgb, again)
    camera.stop_recording()


def test_gif_recorded_from_renders_then_saved(scene: SceneFixture, tmp_path: Path) -> None:
    camera = scene.camera(res=(81, 61))
    camera.start_recording()  # old Genesis: each render adds a frame
    for _ in range(4):
        scene.poses[MARKER, 1, 3] -= 0.05
        camera.render(rgb=True, depth=True)
    camera.render(rgb=False, depth=True)  # no RGB, no frame
    target = tmp_path / "nested" / "dir" / "renders.gif"
    assert camera.stop_recording(save_to_filename=target, fps=8) == target
    frames = imageio.mimread(target)
    assert len(frames) == 4
    assert frames[0].shape[:2] == (61, 81)
    assert sorted(os.listdir(target.parent)) == ["renders.gif"]


def test_recording_errors_are_clear_and_leave_nothing(scene: SceneFixture, tmp_path: Path) -> None:
    camera = scene.camera(res=(32, 24))
    with pytest.raises(SceneStateError):
        camera.stop_recording(tmp_path / "x.mp4")
    with pytest.raises(InvalidValueError, match="extension"):
        camera.start_recording(tmp_path / "video.avi", fps=30)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(PhysimError, match=str(blocker)):
        camera.start_recording(blocker / "video.mp4", fps=30)
    with pytest.raises(InvalidValueError, match="fps"):
        camera.start_recording(tmp_path / "video.mp4", fps=0)
    camera.start_recording()
    with pytest.raises(SceneStateError):
        camera.start_recording()
    with pytest.raises(SceneStateError, match="no frames"):
        camera.stop_recording(tmp_path / "empty.mp4")
    camera.render()
    with pytest.raises(PhysimError):
        camera.stop_recording(blocker / "video.mp4")  # bad folder: the recording is kept...
    assert camera.is_recording
    assert camera.stop_recording(tmp_path / "ok.mp4").exists()  # ...and can be saved elsewhere
    assert sorted(os.listdir(tmp_path)) == ["file", "ok.mp4"]


def test_video_writer_abort_removes_its_temporary_file(tmp_path: Path) -> None:
    writer = VideoWriter(tmp_path / "gone.mp4", fps=24)
    writer.append(np.zeros((10, 12, 3), dtype=np.uint8))
    with pytest.raises(InvalidValueError, match="12x10"):
        writer.append(np.zeros((11, 12, 3), dtype=np.uint8))
    writer.abort()
    assert os.listdir(tmp_path) == []


# --- validation and lifecycle ---------------------------------------------------------------------------------


def test_gui_and_bad_values_raise_physim_errors() -> None:
    with pytest.raises(RenderError, match="viewer"):
        Camera(GUI=True)
    bad = [dict(res=(0, 10)), dict(res=(10.5, 10)), dict(res=(10,)), dict(fov=0.0), dict(fov=180.0),
           dict(fov=float("nan")), dict(near=0.0), dict(near=1.0, far=0.5), dict(pos=(0, 0, 0.5)),
           dict(up=(1.0, 0.0, 0.0)), dict(up=(0.0, 0.0, 0.0)), dict(env_idx=-1), dict(spp=0),
           dict(model="fisheye"), dict(pos=(1.0, 2.0))]
    for overrides in bad:
        with pytest.raises(InvalidValueError, match="Camera"):
            Camera(**{**CAMERA, **overrides})
    Camera(spp=64, denoise=True, model="pinhole", GUI=False)  # Genesis's extra knobs are accepted


def test_render_before_attach_raises_scene_state_error() -> None:
    with pytest.raises(SceneStateError, match="build the scene first"):
        Camera().render()


def test_set_pose_moves_the_camera(scene: SceneFixture) -> None:
    camera = scene.camera()
    camera.set_pose(pos=(2.0, 0.0, 0.5))
    _, depth, _, _ = camera.render(rgb=False, depth=True)
    assert depth[120, 160] == pytest.approx(1.5, abs=2e-3)
    transform = camera.transform
    transform[0, 3] = 4.0
    camera.set_pose(transform=transform)
    assert camera.pos == pytest.approx([4.0, 0.0, 0.5]) and camera.lookat == pytest.approx([2.0, 0.0, 0.5])
    _, depth, _, _ = camera.render(rgb=False, depth=True)
    assert depth[120, 160] == pytest.approx(3.5, abs=3e-3)
    with pytest.raises(InvalidValueError):
        camera.set_pose(transform=np.diag([2.0, 1.0, 1.0, 1.0]))


def test_non_finite_pose_is_reported_with_the_item(scene: SceneFixture) -> None:
    scene.poses[MARKER, 0, 3] = np.nan
    with pytest.raises(RenderError, match="marker"):
        scene.camera().render()


# --- image helpers ----------------------------------------------------------------------------------------------


def test_image_helpers_and_atomic_png(scene: SceneFixture, tmp_path: Path) -> None:
    _, depth, seg, normal = scene.camera().render(depth=True, segmentation=True, normal=True)
    depth_rgb, seg_rgb, normal_rgb = depth_to_rgb(depth), segmentation_to_rgb(seg), normal_to_rgb(normal)
    for image in (depth_rgb, seg_rgb, normal_rgb):
        assert image.shape == (240, 320, 3) and image.dtype == np.uint8
        assert tuple(image[0, 0]) == (0, 0, 0)  # background black
    assert len({tuple(seg_rgb[seg == i][0]) for i in (RED_BOX, MARKER, GROUND)}) == 3
    assert np.abs(normal_rgb[120, 160].astype(int) - (255, 128, 128)).max() <= 1  # +x normal
    path = save_png(tmp_path / "out" / "depth.png", depth_rgb)
    assert np.array_equal(imageio.imread(path), depth_rgb)
    assert os.listdir(path.parent) == ["depth.png"]
    assert path.stat().st_mode & 0o777 == _new_file_mode()
    with pytest.raises(InvalidValueError):
        save_png(tmp_path / "x.jpg", depth_rgb)


def test_describe_names_the_platform() -> None:
    info = describe()
    assert info["platform"] in ("egl", "osmesa")
    assert "renderer" in info


# --- Genesis options, anti-aliasing, sharing and lifetime -----------------------------------------------------------


def test_colorize_seg_and_antialiasing_options(scene: SceneFixture) -> None:
    camera = scene.camera()
    _, _, colored, _ = camera.render(rgb=False, segmentation=True, colorize_seg=True)
    assert colored.shape == (240, 320, 3) and colored.dtype == np.uint8
    # Row 60 crosses the red box's left edge (u = 69.9) with sky behind: anti-aliasing blends the edge pixel.
    sharp, _, _, _ = camera.render(antialiasing=False)
    smooth, _, _, _ = camera.render(antialiasing=True)
    assert len({tuple(p) for p in sharp[60, 60:80]}) == 2
    assert len({tuple(p) for p in smooth[60, 60:80]}) >= 3


def test_cameras_rendering_the_same_state_match_a_fresh_renderer(scene: SceneFixture) -> None:
    first, second = scene.camera(), scene.camera(pos=(2.5, 1.5, 1.5))
    first.render()
    shared, _, _, _ = second.render()  # same poses: shadow maps are reused
    fresh_camera = Camera(**{**CAMERA, "pos": (2.5, 1.5, 1.5)})
    fresh_camera._attach(scene.view, Rasterizer(scene.view, scene.vis))
    fresh, _, _, _ = fresh_camera.render()
    assert np.array_equal(shared, fresh)


def test_bad_render_items_raise_invalid_value_errors(scene: SceneFixture) -> None:
    bad_items = [
        RenderItem(-1, "negative", trimesh.creation.box(), Surface()),
        RenderItem(0, "not_a_mesh", "box.obj", Surface()),  # type: ignore[arg-type]
        RenderItem(0, "no_uv", trimesh.creation.box(), Surface(texture=scene.items[TEXTURED].surface.texture)),
    ]
    for item in bad_items:
        view = RenderView([item], lambda env: np.eye(4)[None], n_entities=1)
        with pytest.raises(InvalidValueError, match=item.name):
            Rasterizer(view, VisOptions())


def test_renderers_of_dropped_scenes_are_freed_and_closed_ones_refuse(scene: SceneFixture) -> None:
    import gc

    from physim.render import gl

    for _ in range(3):
        camera = Camera(**CAMERA)
        camera._attach(scene.view, Rasterizer(scene.view, scene.vis))
        camera.render()
        del camera
    gc.collect()
    scene.camera().render()  # frees the dropped renderers' GL objects first
    assert gl.shared_context()._retired == []
    rasterizer = Rasterizer(scene.view, scene.vis)
    camera = Camera(**CAMERA)
    camera._attach(scene.view, rasterizer)
    rasterizer.close()
    with pytest.raises(RenderError, match="closed"):
        camera.render()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork does not exist on this platform (Windows)")
def test_forked_child_gets_an_error_instead_of_a_hang(scene: SceneFixture) -> None:
    scene.camera().render()  # this process has rendered
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: must not touch pytest; report through the pipe and leave
        code = b"no error"
        try:
            scene.camera().render()
        except RenderError as exc:
            code = b"RenderError" if "fork" in str(exc) else b"other RenderError"
        except BaseException:
            code = b"other exception"
        os.write(write_end, code)
        os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    assert os.read(read_end, 100) == b"RenderError"
    os.close(read_end)


def test_platform_choice_order_and_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    from physim.render import gl

    choose = gl.select_platform.__wrapped__  # the uncached function: the process's real choice stays

    def probes(egl: bool, osmesa: bool) -> None:
        monkeypatch.setattr(gl, "_egl_display_initialises", lambda: egl)
        monkeypatch.setattr(gl, "_osmesa_loads", lambda: osmesa)

    monkeypatch.setenv("PYOPENGL_PLATFORM", "osmesa")
    probes(egl=True, osmesa=True)
    assert choose() == "osmesa"  # the user's choice wins
    monkeypatch.setenv("PYOPENGL_PLATFORM", "glx")
    with pytest.raises(RenderError, match="PYOPENGL_PLATFORM"):
        choose()
    monkeypatch.delenv("PYOPENGL_PLATFORM")
    assert choose() == "egl"
    monkeypatch.delenv("PYOPENGL_PLATFORM")
    probes(egl=False, osmesa=True)
    assert choose() == "osmesa"
    monkeypatch.delenv("PYOPENGL_PLATFORM")
    probes(egl=False, osmesa=False)
    with pytest.raises(RenderError, match="apt-get install -y libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri libosmesa6"):
        choose()
