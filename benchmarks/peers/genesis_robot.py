"""Genesis (CPU backend, f32) on the robot benchmark: its bundled Franka holding the "ready" pose under the
file's position actuators (PD), dt 0.01, batched. One JSON line.

    /tmp/gvenv/bin/python benchmarks/peers/genesis_robot.py --n 64 --steps 300 --file .../panda.xml
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

import genesis as gs
import numpy as np
import quadrants

READY = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785, 0.04, 0.04])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=0)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--file", required=True)
    args = parser.parse_args()
    gs.init(backend=gs.cpu, precision="32", logging_level="warning", seed=0)
    start = time.perf_counter()
    scene = gs.Scene(sim_options=gs.options.SimOptions(dt=0.01, substeps=1), show_viewer=False)
    scene.add_entity(gs.morphs.Plane())
    arm = scene.add_entity(gs.morphs.MJCF(file=args.file))
    scene.build(n_envs=args.n)
    pose = READY if args.n == 0 else np.tile(READY, (args.n, 1))
    arm.set_dofs_position(pose)
    arm.control_dofs_position(pose)
    scene.step()
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(args.steps):
        scene.step()
    quadrants.sync()
    elapsed = time.perf_counter() - start
    error = np.abs(arm.get_dofs_position().cpu().numpy() - pose)[..., :7].max()
    print(json.dumps({"engine": "genesis", "row": "franka", "n_envs": args.n, "build_s": round(build_s, 3),
                      "steps": args.steps, "steps_per_s": round(args.steps / elapsed, 1),
                      "env_steps_per_s": round(args.steps * max(args.n, 1) / elapsed, 1),
                      "max_pose_error_rad": round(float(error), 4),
                      "device": f"Genesis {gs.__version__} CPU f32 ({os.cpu_count()} cores)",
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


if __name__ == "__main__":
    main()
