"""Genesis (CPU backend, f32) on physim's rigid benchmark rows: the scenes of ``benchmarks/layouts.py``.

    /tmp/gvenv/bin/python benchmarks/peers/genesis_rigid.py [--rows boxes,batched] [--n 64,512] \
        [--max-collision-pairs auto|default|K]

Genesis's defaults otherwise (its integrator, solver and cone). It has no capsule morph: capsules are one-body
MJCF strings. ``max_collision_pairs`` (Genesis's default: 150) fails at run time for 512 boxes ("Exceeding max
number of candidate contact points"); ``auto`` raises it to 12 per box for boxes rows above 64, ``default``
keeps Genesis's default, an integer sets it. The value used is reported.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import genesis as gs
import numpy as np
import quadrants

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import layouts as lay  # noqa: E402


def capsule_mjcf(radius: float, height: float) -> str:
    return (f'<mujoco><worldbody><body><freejoint/><geom type="capsule" size="{radius} {height / 2}" '
            f'density="{lay.RHO}"/></body></worldbody></mujoco>')


def collision_pairs(row: str, n: int, choice: str) -> int | None:
    if choice == "default":
        return None
    if choice == "auto":
        return 12 * n if row == "boxes" and n > 64 else None
    return int(choice)


def build(row: str, n: int, pairs: int | None):
    rigid = gs.options.RigidOptions() if pairs is None else gs.options.RigidOptions(max_collision_pairs=pairs)
    scene = gs.Scene(sim_options=gs.options.SimOptions(dt=lay.DT, substeps=1), rigid_options=rigid,
                     show_viewer=False)
    material = gs.materials.Rigid(rho=lay.RHO)
    scene.add_entity(gs.morphs.Plane())
    entities = []
    if row == "boxes":
        for pos in lay.box_grid(n):
            entities.append(scene.add_entity(gs.morphs.Box(size=(lay.BOX,) * 3, pos=tuple(pos)), material=material))
        scene.build()
        return scene, entities
    sz = lay.TABLE_SIZE[2]
    scene.add_entity(gs.morphs.Box(size=lay.TABLE_SIZE, pos=(0, 0, lay.TABLE_TOP - sz / 2), fixed=True))
    for body in lay.tabletop():
        pose = {"pos": body["pos"], "quat": body["quat"]}
        if body["kind"] == "box":
            morph = gs.morphs.Box(size=body["size"], **pose)
        elif body["kind"] == "sphere":
            morph = gs.morphs.Sphere(radius=body["radius"], **pose)
        elif body["kind"] == "cylinder":
            morph = gs.morphs.Cylinder(radius=body["radius"], height=body["height"], **pose)
        else:
            morph = gs.morphs.MJCF(file=capsule_mjcf(body["radius"], body["height"]), **pose)
        entities.append(scene.add_entity(morph, material=material))
    scene.build(n_envs=n)
    return scene, entities


def run(row: str, n: int, args) -> dict:
    gs.init(backend=gs.cpu, precision="32", logging_level="warning", seed=0)
    pairs = collision_pairs(row, n, args.max_collision_pairs)
    start = time.perf_counter()
    scene, entities = build(row, n, pairs)
    scene.step()
    build_s = time.perf_counter() - start

    result = lay.timed_steps(scene.step, args.steps - 1, args.time_limit, sync=quadrants.sync)
    pos = np.stack([e.get_pos().cpu().numpy() for e in entities], axis=-2)
    vel = np.stack([e.get_vel().cpu().numpy() for e in entities], axis=-2)
    check = lay.box_rest if row == "boxes" else lay.tabletop_rest
    return {"bodies": len(entities), "build_s": round(build_s, 3), **result, **check(pos, vel),
            "max_collision_pairs": pairs,
            "device": f"Genesis {gs.__version__} gs.cpu f32 ({lay.cpu_string()})"}


def options(parser) -> None:
    parser.add_argument("--max-collision-pairs", default="auto", help="auto (default), default, or an integer")


if __name__ == "__main__":
    lay.main("genesis", run, options)
