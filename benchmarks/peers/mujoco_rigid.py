"""MuJoCo (one thread) on physim's rigid benchmark rows: the scenes of ``benchmarks/layouts.py`` as MJCF strings.

    /tmp/gvenv/bin/python benchmarks/peers/mujoco_rigid.py [--rows boxes,batched] [--n 64,512] ...

MuJoCo has no batched step on the CPU: ``batched`` steps n_envs MjData of one model in turn (env_steps_per_s
is n_envs times steps_per_s). Its defaults otherwise (Euler, Newton solver, pyramidal cones, friction 1).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import mujoco
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import layouts as lay  # noqa: E402


def vec(values) -> str:
    return " ".join(f"{float(x):.6g}" for x in values)


def mjcf(bodies: str, memory_mb: int) -> str:
    return f"""<mujoco>
  <option timestep="{lay.DT}"/>
  <size memory="{memory_mb}M"/>
  <worldbody>
    <geom name="floor" type="plane" size="0 0 1"/>
{bodies}
  </worldbody>
</mujoco>"""


def boxes_xml(n: int) -> str:
    half = vec([lay.BOX / 2] * 3)
    geom = f'<geom type="box" size="{half}" density="{lay.RHO}"/>'
    bodies = "\n".join(f'    <body pos="{vec(p)}"><freejoint/>{geom}</body>' for p in lay.box_grid(n))
    return mjcf(bodies, memory_mb=max(16, n // 8))


def tabletop_xml() -> str:
    sx, sy, sz = lay.TABLE_SIZE
    lines = [f'    <geom type="box" size="{vec([sx / 2, sy / 2, sz / 2])}" pos="0 0 {lay.TABLE_TOP - sz / 2}"/>']
    for body in lay.tabletop():
        kind = body["kind"]
        if kind == "box":
            size = [s / 2 for s in body["size"]]
        elif kind == "sphere":
            size = [body["radius"]]
        else:  # capsule: half the distance between its hemisphere centres; cylinder: half its height
            size = [body["radius"], body["height"] / 2]
        lines.append(f'    <body pos="{vec(body["pos"])}" quat="{vec(body["quat"])}"><freejoint/>'
                     f'<geom type="{kind}" size="{vec(size)}" density="{lay.RHO}"/></body>')
    return mjcf("\n".join(lines), memory_mb=16)


def run(row: str, n: int, args) -> dict:
    start = time.perf_counter()
    model = mujoco.MjModel.from_xml_string(boxes_xml(n) if row == "boxes" else tabletop_xml())
    datas = [mujoco.MjData(model) for _ in range(1 if row == "boxes" else n)]
    for data in datas:
        mujoco.mj_step(model, data)
    build_s = time.perf_counter() - start

    def step() -> None:
        for data in datas:
            mujoco.mj_step(model, data)

    result = lay.timed_steps(step, args.steps - 1, args.time_limit)
    bodies = model.nbody - 1
    pos = np.stack([d.qpos.reshape(bodies, 7)[:, :3] for d in datas])
    vel = np.stack([d.qvel.reshape(bodies, 6)[:, :3] for d in datas])  # free joint: world-frame linear velocity
    check = lay.box_rest if row == "boxes" else lay.tabletop_rest
    return {"bodies": bodies, "build_s": round(build_s, 3), **result, **check(pos, vel),
            "device": f"MuJoCo {mujoco.__version__} CPU, 1 thread, f64 ({lay.cpu_string()})"}


if __name__ == "__main__":
    lay.main("mujoco", run)
