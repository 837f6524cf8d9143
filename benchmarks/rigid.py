"""physim's rigid-body benchmark rows (scenes in ``benchmarks/layouts.py``), one JSON line per row and size.

    python benchmarks/rigid.py [--rows boxes,batched] [--n 64,512] [--steps S] [--time-limit SECONDS]

- build_s: scene creation, build and the first step (which compiles the kernels).
- steps_per_s: steps per second after the first; env_steps_per_s: times n_envs for ``batched``.
- at_rest / max_speed / min_z: the state after the last step (every body slower than 0.05 m/s, no cube
  centre below z = 0.04, no tabletop body below the table top).
- peak_rss_mb: peak resident memory of the process that measured the row.
- physim_version: the commit measured (``git describe --dirty``).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import layouts as lay
import numpy as np

# This checkout's physim, not the one an editable install points at (a second worktree measures itself).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import physim as ps  # noqa: E402
from physim.backend import runtime  # noqa: E402


def build_boxes(n: int) -> ps.Scene:
    scene = ps.Scene(sim_options=ps.options.SimOptions(dt=lay.DT, substeps=1))
    scene.add_entity(ps.morphs.Plane())
    for pos in lay.box_grid(n):
        scene.add_entity(ps.morphs.Box(size=(lay.BOX,) * 3, pos=tuple(pos)), material=ps.materials.Rigid(rho=lay.RHO))
    scene.build()
    return scene


def build_tabletop(n_envs: int) -> ps.Scene:
    scene = ps.Scene(sim_options=ps.options.SimOptions(dt=lay.DT, substeps=1))
    scene.add_entity(ps.morphs.Plane())
    scene.add_entity(ps.morphs.Box(size=lay.TABLE_SIZE, pos=(0, 0, lay.TABLE_TOP - lay.TABLE_SIZE[2] / 2), fixed=True))
    morphs = {"box": ps.morphs.Box, "sphere": ps.morphs.Sphere, "capsule": ps.morphs.Capsule,
              "cylinder": ps.morphs.Cylinder}
    for body in lay.tabletop():
        shape = {key: value for key, value in body.items() if key in ("size", "radius", "height")}
        scene.add_entity(morphs[body["kind"]](pos=body["pos"], quat=body["quat"], **shape),
                         material=ps.materials.Rigid(rho=lay.RHO))
    scene.build(n_envs=n_envs)
    return scene


def source_version() -> str:
    """The physim commit measured, ``-dirty`` when the working tree has changes."""
    done = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent)
    return done.stdout.strip() or "unknown"


def run(row: str, n: int, args) -> dict:
    ps.init(backend="cpu", precision="32", seed=0)
    start = time.perf_counter()
    scene = build_boxes(n) if row == "boxes" else build_tabletop(n)
    scene.step()
    build_s = time.perf_counter() - start
    result = lay.timed_steps(scene.step, args.steps - 1, args.time_limit)
    bodies = [entity for entity in scene.entities if not entity.morph.fixed]  # not the plane nor the table top
    pos = np.stack([entity.get_pos() for entity in bodies], axis=-2)
    vel = np.stack([entity.get_vel() for entity in bodies], axis=-2)
    check = lay.box_rest if row == "boxes" else lay.tabletop_rest
    return {"bodies": len(bodies), "build_s": round(build_s, 3), **result, **check(pos, vel),
            "device": f"physim, Taichi {runtime().arch} f32 ({lay.cpu_string()})", "physim_version": source_version()}


if __name__ == "__main__":
    lay.main("physim", run)
