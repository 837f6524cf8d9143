"""MPM benchmark rows, physim beside Genesis, one JSON line per row.

    python benchmarks/mpm.py [ROW ...] [--backend cpu|gpu] [--peers genesis|''] [--peer-python PATH] [--repeat N]
                             [--peer-repeat N]

Rows (``ROWS``): ``elastic_50k``, an elastic cube of 0.2 m (50,653 particles, lattice spacing 0.2/37 m) dropped
in a 64-cells-per-metre grid; ``sand_50k``, a sand column of 0.16 x 0.16 x 0.32 m (53,100 particles, same
spacing) collapsing on the floor; ``elastic_500k`` and ``sand_500k``, the same at 493,039 and 500,094 particles
(spacing 0.4/79 m, a 0.4 m cube and a 0.32 x 0.32 x 0.64 m column) in a 128-cells-per-metre grid, for fewer steps.
Figures: particle-substeps/s and particle-steps/s in steady state (after the first step, which compiles the
kernels), ms per substep, build time, first-step time, peak RSS of the process.

Each engine runs each row in its own process (so that peak memory is the row's own): physim with this
interpreter, Genesis with ``--peer-python`` (``benchmarks/peers/genesis_mpm.py``; set it up as
benchmarks/README.md says). ``ratio`` is physim's particle-substeps/s over Genesis's (above 1: physim is faster).
``--repeat N`` runs physim's rows N times and keeps the fastest (the machines here are shared); every figure of
the fastest run is reported, and ``repeats`` lists the particle-substeps/s of each run. ``--peer-repeat N`` does
the same for the peers. ``MPM_MODEL=neohooken``
times the other elastic model. ``--row NAME`` (internal) runs one physim row in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TI_SKIP_VERSION_CHECK", "ON")

HERE = Path(__file__).resolve().parent
_SMALL = dict(grid_density=64, particle_size=0.2 / 37, lower=(-0.25, -0.25, 0.0), upper=(0.25, 0.25, 0.5),
              dt=2e-3, substeps=10, steps=20)
_LARGE = dict(grid_density=128, particle_size=0.4 / 79, lower=(-0.3, -0.3, 0.0), upper=(0.3, 0.3, 0.7),
              dt=1e-3, substeps=10, steps=3)
_ELASTIC = dict(material="elastic", E=3e5, nu=0.2, rho=1000.0)
_SAND = dict(material="sand", E=1e6, nu=0.2, rho=1000.0, friction_angle=45.0)
ROWS = {
    "elastic_50k": dict(**_SMALL, **_ELASTIC, size=(0.2, 0.2, 0.2), pos=(0.0, 0.0, 0.3)),
    "sand_50k": dict(**_SMALL, **_SAND, size=(0.16, 0.16, 0.32), pos=(0.0, 0.0, 0.16)),
    "elastic_500k": dict(**_LARGE, **_ELASTIC, size=(0.4, 0.4, 0.4), pos=(0.0, 0.0, 0.45)),
    "sand_500k": dict(**_LARGE, **_SAND, size=(0.32, 0.32, 0.64), pos=(0.0, 0.0, 0.32)),
}
PEERS = {"genesis": HERE / "peers" / "genesis_mpm.py"}
KEPT = ("n_particles", "particle_steps_per_s", "ms_per_substep", "build_s", "first_step_s", "peak_rss_mb",
        "finite", "repeats", "error")


def run_row(name: str, backend: str) -> dict:
    """One row of physim in this process."""
    import numpy as np

    import physim as ps

    row = ROWS[name]
    ps.init(backend=backend, precision="32", seed=0)
    scene = ps.Scene(sim_options=ps.options.SimOptions(dt=row["dt"], substeps=row["substeps"]),
                     mpm_options=ps.options.MPMOptions(lower_bound=row["lower"], upper_bound=row["upper"],
                                                       grid_density=row["grid_density"],
                                                       particle_size=row["particle_size"]))
    if row["material"] == "elastic":
        material = ps.materials.MPM.Elastic(E=row["E"], nu=row["nu"], rho=row["rho"],
                                            model=os.environ.get("MPM_MODEL", "corotation"))
    else:
        material = ps.materials.MPM.Sand(E=row["E"], nu=row["nu"], rho=row["rho"],
                                         friction_angle=row["friction_angle"])
    body = scene.add_entity(ps.morphs.Box(size=row["size"], pos=row["pos"]), material=material)
    start = time.perf_counter()
    scene.build()
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    scene.step()
    body.get_particles_pos()
    first_step_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(row["steps"]):
        scene.step()
    x = body.get_particles_pos()  # waits for the last launch
    elapsed = time.perf_counter() - start
    solver = scene._mpm_solver
    count, steps, substeps = body.n_particles, row["steps"], solver.n_substeps
    from physim.backend import runtime

    return dict(engine="physim", row=name, device=runtime().arch, n_particles=count, grid=list(solver.grid_shape),
                substeps_per_step=substeps, steps=steps, particle_steps_per_s=round(count * steps / elapsed),
                particle_substeps_per_s=round(count * substeps * steps / elapsed),
                ms_per_substep=round(1e3 * elapsed / (steps * substeps), 3), build_s=round(build_s, 3),
                first_step_s=round(first_step_s, 3), finite=bool(np.isfinite(x).all()),
                peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))


def measure(command: list[str], timeout: float) -> dict:
    """A row in a fresh process: its JSON record, or an ``error`` saying why there is none."""
    if not Path(command[0]).is_file():
        return {"error": f"no interpreter at {command[0]} (set up the peers: see benchmarks/README.md)"}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=HERE.parent)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{") and '"engine"' in line:
            return json.loads(line)
    tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
    return {"error": f"exit {done.returncode}, no result: {' | '.join(tail)}"[:500]}


def fastest(command: list[str], repeat: int, timeout: float) -> dict:
    """The fastest of ``repeat`` runs of a row (the machines here are shared); ``repeats`` lists every run's
    particle-substeps/s."""
    runs = [measure(command, timeout) for _ in range(max(1, repeat))]
    best = max(runs, key=lambda record: record.get("particle_substeps_per_s") or 0)
    if len(runs) > 1:
        best["repeats"] = [record.get("particle_substeps_per_s") for record in runs]
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rows", nargs="*", help=f"rows to run (default: all of {', '.join(ROWS)})")
    parser.add_argument("--backend", default="cpu")
    parser.add_argument("--peers", default="genesis", help="comma-separated peers, or '' for physim alone")
    parser.add_argument("--peer-python", default="/tmp/gvenv/bin/python")
    parser.add_argument("--repeat", type=int, default=1, help="physim runs per row; the fastest is kept")
    parser.add_argument("--peer-repeat", type=int, default=1, help="runs per row of each peer; the fastest is kept")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds before a run's process is killed")
    parser.add_argument("--row", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.row:
        print(json.dumps(run_row(args.row, args.backend)), flush=True)
        return
    peers = [peer.strip() for peer in args.peers.split(",") if peer.strip()]
    for name in peers:
        if name not in PEERS:
            parser.error(f"--peers: unknown peer {name!r} ({', '.join(PEERS)})")
    for name in args.rows or list(ROWS):
        if name not in ROWS:
            parser.error(f"unknown row {name!r} ({', '.join(ROWS)})")
        records = {"physim": fastest([sys.executable, __file__, "--row", name, "--backend", args.backend],
                                     args.repeat, args.timeout)}
        records.update({peer: fastest([args.peer_python, str(PEERS[peer]), json.dumps({"name": name, **ROWS[name]})],
                                      args.peer_repeat, args.timeout) for peer in peers})
        physim = records["physim"]
        figure = {engine: record.get("particle_substeps_per_s") for engine, record in records.items()}
        ratio = {peer: round(figure["physim"] / figure[peer], 3) if figure["physim"] and figure[peer] else None
                 for peer in peers}
        details = {engine: {key: record[key] for key in KEPT if key in record} for engine, record in records.items()}
        print(json.dumps({"row": name, "figure": "particle_substeps_per_s", **figure, "ratio": ratio,
                          "details": details, "grid": physim.get("grid"), "device": physim.get("device")}),
              flush=True)


if __name__ == "__main__":
    main()
