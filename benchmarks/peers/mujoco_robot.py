"""MuJoCo (one thread) on the robot benchmark: the same Franka file holding the "ready" pose with its position
actuators, dt 0.01, one world. One JSON line.

    /tmp/gvenv/bin/python benchmarks/peers/mujoco_robot.py --steps 300 --file .../panda.xml
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

import mujoco
import numpy as np

READY = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785, 0.04, 0.04])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=0)  # one world only
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--file", required=True)
    args = parser.parse_args()
    start = time.perf_counter()
    model = mujoco.MjModel.from_xml_path(args.file)
    model.opt.timestep = 0.01
    data = mujoco.MjData(model)
    data.qpos[:9] = READY
    data.ctrl[:7] = READY[:7]
    if model.nu > 7:
        data.ctrl[7] = 255.0  # the finger tendon actuator's "open"
    mujoco.mj_step(model, data)
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(args.steps):
        mujoco.mj_step(model, data)
    elapsed = time.perf_counter() - start
    print(json.dumps({"engine": "mujoco", "row": "franka", "n_envs": 0, "build_s": round(build_s, 3),
                      "steps": args.steps, "steps_per_s": round(args.steps / elapsed, 1),
                      "env_steps_per_s": round(args.steps / elapsed, 1),
                      "max_pose_error_rad": round(float(np.abs(data.qpos[:7] - READY[:7]).max()), 4),
                      "device": f"MuJoCo {mujoco.__version__} one thread ({os.cpu_count()} cores)",
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


if __name__ == "__main__":
    main()
