"""``physim generate`` end to end: interrupted runs resume to a complete dataset with no duplicate or partial
episode, and Ray tasks produce the same dataset as the local process pool."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from physim.data import generate, inspect_dataset

ROOT = Path(__file__).resolve().parents[1]
TABLETOP = ROOT / "scenes" / "tabletop_dataset.py"
TINY = ["--param", "width=96", "--param", "height=72", "--param", "cameras=1", "--param", "frames=6",
        "--param", "normals=false"]
TINY_PARAMS = {"width": 96, "height": 72, "cameras": 2, "frames": 3, "normals": False}


def physim_generate(out: Path, episodes: int, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, TI_SKIP_VERSION_CHECK="ON")
    return subprocess.Popen([sys.executable, "-m", "physim.cli", "generate", str(TABLETOP), "--episodes", str(episodes),
                             "--out", str(out), "--seed", "3", "--quiet", *TINY, *extra], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def done_lines(out: Path) -> list[int]:
    manifest = out / "manifest.jsonl"
    if not manifest.exists():
        return []
    return [json.loads(line)["episode"] for line in manifest.read_text().splitlines()
            if line.endswith("}") and json.loads(line)["status"] == "done"]


def interrupt_after_first_episode(process: subprocess.Popen, out: Path, sig: int) -> None:
    deadline = time.monotonic() + 300
    while not done_lines(out):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no episode finished in 300 s"
        time.sleep(0.05)
    process.send_signal(sig)
    process.communicate(timeout=120)


def assert_complete_without_duplicates(out: Path, episodes: int) -> None:
    folders = sorted(p.name for p in (out / "episodes").iterdir())
    assert folders == [f"{i:06d}" for i in range(episodes)]
    lines = done_lines(out)
    assert sorted(lines) == list(range(episodes)), "each episode is recorded done exactly once"
    summary = inspect_dataset(out, samples=0, verify=True)
    assert not summary["corrupt_files"] and summary["episodes"] == episodes
    coco = json.loads((out / "coco_instances.json").read_text())
    image_ids = [image["id"] for image in coco["images"]]
    assert len(image_ids) == len(set(image_ids)) == episodes * 6
    assert not (out / ".partial").exists()


def test_a_killed_run_leaves_only_whole_episodes_and_a_rerun_completes_it(tmp_path):
    out = tmp_path / "dataset"
    process = physim_generate(out, 6, "--workers", "0")
    interrupt_after_first_episode(process, out, signal.SIGKILL)
    finished = sorted(p for p in (out / "episodes").iterdir())
    assert 1 <= len(finished) < 6, "killed mid-way"
    for folder in finished:  # an episode folder exists only once complete
        assert (folder / "episode.json").is_file()
    assert not inspect_dataset(out, samples=0, verify=True)["corrupt_files"]

    rerun = physim_generate(out, 6, "--workers", "0")
    stdout, stderr = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, stderr
    assert f"({6 - len(finished)} made now, {len(finished)} already there)" in stdout
    assert_complete_without_duplicates(out, 6)


@pytest.mark.slow
def test_ctrl_c_stops_the_worker_pool_and_a_rerun_completes(tmp_path):
    out = tmp_path / "dataset"
    process = physim_generate(out, 5, "--workers", "2")
    interrupt_after_first_episode(process, out, signal.SIGINT)
    assert process.returncode == 130
    rerun = physim_generate(out, 5, "--workers", "2")
    _, stderr = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, stderr
    assert_complete_without_duplicates(out, 5)


def dataset_files(root: Path) -> dict[str, bytes]:
    files = {str(p.relative_to(root)): p.read_bytes() for p in (root / "episodes").rglob("*") if p.is_file()}
    files["coco_instances.json"] = (root / "coco_instances.json").read_bytes()
    return files


@pytest.mark.slow
def test_ray_tasks_make_the_same_dataset_as_the_local_pool(tmp_path):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        report = generate(TABLETOP, tmp_path / "ray", 3, seed=11, ray_address="local", params=TINY_PARAMS,
                          progress=False)
    finally:
        ray.shutdown()
    assert report.complete and not report.failures
    local = generate(TABLETOP, tmp_path / "pool", 3, seed=11, workers=2, params=TINY_PARAMS, progress=False)
    assert local.complete
    ray_files, pool_files = dataset_files(tmp_path / "ray"), dataset_files(tmp_path / "pool")
    assert sorted(ray_files) == sorted(pool_files)
    different = [name for name in pool_files if ray_files[name] != pool_files[name]]
    assert not different, f"{len(different)} files differ, e.g. {different[:3]}"
