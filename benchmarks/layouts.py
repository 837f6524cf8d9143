"""The rigid benchmark scenes as plain data, and the little harness every engine's script shares.

numpy and the standard library only: physim's ``benchmarks/rigid.py`` and the peer scripts under
``benchmarks/peers/`` (run in another venv) import it, so that every engine builds the same scene.

Rows (one JSON line per row and size):
- ``boxes``: N cubes of ``BOX`` m, ``RHO`` kg/m^3, default friction (1.0 everywhere), in a loose grid
  (``SPACING`` m apart, ``LAYERS`` layers, the lowest centred at z = ``Z0``) dropped on a plane;
  dt = ``DT``, 1 substep, ``BOX_STEPS`` steps, one env.
- ``batched``: a fixed box table top on a plane, 16 boxes / spheres / capsules / cylinders on it (two rows
  resting, two dropped from ``DROP`` m), ``BATCHED_STEPS`` steps in each of n_envs envs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np

BOX, RHO, DT = 0.1, 1000.0, 0.01
SPACING, LAYERS, Z0 = 0.15, 4, 0.1
BOX_STEPS, BATCHED_STEPS = 500, 200
TABLE_SIZE, TABLE_TOP = (1.0, 1.0, 0.1), 0.4  # table top box; z of its upper face
# SPH rows (``particles.py`` and ``peers/genesis_sph.py``): particle size, m.
SPH_SIZE = 0.01


def sph_layout(kind: str, cells: int) -> dict:
    """An SPH row's liquid box and domain, m, and its dt, s, and substeps; ``cells`` particles per edge.

    ``dam_break``: a column cells x cells x 2 cells at one end of a tank four columns long, dt 4 ms, 4
    substeps. ``block``: PEERS.md's SPH row (Genesis's SPH tutorial: a cube of 40 particles a side in a 1 m
    box, dt 4 ms, 10 substeps), with the cube's floor 5 cm up instead of 45 cm, so that it lands at t = 0.1 s
    and a peer taking seconds a step reaches the splash in minutes."""
    a = cells * SPH_SIZE
    if kind == "dam_break":
        return dict(lower_bound=(0.0, 0.0, 0.0), upper_bound=(4 * a, a, 2.5 * a), box_lower=(0.0, 0.0, 0.0),
                    box_upper=(a, a, 2 * a), dt=4e-3, substeps=4)
    if kind == "block":
        return dict(lower_bound=(-0.5, -0.5, 0.0), upper_bound=(0.5, 0.5, 1.0), box_lower=(-a / 2, -a / 2, 0.05),
                    box_upper=(a / 2, a / 2, 0.05 + a), dt=4e-3, substeps=10)
    raise ValueError(f"unknown SPH layout {kind!r}")
DROP = 0.1
REST_SPEED = 0.05  # m/s: a body slower than this is at rest
DEFAULT_N = {"boxes": (64, 512, 4096), "batched": (1, 64, 1024)}
STEPS = {"boxes": BOX_STEPS, "batched": BATCHED_STEPS}


def box_grid(n: int) -> np.ndarray:
    """Centres (n, 3) of n cubes: ``LAYERS`` layers of a square grid, filled layer by layer, centred on x = y = 0."""
    per_layer = -(-n // LAYERS)
    side = int(np.ceil(np.sqrt(per_layer)))
    index = np.arange(n)
    layer, slot = index // per_layer, index % per_layer
    offset = (side - 1) / 2
    return np.stack([(slot % side - offset) * SPACING, (slot // side - offset) * SPACING,
                     Z0 + layer * SPACING], axis=1)


def tabletop() -> list[dict]:
    """The 16 bodies of the ``batched`` scene: dicts with ``kind`` (box, sphere, capsule, cylinder), its sizes
    (``size`` edge lengths; ``radius``; ``height``: between the capsule's hemisphere centres, the cylinder's
    total), ``pos`` and ``quat`` (w, x, y, z). Capsules lie along x, cylinders stand."""
    lying = (np.cos(np.pi / 4), 0.0, np.sin(np.pi / 4), 0.0)  # +90 degrees about y: local z along world x
    bodies = []
    for index in range(16):
        row, col = divmod(index, 4)
        kind = ("box", "sphere", "capsule", "cylinder")[(index + row) % 4]
        body = {"kind": kind, "quat": (1.0, 0.0, 0.0, 0.0)}
        if kind == "box":
            body["size"], half_height = (0.08, 0.06, 0.05), 0.025
        elif kind == "sphere":
            body["radius"], half_height = 0.04, 0.04
        elif kind == "capsule":
            body.update(radius=0.03, height=0.1, quat=lying)
            half_height = 0.03
        else:
            body.update(radius=0.04, height=0.08)
            half_height = 0.04
        lift = 0.001 if row % 2 == 0 else DROP
        body["pos"] = ((col - 1.5) * 0.2, (row - 1.5) * 0.2, TABLE_TOP + half_height + lift)
        bodies.append(body)
    return bodies


def rest_summary(pos: np.ndarray, vel: np.ndarray, floor: float) -> dict:
    """At-rest check over bodies (any leading shape): every speed under ``REST_SPEED`` and no centre below ``floor``."""
    pos, vel = np.asarray(pos, np.float64).reshape(-1, 3), np.asarray(vel, np.float64).reshape(-1, 3)
    finite = bool(np.all(np.isfinite(pos)) and np.all(np.isfinite(vel)))
    max_speed = float(np.max(np.linalg.norm(vel, axis=1))) if finite else float("nan")
    min_z = float(np.min(pos[:, 2])) if finite else float("nan")
    return {"at_rest": finite and max_speed < REST_SPEED and min_z > floor,
            "max_speed": round(max_speed, 4), "min_z": round(min_z, 4)}


BOX_FLOOR = 0.04  # a cube's centre must stay above this (its half edge is 0.05)


def box_rest(pos: np.ndarray, vel: np.ndarray) -> dict:
    return rest_summary(pos, vel, BOX_FLOOR)


def tabletop_rest(pos: np.ndarray, vel: np.ndarray) -> dict:
    """Bodies (..., 16, 3) of the batched scene: at rest, and every one still on the table (centre above its top)."""
    return rest_summary(pos, vel, TABLE_TOP)


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def cpu_string() -> str:
    return f"{os.cpu_count()} cores, {platform.machine()}"


def timed_steps(step, steps: int, time_limit: float, sync=lambda: None) -> dict:
    """Call ``step()`` up to ``steps`` times (after the untimed first step), stopping early past ``time_limit`` s;
    ``sync()`` waits for the device before the clock stops."""
    start = time.perf_counter()
    done = 0
    while done < steps and time.perf_counter() - start < time_limit:
        step()
        done += 1
    sync()
    elapsed = time.perf_counter() - start
    return {"timed_steps": done, "steps_per_s": round(done / elapsed, 2), "capped": done < steps}


def main(engine: str, run, extra_args=None) -> None:
    """Command line shared by the engines' scripts: ``run(row, n, args) -> dict`` measures one row at one size.

    One (row, n) prints one JSON line. Several are run one after another, each in a fresh process, so that
    peak memory and build time belong to that run alone.
    """
    parser = argparse.ArgumentParser(description=f"{engine}: rigid benchmark rows, one JSON line per row and size")
    parser.add_argument("--rows", default="boxes,batched", help="comma-separated: boxes, batched")
    parser.add_argument("--n", default=None,
                        help="comma-separated sizes: boxes for 'boxes', n_envs for 'batched' (default: each row's)")
    parser.add_argument("--steps", type=int, default=None, help=f"steps after the first (default: {STEPS})")
    parser.add_argument("--time-limit", type=float, default=300.0,
                        help="seconds of stepping after which a row stops early and reports capped=true")
    if extra_args:
        extra_args(parser)
    args, rest = parser.parse_known_args()
    if rest:
        parser.error(f"unrecognised arguments: {' '.join(rest)}")
    rows = [row.strip() for row in args.rows.split(",") if row.strip()]
    for row in rows:
        if row not in DEFAULT_N:
            parser.error(f"--rows: unknown row {row!r} (choose from {', '.join(DEFAULT_N)})")
    runs = [(row, n) for row in rows
            for n in ([int(x) for x in args.n.split(",")] if args.n else DEFAULT_N[row])]
    if len(runs) > 1:
        argv = list(sys.argv[1:])
        for row, n in runs:
            subprocess.run([sys.executable, sys.argv[0], *argv, "--rows", row, "--n", str(n)], check=False)
        return
    row, n = runs[0]
    args.steps = args.steps or STEPS[row]
    start = time.perf_counter()
    try:
        result = run(row, n, args)
    except Exception as error:  # noqa: BLE001 - a failing row is a result too
        result = {"error": f"{type(error).__name__}: {error}"[:500]}
    record = {"engine": engine, "row": row, "n": n, **result, "wall_s": round(time.perf_counter() - start, 1),
              "peak_rss_mb": peak_rss_mb()}
    if "steps_per_s" in record:
        record["env_steps_per_s"] = round(record["steps_per_s"] * max(n if row == "batched" else 1, 1), 1)
    print(json.dumps(record), flush=True)
