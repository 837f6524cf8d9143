"""Synthetic-data throughput of the tabletop dataset scene (scenes/tabletop_dataset.py), one JSON line.

    python benchmarks/datagen.py [--episodes 4] [--frames 20] [--width 640 --height 480]

- images_per_s_in_process: camera images per second (each 640x480 RGB + 16-bit depth + instance
  segmentation + per-object visibility passes, PNG-encoded, annotated and written), episodes run in this
  process after a warm-up episode: the cost of one worker without start-up.
- images_per_s_1_worker / _2_workers: the same with `physim generate`'s local process pool, wall clock from
  the call to the last episode written, worker start-up (spawn, Taichi init, kernel cache load) included.
- scaling_1_to_2: the ratio of the two (2.0 is perfect; on a 2-core machine the renderer's own threads and
  the parent compete for the same cores).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TI_SKIP_VERSION_CHECK", "ON")

ROOT = Path(__file__).resolve().parents[1]
SCENE = ROOT / "scenes" / "tabletop_dataset.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    args = parser.parse_args()

    import physim as ps
    from physim.data import MemorySink, SceneScript, run_episode
    from physim.data.runner import generate

    ps.init(backend="cpu", precision="32", seed=0)
    params = {"width": args.width, "height": args.height, "frames": args.frames, "normals": False}
    script = SceneScript.read(SCENE, params)
    run_episode(script, 0, 1000, MemorySink())  # warm-up: kernels, GL context, shaders
    images, started = 0, time.perf_counter()
    for index in range(args.episodes):
        images += run_episode(script, 0, index, MemorySink())["images"]
    in_process = images / (time.perf_counter() - started)

    pooled = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory(prefix="physim-datagen-") as out:
            report = generate(SCENE, out, args.episodes, workers=workers, params=params, progress=False)
            pooled[workers] = report.images_per_s
    print(json.dumps({
        "benchmark": "datagen", "scene": "tabletop_dataset", "resolution": [args.width, args.height],
        "cameras": 3, "frames_per_episode": args.frames, "episodes": args.episodes,
        "images_per_s_in_process": round(in_process, 2),
        "images_per_s_1_worker": round(pooled[1], 2), "images_per_s_2_workers": round(pooled[2], 2),
        "scaling_1_to_2": round(pooled[2] / pooled[1], 2), "cpus": os.cpu_count(), "machine": platform.machine(),
    }))


if __name__ == "__main__":
    main()
