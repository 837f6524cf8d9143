"""The README's examples run as written, and the `physim` command works end to end."""

import os
import re
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def readme_python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def run_physim(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, TI_SKIP_VERSION_CHECK="ON")
    return subprocess.run([sys.executable, "-m", "physim.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_readme_examples_run_and_write_their_video(tmp_path, monkeypatch):
    blocks = readme_python_blocks()
    assert blocks, "the README shows a Python example"
    monkeypatch.setenv("PHYSIM_OUT", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert len(blocks) >= 2, "the README shows a rigid example and a robot example"
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - the README is ours
        if "box" in namespace:
            video = iio.imread(tmp_path / "box.mp4")
            assert video.shape[0] == 100 and video.shape[1:3] == (240, 320)
            box = namespace["box"]
            assert abs(box.get_pos()[2] - 0.05) < 2e-3  # it fell and rests on its face
        if "tcp" in namespace:  # the robot example: the hand reached its IK target; the sand fell and slumped
            assert np.linalg.norm(namespace["tcp"].get_pos() - (0.3, -0.3, 0.5)) < 5e-3
            sand = namespace["sand"].get_particles_pos()
            assert sand[:, 2].min() < 0.02 and sand[:, 2].max() < 0.1


def test_physim_run_writes_outputs_to_the_chosen_folder(tmp_path):
    script = tmp_path / "tiny.py"
    script.write_text(
        "import physim as ps\n"
        "ps.init(backend='cpu')\n"
        "scene = ps.Scene()\n"
        "scene.add_entity(ps.morphs.Plane())\n"
        "ball = scene.add_entity(ps.morphs.Sphere(radius=0.1, pos=(0, 0, 0.5)))\n"
        "scene.build()\n"
        "for _ in ps.progress(range(50)):\n"
        "    scene.step()\n"
        "(ps.output_dir() / 'height.txt').write_text(str(ball.get_pos()[2]))\n")
    result = run_physim("run", str(script), "--out", str(tmp_path / "results"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    height = float((tmp_path / "results" / "height.txt").read_text())
    assert abs(height - 0.1) < 2e-3


def test_physim_run_reports_a_physim_error_without_a_trace(tmp_path):
    script = tmp_path / "bad.py"
    script.write_text("import physim as ps\nps.morphs.Box(size=(1, -1, 1))\n")
    result = run_physim("run", str(script), cwd=tmp_path)
    assert result.returncode == 1
    assert "Box.size" in result.stderr and "Traceback" not in result.stderr


def test_physim_run_missing_script(tmp_path):
    result = run_physim("run", "nope.py", cwd=tmp_path)
    assert result.returncode == 2 and "nope.py" in result.stderr


def test_physim_info_lists_backend_gl_and_versions(tmp_path):
    result = run_physim("info", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for key in ("physim", "taichi", "pyrender", "cuda devices", "gl platform"):
        assert key in result.stdout
    assert np.any([line.startswith("gl platform") and ("egl" in line or "osmesa" in line)
                   for line in result.stdout.splitlines()])
