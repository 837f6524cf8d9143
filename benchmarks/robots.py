"""Robot benchmark: arms holding a pose under PD control, batched, and batched inverse kinematics.

    python benchmarks/robots.py [--rows arm7,franka,ik] [--n 0,64,1024] [--steps S] [--no-peers] [--cold]

One JSON line per (row, n), each measured in a fresh process:
- arm7: physim's 7-DoF arm (assets/robots/arm7.urdf), PD holding a bent pose, dt 0.01: env_steps_per_s.
- franka: Genesis's bundled Franka (franka_emika_panda/panda.xml, when /tmp/gvenv holds Genesis), loaded
  by physim's MJCF loader, PD holding Franka's "ready" pose with the file's actuator gains.
- ik: ``inverse_kinematics`` of arm7's hand, batched over n targets: ik_solves_per_s.
- build_s: scene creation, build and the first step (kernel compile: cold with ``--cold``, which points
  Taichi's offline cache at an empty folder, else warm).
With /tmp/gvenv (see /work/shared/PEERS.md), the same run measures Genesis and MuJoCo on the same Franka file
(``benchmarks/peers/genesis_robot.py``, ``mujoco_robot.py``) and prints ratio lines (physim / peer).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PEER_PYTHON = "/tmp/gvenv/bin/python"
DEFAULT_N = {"arm7": [0, 64, 1024], "franka": [0, 64, 512], "ik": [64, 1024]}
ARM7_POSE = np.array([0.3, 0.5, -0.2, -1.4, 0.1, 0.9, 0.2, 0.02, 0.02])
ARM7_KP = np.array([800, 800, 500, 500, 200, 200, 100, 400, 400], float)
ARM7_KV = np.array([57, 57, 45, 45, 28, 28, 20, 20, 20], float)
FRANKA_READY = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785, 0.04, 0.04])


def franka_file() -> str | None:
    found = glob.glob("/tmp/gvenv/lib/python3*/site-packages/genesis/assets/xml/franka_emika_panda/panda.xml")
    return found[0] if found else None


def measure(row: str, n: int, steps: int) -> dict:
    os.environ.setdefault("TI_SKIP_VERSION_CHECK", "ON")
    import physim as ps
    from physim.backend import runtime

    ps.init(backend="cpu", precision="32", seed=0)
    start = time.perf_counter()
    scene = ps.Scene(sim_options=ps.options.SimOptions(dt=0.01))
    scene.add_entity(ps.morphs.Plane())
    if row == "franka":
        arm = scene.add_entity(ps.morphs.MJCF(file=franka_file()))
        pose = FRANKA_READY
    else:
        arm = scene.add_entity(ps.morphs.URDF(file="robots/arm7.urdf", fixed=True))
        pose = ARM7_POSE
    scene.build(n_envs=0 if row == "ik" else n)  # IK is batched over its targets, not over envs
    if row != "franka":  # the Franka keeps its file's actuator gains
        arm.set_dofs_kp(ARM7_KP)
        arm.set_dofs_kv(ARM7_KV)
    arm.set_dofs_position(pose)
    arm.control_dofs_position(pose)
    scene.step()
    build_s = time.perf_counter() - start
    out = {"row": row, "n_envs": n, "build_s": round(build_s, 3)}
    if row == "ik":
        rng = np.random.default_rng(0)
        targets = np.array([0.45, 0.0, 0.35]) + rng.uniform(-0.1, 0.1, (n, 3))
        init = np.broadcast_to(arm.get_qpos(), (n, arm.n_qs))
        start = time.perf_counter()
        qpos = arm.kinematics.inverse_kinematics("tcp", targets, [0.0, 1.0, 0.0, 0.0], init_qpos=init,
                                                 max_iters=100)
        elapsed = time.perf_counter() - start
        reached = arm.kinematics.link_pose(qpos, "tcp")[0]
        error = np.linalg.norm(reached - targets, axis=-1)
        out.update(ik_solves_per_s=round(n / elapsed, 1), ik_median_error_mm=round(1000 * float(np.median(error)), 3),
                   ik_within_1mm=round(float(np.mean(error < 1e-3)), 3))
    else:
        start = time.perf_counter()
        for _ in range(steps):
            scene.step()
        elapsed = time.perf_counter() - start
        error = np.abs(arm.get_dofs_position() - pose)[..., :7].max()
        out.update(steps=steps, steps_per_s=round(steps / elapsed, 1),
                   env_steps_per_s=round(steps * max(n, 1) / elapsed, 1), max_pose_error_rad=round(float(error), 4))
    out.update(engine="physim", device=f"physim, Taichi {runtime().arch} f32 ({os.cpu_count()} cores)",
               peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))
    return out


def run_peers(ns: list[int], steps: int) -> list[dict]:
    results = []
    for script, sizes in (("genesis_robot.py", ns), ("mujoco_robot.py", [0])):
        for n in sizes:
            done = subprocess.run([PEER_PYTHON, str(HERE / "peers" / script), "--n", str(n), "--steps", str(steps),
                                   "--file", franka_file()], capture_output=True, text=True)
            lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
            if lines:
                results.append(json.loads(lines[-1]))
                print(lines[-1], flush=True)
            else:
                print(json.dumps({"engine": script, "n_envs": n, "error": done.stderr.strip()[-400:]}), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="arm7,franka,ik")
    parser.add_argument("--n", default=None, help="comma-separated n_envs (0: unbatched); default per row")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--cold", action="store_true", help="compile kernels with an empty offline cache")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # "row:n", run in this process
    args = parser.parse_args()
    if args.one:
        row, n = args.one.split(":")
        print(json.dumps(measure(row, int(n), args.steps)), flush=True)
        return
    rows = [row for row in args.rows.split(",") if row]
    if "franka" in rows and franka_file() is None:
        print(json.dumps({"row": "franka", "skipped": "no Genesis venv at /tmp/gvenv: its Franka file is missing"}))
        rows.remove("franka")
    env = dict(os.environ)
    results = []
    for row in rows:
        for n in ([int(x) for x in args.n.split(",")] if args.n else DEFAULT_N[row]):
            if args.cold:
                env["TI_OFFLINE_CACHE_FILE_PATH"] = tempfile.mkdtemp(prefix="physim_cold_cache_")
            done = subprocess.run([sys.executable, __file__, "--one", f"{row}:{n}", "--steps", str(args.steps)],
                                  capture_output=True, text=True, env=env, cwd=HERE.parent)
            lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
            print(lines[-1] if lines else json.dumps({"row": row, "n_envs": n, "error": done.stderr[-400:]}),
                  flush=True)
            if lines:
                results.append(json.loads(lines[-1]))
    if args.no_peers or "franka" not in rows:
        return
    if not os.path.exists(PEER_PYTHON):
        print(json.dumps({"peers": "skipped: no /tmp/gvenv (Genesis + MuJoCo venv, see /work/shared/PEERS.md)"}))
        return
    peers = run_peers(DEFAULT_N["franka"] if not args.n else [int(x) for x in args.n.split(",")], args.steps)
    mine = {r["n_envs"]: r["env_steps_per_s"] for r in results if r.get("row") == "franka" and "env_steps_per_s" in r}
    for peer in peers:
        if "env_steps_per_s" in peer and peer["n_envs"] in mine:
            print(json.dumps({"ratio": f"physim/{peer['engine']}", "row": "franka", "n_envs": peer["n_envs"],
                              "value": round(mine[peer["n_envs"]] / peer["env_steps_per_s"], 2)}))


if __name__ == "__main__":
    main()
