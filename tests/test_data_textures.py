"""Randomized textures: pure functions of logged draws, cached atomically, and visible where they are painted.

The renders use a RenderView built by hand (no solver): a camera 2 m above the origin looks straight down
at a textured box, a plain box and a textured can (scaled 3x) lying on its side, lit from straight above.
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import trimesh

from physim.data import DatasetError, MemorySink, Randomizer, SceneScript, episode_rng, run_episode
from physim.data.formats import png_bytes, read_png
from physim.data.textures import PATTERNS, draw_texture, texture_file, texture_key
from physim.options import Light, VisOptions
from physim.render import Camera, Rasterizer
from physim.scene import morphs
from physim.scene.geometry import load_mesh, rigid_geometry
from physim.scene.render_view import RenderItem, RenderView
from physim.scene.surfaces import Surface

ROOT = Path(__file__).resolve().parents[1]
TABLETOP = ROOT / "scenes" / "tabletop_dataset.py"
RED, BLUE = [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]


@pytest.fixture(scope="module", autouse=True)
def texture_cache(tmp_path_factory):
    """Textures of these tests go to a fresh cache folder, not the user's."""
    folder = tmp_path_factory.mktemp("cache")
    previous = os.environ.get("PHYSIM_CACHE")
    os.environ["PHYSIM_CACHE"] = str(folder)
    yield folder / "textures"
    if previous is None:
        del os.environ["PHYSIM_CACHE"]
    else:
        os.environ["PHYSIM_CACHE"] = previous


# --- the texture is a pure function of the draws -------------------------------------------------------------

def test_the_same_seed_draws_the_same_texture_file_and_another_seed_another():
    first, second, other = (Randomizer(episode_rng(seed, 4)[0]) for seed in (9, 9, 10))
    paths = [rng.texture("t") for rng in (first, second, other)]
    assert paths[0] == paths[1] and first.log == second.log
    assert paths[2] != paths[0] and other.log != first.log
    logged = dict(first.log["t"])
    # the file is named by the parameters' hash and holds exactly what they draw: the image can be
    # redrawn from the episode's metadata alone
    name = logged.pop("file")
    assert Path(paths[0]).name == name == f"{texture_key(logged)}.png"
    assert Path(paths[0]).read_bytes() == png_bytes(draw_texture(logged))


@pytest.mark.parametrize("pattern", PATTERNS)
def test_every_pattern_has_two_colours_and_tiles_seamlessly(pattern):
    rng = Randomizer(np.random.default_rng(3))
    image = read_png(Path(rng.texture(pattern, patterns=[pattern], size=96)))
    params = rng.log[pattern]
    assert image.shape == (96, 96, 3) and params["pattern"] == pattern
    dark, light = (np.round(np.array(c) * 255) for c in params["colors"])
    # both colours appear: some pixels within 2 levels (rounding, soft dot edges aside) of each
    for color in (dark, light):
        assert (np.abs(image - color).max(axis=2) <= 2).mean() > 0.05
    # seamless: across the wrap (last column next to the first, last row next to the first) the image
    # changes no more than between the neighbouring columns/rows inside it
    pixels = image.astype(np.float64)
    for axis in (0, 1):
        inside = np.abs(np.diff(pixels, axis=axis)).mean(axis=(1 - axis, 2)).max()
        wrap = np.abs(np.take(pixels, 0, axis=axis) - np.take(pixels, -1, axis=axis)).mean()
        assert wrap <= inside + 1e-9


def test_the_cache_is_written_once_atomically_and_errors_name_the_folder(texture_cache, tmp_path):
    params = {"pattern": "checker", "size": 16, "colors": [RED, BLUE], "repeats": 2}
    path = texture_file(params)
    assert path.parent == texture_cache
    stamp = path.stat().st_mtime_ns
    assert texture_file(params) == path and path.stat().st_mtime_ns == stamp  # found, not redrawn
    assert not [p for p in texture_cache.iterdir() if p.suffix != ".png"]  # no temp file left behind
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    os.environ["PHYSIM_CACHE"] = str(blocker)
    try:
        with pytest.raises(DatasetError, match="a_file"):
            texture_file(params)
    finally:
        os.environ["PHYSIM_CACHE"] = str(texture_cache.parent)


# --- UVs --------------------------------------------------------------------------------------------------

def test_primitive_boxes_and_planes_have_uvs_in_metres():
    _, box = rigid_geometry(morphs.Box(size=(0.6, 0.4, 0.1)))
    assert len(box.visual.uv) == len(box.vertices) == 24
    centres, normals = box.triangles_center, box.face_normals
    assert ((centres * normals).sum(axis=1) > 0).all()  # still wound outward
    top = np.unique(box.faces[normals[:, 2] > 0.9])
    # the top face's UVs are its (x, y) in metres: one texture period per metre
    np.testing.assert_allclose(box.visual.uv[top], box.vertices[top][:, :2])
    _, plane = rigid_geometry(morphs.Plane(plane_size=(4.0, 2.0)))
    np.testing.assert_allclose(plane.visual.uv, plane.vertices[:, :2])


@pytest.mark.parametrize("name", ["can", "carton", "bottle", "cone", "ball", "wedge"])
def test_tabletop_meshes_carry_a_uv_per_vertex_and_keep_their_solid(name):
    mesh = load_mesh(morphs.Mesh(file=f"tabletop/{name}.obj"))
    assert len(mesh.visual.uv) == len(mesh.vertices) and np.isfinite(mesh.visual.uv).all()
    # split at seams, the faces still enclose the solid, wound outward: a positive volume within its hull
    assert mesh.convex_hull.volume >= mesh.volume > 0
    assert np.abs(mesh.bounds.mean(axis=0)).max() < 1e-5  # still centred on its bounding box


# --- the texture shows in the image ---------------------------------------------------------------------

TEXTURED_BOX, PLAIN_BOX, TEXTURED_CAN = range(3)


def _pose(x: float, y: float, z: float, lying: bool = False) -> np.ndarray:
    pose = np.eye(4)
    if lying:  # the can's axis along world y: its round side faces the camera above
        pose[:3, :3] = [[1, 0, 0], [0, 0, -1], [0, 1, 0]]
    pose[:3, 3] = (x, y, z)
    return pose


@pytest.fixture(scope="module")
def top_view():
    checker = texture_file({"pattern": "checker", "size": 64, "colors": [RED, BLUE], "repeats": 4})
    stripes = texture_file({"pattern": "stripes", "size": 64, "colors": [RED, BLUE], "repeats": 4, "wave": [4, 0],
                            "duty": 0.5})
    box = rigid_geometry(morphs.Box(size=(0.5, 0.5, 0.05)))[1]  # its top shows 2 x 2 checker cells
    can = load_mesh(morphs.Mesh(file="tabletop/can.obj", scale=3.0))  # 0.2 m across: ~27 pixels
    items = [RenderItem(TEXTURED_BOX, "textured_box", box, Surface(texture=str(checker))),
             RenderItem(PLAIN_BOX, "plain_box", box, Surface(color=(1.0, 0.0, 0.0))),
             RenderItem(TEXTURED_CAN, "textured_can", can, Surface(texture=str(stripes)))]
    poses = np.stack([_pose(-0.35, 0.0, 0.0), _pose(0.35, 0.0, 0.0), _pose(0.0, 0.5, 0.0, lying=True)])
    view = RenderView(items, lambda env: poses.copy(), n_entities=len(items))
    vis = VisOptions(lights=(Light(kind="directional", pos=(0, 0, 3), lookat=(0, 0, 0), intensity=3.0),),
                     ambient_light=(0.3, 0.3, 0.3), shadow=False)
    camera = Camera(res=(240, 200), pos=(0.0, 0.0, 2.0), lookat=(0.0, 0.0, 0.0), up=(0.0, 1.0, 0.0), fov=40.0)
    camera._attach(view, Rasterizer(view, vis))
    rgb, _, seg, _ = camera.render(segmentation=True)
    return rgb.astype(np.float64), seg


def _shares(rgb: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Fractions of the masked pixels that are clearly red and clearly blue."""
    pixels = rgb[mask]
    return float((pixels[:, 0] > 2 * pixels[:, 2] + 20).mean()), float((pixels[:, 2] > 2 * pixels[:, 0] + 20).mean())


def test_a_textured_box_shows_both_checker_colours_where_a_plain_one_is_flat(top_view):
    rgb, seg = top_view
    assert (seg == TEXTURED_BOX).sum() > 1000 and (seg == PLAIN_BOX).sum() > 1000
    red, blue = _shares(rgb, seg == TEXTURED_BOX)
    # a 2 x 2 checker: half the top is red, half blue (texture filtering blurs the cell edges a little)
    assert red == pytest.approx(0.5, abs=0.1) and blue == pytest.approx(0.5, abs=0.1)
    assert _shares(rgb, seg == PLAIN_BOX) == (1.0, 0.0)
    # the plain top, a flat face under a light from above, is one colour (its thin sides, seen in
    # perspective, are shaded otherwise); the textured top is two
    assert _share_of_median_colour(rgb, seg == PLAIN_BOX) > 0.85
    assert _share_of_median_colour(rgb, seg == TEXTURED_BOX) < 0.6


def _share_of_median_colour(rgb: np.ndarray, mask: np.ndarray) -> float:
    pixels = rgb[mask]
    return float((np.abs(pixels - np.median(pixels, axis=0)).max(axis=1) <= 3).mean())


def test_a_textured_tabletop_mesh_shows_its_stripes(top_view):
    rgb, seg = top_view
    red, blue = _shares(rgb, seg == TEXTURED_CAN)
    # four stripes around the can, half of each period red: about half of the visible side each (the
    # side's shading darkens its flanks, so some pixels are neither clearly red nor blue)
    assert red > 0.25 and blue > 0.25
    rows, cols = np.nonzero(seg == TEXTURED_CAN)
    # across the can (image x, around its axis) the colour alternates: stripes run along the axis
    middle = rgb[int(rows.mean()), cols.min():cols.max() + 1]
    is_red = middle[:, 0] > middle[:, 2]
    assert 2 <= np.count_nonzero(np.diff(is_red.astype(int))) <= 4


def test_uvs_without_an_image_render_like_the_plain_mesh():
    # The box primitive now carries UVs; uncoloured, it must still be the renderer's neutral grey, drawn
    # exactly as a UV-less box is.
    box = rigid_geometry(morphs.Box(size=(0.5, 0.5, 0.5)))[1]
    images = []
    for mesh in (box, trimesh.creation.box(extents=(0.5, 0.5, 0.5))):
        items = [RenderItem(0, "box", mesh, Surface())]
        view = RenderView(items, lambda env: np.eye(4)[None].copy(), n_entities=1)
        camera = Camera(res=(96, 96), pos=(1.5, 1.0, 1.2), lookat=(0.0, 0.0, 0.0), fov=40.0)
        camera._attach(view, Rasterizer(view, VisOptions(shadow=False)))
        images.append(camera.render()[0].astype(np.int64))
    assert np.abs(images[0] - images[1]).max() <= 1


# --- the tabletop dataset -------------------------------------------------------------------------------

def test_tabletop_textures_are_logged_and_the_episode_is_reproducible(texture_cache):
    params = {"width": 64, "height": 48, "frames": 1, "cameras": 1, "normals": False, "texture_probability": 1.0}
    script = SceneScript.read(TABLETOP, params)
    runs = []
    for _ in range(2):
        sink = MemorySink()
        run_episode(script, 5, 2, sink)
        runs.append(sink.files)
    assert runs[0] == runs[1]  # byte-identical files, textures included in the rendered images
    meta = json.loads(runs[0]["episodes/000002/episode.json"])
    log = meta["randomization"]
    names = ["floor", "table"] + [f"object{i}" for i in range(len(meta["objects"]))]
    for name in names:
        assert log[f"{name}.textured"] is True and f"{name}.color" not in log
        drawn = dict(log[f"{name}.texture"])
        file = drawn.pop("file")
        assert drawn["pattern"] in PATTERNS and file == f"{texture_key(drawn)}.png"
        # every parameter is logged: the cached image is what the logged parameters draw
        assert (texture_cache / file).read_bytes() == png_bytes(draw_texture(drawn))
