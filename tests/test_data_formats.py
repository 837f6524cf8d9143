"""The dataset writer's files say what was rendered and simulated, in formats standard tools read.

One small tabletop dataset (2 episodes x 2 cameras x 4 frames at 160x120) is generated in this process
and shared by the tests; a two-box scene checks visibility fractions against geometry.
"""

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO

from physim.data import DatasetError, EpisodeError, MemorySink, SceneScript, generate, inspect_dataset, run_episode
from physim.data.formats import read_png
from physim.utils.rotations import quat_to_matrix

ROOT = Path(__file__).resolve().parents[1]
TABLETOP = ROOT / "scenes" / "tabletop_dataset.py"
SMALL = {"width": 160, "height": 120, "frames": 4, "cameras": 2, "steps_per_frame": 5, "depth_float": True}
EPISODES, SEED = 2, 7
# pycocotools 2.0.11 passes copy=False to numpy's __array__ (numpy 2 deprecation); not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("tabletop")
    report = generate(TABLETOP, out, EPISODES, seed=SEED, workers=0, params=SMALL, progress=False)
    assert report.complete and report.done_now == EPISODES and not report.failures
    return out


def episode_folders(root):
    return sorted(p for p in (root / "episodes").iterdir())


def camera_folders(root):
    return [cam for episode in episode_folders(root) for cam in sorted(episode.iterdir()) if cam.is_dir()]


def test_layout_counts_and_manifest(dataset):
    assert [p.name for p in episode_folders(dataset)] == ["000000", "000001"]
    assert not (dataset / ".partial").exists()
    identity = json.loads((dataset / "dataset.json").read_text())
    assert identity["seed"] == SEED and identity["params"]["width"] == 160
    lines = [json.loads(line) for line in (dataset / "manifest.jsonl").read_text().splitlines()]
    assert sorted(line["episode"] for line in lines if line["status"] == "done") == [0, 1]
    for episode in episode_folders(dataset):
        meta = json.loads((episode / "episode.json").read_text())
        assert len(meta["frames"]) == 4 and len(meta["cameras"]) == 2
        assert 3 <= len(meta["objects"]) <= 8
        # every sampled value is in the log: one class, drop height, pose, material, and a colour or a
        # texture per object
        for i in range(len(meta["objects"])):
            for key in ("class", "drop_height", "quat", "material", "textured"):
                assert f"object{i}.{key}" in meta["randomization"]
            textured = meta["randomization"][f"object{i}.textured"]
            assert (f"object{i}.texture" in meta["randomization"]) == textured
            assert (f"object{i}.color" in meta["randomization"]) != textured
        for cam in ("cam0", "cam1"):
            for kind, ext in (("rgb", "png"), ("depth", "png"), ("seg", "png"), ("normal", "png"), ("depth_m", "npy")):
                assert len(list((episode / cam / kind).glob(f"*.{ext}"))) == 4


def test_coco_loads_with_pycocotools_and_masks_equal_the_segmentation_images(dataset):
    coco = COCO(str(dataset / "coco_instances.json"))
    assert len(coco.getImgIds()) == EPISODES * 2 * 4
    assert {c["name"] for c in coco.loadCats(coco.getCatIds())} <= {"can", "carton", "bottle", "cone", "ball", "wedge"}
    checked = 0
    for image in coco.loadImgs(coco.getImgIds()):
        seg_path = dataset / image["file_name"].replace("/rgb/", "/seg/")
        instances = read_png(seg_path)
        assert instances.shape == (image["height"], image["width"]) and instances.dtype == np.uint16
        annotations = coco.loadAnns(coco.getAnnIds(imgIds=image["id"]))
        # every instance visible in the segmentation image has exactly one annotation, and nothing else does
        assert sorted(a["inst_id"] for a in annotations) == sorted(set(np.unique(instances)) - {0})
        for annotation in annotations:
            mask = coco.annToMask(annotation).astype(bool)
            np.testing.assert_array_equal(mask, instances == annotation["inst_id"])
            assert annotation["area"] == int(coco_mask.area(annotation["segmentation"])) == mask.sum()
            x, y, w, h = annotation["bbox"]
            rows, cols = np.nonzero(mask)
            assert (x, y, x + w - 1, y + h - 1) == (cols.min(), rows.min(), cols.max(), rows.max())
            checked += 1
    assert checked > 20


def test_object_poses_project_inside_their_boxes(dataset):
    inside = 0
    for cam in camera_folders(dataset):
        cameras = json.loads((cam / "scene_camera.json").read_text())
        gts = json.loads((cam / "scene_gt.json").read_text())
        infos = json.loads((cam / "scene_gt_info.json").read_text())
        for frame, gt_list in gts.items():
            K = np.array(cameras[frame]["cam_K"]).reshape(3, 3)
            for gt, info in zip(gt_list, infos[frame]):
                t = np.array(gt["cam_t_m2c"])  # mm, camera frame (OpenCV)
                if t[2] <= 0 or info["bbox_obj"][2] <= 0:
                    continue
                u, v = (K @ t)[:2] / t[2]
                x, y, w, h = info["bbox_obj"]
                # the object's origin is the centre of its mesh's box, inside its convex hull, so its image
                # lies inside the projected full box (3-decimal rounding of the box: 1e-3 px slack)
                assert x - 1e-3 <= u <= x + w + 1e-3 and y - 1e-3 <= v <= y + h + 1e-3
                if info["px_count_visib"] > 0:
                    vx, vy, vw, vh = info["bbox_visib"]
                    # the visible pixels lie inside the full box (pixel centres vs. continuous box: 1 px)
                    assert x - 1 <= vx and vx + vw <= x + w + 1 and y - 1 <= vy and vy + vh <= y + h + 1
                    assert 0 < info["visib_fract"] <= 1 and info["px_count_visib"] <= info["px_count_all"]
                inside += 1
    assert inside > 20


def test_depth_pngs_decode_to_the_rendered_depth_within_a_millimetre(dataset):
    for cam in camera_folders(dataset):
        for png in sorted((cam / "depth").glob("*.png")):
            millimetres = read_png(png)
            metres = np.load(cam / "depth_m" / (png.stem + ".npy"))
            assert millimetres.dtype == np.uint16 and metres.dtype == np.float32
            hit = metres > 0
            assert hit.mean() > 0.5  # the table and floor fill most of the view
            np.testing.assert_array_equal(millimetres == 0, ~hit)
            # rounding to whole millimetres: at most 0.5 mm off (plus float32 rounding of metres)
            assert np.abs(millimetres[hit] / 1000.0 - metres[hit]).max() <= 0.0005 + 1e-6


def test_bop_poses_agree_with_the_trajectories(dataset):
    for episode in episode_folders(dataset):
        meta = json.loads((episode / "episode.json").read_text())
        table = pq.read_table(episode / "trajectories.parquet").to_pydict()
        steps = np.array(table["step"])
        assert len(steps) == (meta["steps"] + 1) * len(meta["objects"])  # initial state, then every step
        cameras = json.loads((episode / "cam0" / "scene_camera.json").read_text())
        gts = json.loads((episode / "cam0" / "scene_gt.json").read_text())
        for frame in meta["frames"]:
            entry = cameras[str(frame["frame"])]
            w2c = np.eye(4)
            w2c[:3, :3] = np.reshape(entry["cam_R_w2c"], (3, 3))
            w2c[:3, 3] = np.array(entry["cam_t_w2c"]) / 1000.0
            for gt in gts[str(frame["frame"])]:
                m2c = np.eye(4)
                m2c[:3, :3] = np.reshape(gt["cam_R_m2c"], (3, 3))
                m2c[:3, 3] = np.array(gt["cam_t_m2c"]) / 1000.0
                world = np.linalg.inv(w2c) @ m2c
                row = np.flatnonzero((steps == frame["step"]) & (np.array(table["inst_id"]) == gt["inst_id"]))
                assert len(row) == 1
                r = row[0]
                pos = [table[k][r] for k in ("pos_x", "pos_y", "pos_z")]
                quat = [table[k][r] for k in ("quat_w", "quat_x", "quat_y", "quat_z")]
                # stored poses are rounded to 0.1 um (mm with 4 decimals) and 1e-9 in rotation
                np.testing.assert_allclose(world[:3, 3], pos, atol=1e-6)
                np.testing.assert_allclose(world[:3, :3], quat_to_matrix(np.array(quat)), atol=1e-6)


def test_the_same_seed_and_index_give_byte_identical_files(dataset):
    script = SceneScript.read(TABLETOP, SMALL)
    sink = MemorySink()
    run_episode(script, SEED, 1, sink)
    assert len(sink.files) > 40
    for relative, data in sink.files.items():
        assert (dataset / relative).read_bytes() == data, relative
    other = MemorySink()
    run_episode(script, SEED + 1, 1, other)
    assert other.files["episodes/000001/episode.json"] != sink.files["episodes/000001/episode.json"]


def test_physim_inspect_prints_the_counts(dataset, tmp_path, capsys):
    from physim.cli import main

    assert main(["inspect", str(dataset), "--samples", "2", "--sheet", str(tmp_path / "s.png"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["episodes"] == EPISODES and summary["frames"] == EPISODES * 4
    assert (tmp_path / "s.png").is_file()
    assert main(["inspect", str(tmp_path)]) == 1  # not a dataset: a clear error, not a trace


def test_inspect_counts_and_draws_a_contact_sheet(dataset, tmp_path):
    summary = inspect_dataset(dataset, samples=4, sheet=tmp_path / "sheet.png", verify=True)
    assert summary["episodes"] == EPISODES and summary["images"] == EPISODES * 2 * 4
    assert summary["annotations"] == len(json.loads((dataset / "coco_instances.json").read_text())["annotations"])
    assert not summary["corrupt_files"] and not summary["missing_episodes"]
    sheet = read_png(tmp_path / "sheet.png")
    assert sheet.ndim == 3 and sheet.shape[1] > 2 * 320  # a 2 x 2 grid of 320-pixel tiles


# --- visibility against geometry --------------------------------------------------------------------------

TWO_BOXES = '''
import physim as ps

CLASSES = ["plate", "lid"]

def episode(rng, writer):
    scene = ps.Scene()
    # A camera 2 m above the origin looking straight down; a 0.2 m square plate on the ground, and 0.5 m
    # above it a lid covering the plate's half y > 0 (it projects larger, being nearer, so it covers all of it).
    plate = scene.add_entity(ps.morphs.Box(size=(0.2, 0.2, 0.02), pos=(0, 0, 0.01), fixed=True))
    lid = scene.add_entity(ps.morphs.Box(size=(0.3, 0.1, 0.02), pos=(0, 0.05, 0.5), fixed=True))
    cam = scene.add_camera(res=(200, 200), pos=(0, 0, 2.0), lookat=(0, 0, 0), up=(0, 1, 0), fov=20)
    scene.build()
    writer.add_camera(cam)
    writer.add_object(plate, "plate")
    writer.add_object(lid, "lid")
    writer.record_frame()
'''


def test_visible_fraction_of_a_half_covered_plate_is_one_half(tmp_path):
    script_path = tmp_path / "two_boxes.py"
    script_path.write_text(TWO_BOXES)
    sink = MemorySink()
    run_episode(SceneScript.read(script_path), 0, 0, sink)
    info = json.loads(sink.files["episodes/000000/cam0/scene_gt_info.json"])["0"]
    plate, lid = info
    # The plate spans ~57 px; its hidden half ends on the image's middle row, so the edge costs at most a
    # row of pixels: 1/57 < 0.02.
    assert plate["visib_fract"] == pytest.approx(0.5, abs=0.02)
    assert plate["px_count_all"] == pytest.approx(2 * plate["px_count_visib"], rel=0.04)
    assert lid["visib_fract"] == 1.0


# --- errors -------------------------------------------------------------------------------------------------

FAILING = '''
CLASSES = []

def episode(rng, writer):
    raise RuntimeError(f"episode {writer.index} cannot place its objects")
'''


def test_an_unwritable_or_full_destination_fails_at_once(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(DatasetError, match="cannot write to the dataset folder"):
        generate(TABLETOP, blocker / "dataset", 1, workers=0, params=SMALL, progress=False)
    with pytest.raises(DatasetError, match="MB free"):
        generate(TABLETOP, tmp_path / "full", 1, workers=0, params=SMALL, progress=False, min_free_mb=1e12)
    assert not list((tmp_path / "full" / "episodes").iterdir())


def test_resuming_with_another_seed_or_parameters_is_refused(dataset):
    with pytest.raises(DatasetError, match="another seed"):
        generate(TABLETOP, dataset, EPISODES, seed=SEED + 1, workers=0, params=SMALL, progress=False)
    with pytest.raises(DatasetError, match="another params"):
        generate(TABLETOP, dataset, EPISODES, seed=SEED, workers=0, params={**SMALL, "frames": 5}, progress=False)
    with pytest.raises(EpisodeError, match="unknown parameter"):
        generate(TABLETOP, dataset, EPISODES, seed=SEED, workers=0, params={"colour": 1}, progress=False)


def test_a_failing_episode_is_retried_then_reported_or_skipped(tmp_path):
    script = tmp_path / "failing.py"
    script.write_text(FAILING)
    with pytest.raises(EpisodeError, match="episode 0 failed 2 time"):
        generate(script, tmp_path / "stop", 2, workers=0, retries=1, progress=False)
    report = generate(script, tmp_path / "skip", 2, workers=0, retries=0, skip_failures=True, progress=False)
    assert report.skipped == [0, 1] and not report.complete and len(report.failures) == 2
    lines = [json.loads(line) for line in (tmp_path / "skip" / "manifest.jsonl").read_text().splitlines()]
    assert [(line["episode"], line["status"]) for line in lines] == [(0, "failed"), (1, "failed")]
    assert "cannot place its objects" in lines[0]["error"]
    assert not list((tmp_path / "skip" / "episodes").iterdir())


# --- the documented contract --------------------------------------------------------------------------------

def test_the_example_in_docs_dataset_md_runs_as_a_scene_script(tmp_path):
    import re

    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "DATASET.md").read_text(), flags=re.S)
    assert blocks, "docs/DATASET.md shows a scene script"
    script_path = tmp_path / "example.py"
    script_path.write_text(blocks[0])
    sink = MemorySink()
    summary = run_episode(SceneScript.read(script_path, {"width": 64, "height": 48, "frames": 2}), 0, 0, sink)
    assert summary["frames"] == 2 and summary["objects"] == 1
    meta = json.loads(sink.files["episodes/000000/episode.json"])
    assert {"lights", "can.quat", "can.material", "can.color", "cam"} <= set(meta["randomization"])


ROBOT = '''
import numpy as np
import physim as ps

def episode(rng, writer):
    scene = ps.Scene()
    scene.add_entity(ps.morphs.Plane())
    arm = scene.add_entity(ps.morphs.URDF(file="robots/arm7.urdf", fixed=True), name="arm")
    cam = scene.add_camera(res=(32, 24))
    scene.build()
    arm.set_dofs_kp(np.full(arm.n_dofs, 400.0))
    arm.set_dofs_kv(np.full(arm.n_dofs, 40.0))
    arm.set_gravity_compensation(1.0)
    writer.add_camera(cam, visibility=False)
    writer.add_robot(arm, end_effector=arm.get_link("tcp"))
    for target in (0.1, 0.3):
        command = np.full(arm.n_dofs, target)
        arm.control_dofs_position(command)
        writer.record_command(arm, command)
        writer.step(scene, 2)
    writer.record_frame()
'''


def test_robot_joints_and_commands_are_logged_per_step(tmp_path):
    script_path = tmp_path / "robot.py"
    script_path.write_text(ROBOT)
    sink = MemorySink()
    run_episode(SceneScript.read(script_path), 0, 0, sink)
    import io

    table = pq.read_table(io.BytesIO(sink.files["episodes/000000/robots.parquet"])).to_pydict()
    assert table["step"] == [1, 2, 3, 4]
    assert table["robot"] == ["arm"] * 4
    n_dofs = 9  # seven arm joints and two fingers
    assert all(len(q) == n_dofs and len(dq) == n_dofs and len(tau) == n_dofs
               for q, dq, tau in zip(table["q"], table["dq"], table["tau"]))
    assert table["command"] == [[0.1] * n_dofs] * 2 + [[0.3] * n_dofs] * 2
    first_joint = [q[0] for q in table["q"]]
    assert 0 < first_joint[0] < first_joint[-1] < 0.3  # the PD pulls the joints towards the commands
    assert all(len(p) == 3 and abs(np.linalg.norm(quat) - 1) < 1e-6 for p, quat in zip(table["ee_pos"],
                                                                                       table["ee_quat"]))


def test_randomizer_draws_are_logged_and_repeatable():
    import physim as ps
    from physim.data import Randomizer, episode_rng

    def draw():
        rng = Randomizer(episode_rng(5, 3)[0])
        sand = rng.material("sand", ps.materials.MPM.Sand, friction_angle=(25.0, 40.0), rho=1500.0)
        spots = rng.positions_on_surface("spots", [0.1] * 6, center=(0, 0), half_extents=(0.3, 0.3), height=0.4)
        return rng, sand, spots

    rng, sand, spots = draw()
    assert 25.0 <= sand.friction_angle <= 40.0 and sand.rho == 1500.0
    assert rng.log["sand"] == {"kind": "Sand", "friction_angle": sand.friction_angle, "rho": 1500.0}
    # placed without overlap: discs of radius 0.1 at one height are at least 0.2 apart, and inside the area
    for i, a in enumerate(spots):
        assert abs(a[0]) <= 0.2 + 1e-9 and abs(a[1]) <= 0.2 + 1e-9
        for b in spots[i + 1:]:
            assert a[2] != b[2] or np.hypot(a[0] - b[0], a[1] - b[1]) >= 0.2
    assert draw()[0].log == rng.log  # the same (seed, episode) draws the same values
    with pytest.raises(ps.errors.InvalidValueError, match="already used"):
        rng.uniform("sand", 0, 1)
