"""Figures of the hello scene (scenes/hello.py), printed as one JSON line.

    python benchmarks/hello.py [--steps 500] [--frames 60]

- ttfs_cold_s / ttfs_warm_s: time to first step (import, init, build, first step: kernel compilation)
  in a fresh process with an empty Taichi offline cache, then with the cache it left.
- steps_per_s: simulation steps per second after settling in, no rendering.
- frames_per_s: 640x480 RGB + depth renders per second (poses change every frame).
- first_render_s: creating the GL context and drawing the first frame.
- peak_rss_mb: peak resident memory of the measuring process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import runpy
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HELLO = ROOT / "scenes" / "hello.py"

FIRST_STEP = f"""
import time, runpy
start = time.perf_counter()
hello = runpy.run_path({str(HELLO)!r}, run_name="benchmark")
scene, camera = hello["build"]()
scene.step()
print(time.perf_counter() - start)
"""


def time_to_first_step(cache_dir: str) -> float:
    env = dict(os.environ, TI_SKIP_VERSION_CHECK="ON", TI_OFFLINE_CACHE_FILE_PATH=cache_dir)
    result = subprocess.run([sys.executable, "-c", FIRST_STEP], env=env, cwd=ROOT, capture_output=True, text=True,
                            check=True)
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--frames", type=int, default=60)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="physim-ticache-") as cache_dir:
        cold = time_to_first_step(cache_dir)
        warm = time_to_first_step(cache_dir)

    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))  # this checkout's physim, as the first-step runs (in ROOT) use
    hello = runpy.run_path(str(HELLO), run_name="benchmark")
    scene, camera = hello["build"]()
    for _ in range(50):
        scene.step()
    start = time.perf_counter()
    for _ in range(args.steps):
        scene.step()
    steps_per_s = args.steps / (time.perf_counter() - start)

    scene.reset()
    start = time.perf_counter()
    camera.render(rgb=True, depth=True)
    first_render = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(args.frames):
        scene.step()
        camera.render(rgb=True, depth=True)
    render_loop = time.perf_counter() - start
    step_time = args.frames / steps_per_s
    frames_per_s = args.frames / max(render_loop - step_time, 1e-9)

    import physim.backend

    print(json.dumps({
        "bench": "hello",
        "device": f"{physim.backend.runtime().arch} ({os.cpu_count()} cores, {platform.machine()})",
        "bodies": len(scene.entities),
        "ttfs_cold_s": round(cold, 2),
        "ttfs_warm_s": round(warm, 2),
        "steps_per_s": round(steps_per_s, 1),
        "frames_per_s_640x480_rgb_depth": round(frames_per_s, 1),
        "first_render_s": round(first_render, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    main()
