"""Particle solver benchmarks (SPH, PBD). Each row is a function returning a dict of figures; ``main`` runs
the rows asked for (all by default) and prints one JSON line.

    python benchmarks/particles.py [ROW ...] [--backend cpu|gpu] [--no-peers]

PBD rows: ``pbd_cloth``: a 100 x 100-vertex cloth (1 m square, 1 cm spacing, self-collision on) hanging from
two corners, dt 4 ms, 10 substeps: particle-substeps/s and particle-steps/s in steady state (after the first
step compiled the kernels), build, pinning (tethers included) and first-step times, and the largest edge
strain after the run. Where ``/tmp/gvenv`` holds Genesis, the same scene
runs in Genesis (``benchmarks/peers/genesis_pbd.py``) in a subprocess, and the ratio is reported.

SPH rows (``layouts.sph_layout``; Genesis's DFSPH on the same scene where its venv is there):
``sph_dam_break_50k`` and ``sph_dam_break_300k``, DFSPH dam breaks; ``sph_block_64k``, PEERS.md's row (a 0.4 m
cube of 64,000 particles, dt 4 ms, 10 substeps) landing on the floor. Particle-steps/s and particle-substeps/s
over the same steps from t = 0.1 s run eight times (the state restored before each), four times before the peer
and four after it (``sph_row`` says why), with each window's figure beside the total.
"""

from __future__ import annotations

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
sys.path.insert(0, str(HERE))
import layouts as lay  # noqa: E402

os.environ.setdefault("TI_SKIP_VERSION_CHECK", "ON")

GENESIS_PYTHON = Path("/tmp/gvenv/bin/python")
CLOTH_N, CLOTH_SIZE, CLOTH_DT, CLOTH_SUBSTEPS, CLOTH_PARTICLE = 100, 1.0, 4e-3, 10, 0.01


def cloth_obj(directory: Path) -> Path:
    """The benchmark cloth as an OBJ file (``assets/cloth/make_cloth.py``'s grid)."""
    sys.path.insert(0, str(HERE.parent / "assets" / "cloth"))
    from make_cloth import square_grid, write_obj

    path = directory / f"square_{CLOTH_N}.obj"
    write_obj(path, *square_grid(CLOTH_N, CLOTH_SIZE))
    return path


def pbd_cloth(steps: int = 30, peers: bool = True) -> dict:
    import physim as ps

    with tempfile.TemporaryDirectory() as tmp:
        path = cloth_obj(Path(tmp))
        scene = ps.Scene(sim_options=ps.options.SimOptions(dt=CLOTH_DT),
                         pbd_options=ps.options.PBDOptions(lower_bound=(-1, -1, 0), upper_bound=(1, 1, 2),
                                                           particle_size=CLOTH_PARTICLE, substeps=CLOTH_SUBSTEPS))
        cloth = scene.add_entity(ps.morphs.Mesh(file=str(path), pos=(0.0, 0.0, 1.5), euler=(90, 0, 0)),
                                 material=ps.materials.PBD.Cloth())
        start = time.perf_counter()
        scene.build()
        build_s = time.perf_counter() - start
    corners = [CLOTH_N * (CLOTH_N - 1), CLOTH_N * CLOTH_N - 1]
    start = time.perf_counter()
    cloth.fix_particles(corners)  # includes laying the tethers from the pins (geodesics over the mesh)
    pin_s = time.perf_counter() - start
    start = time.perf_counter()
    scene.step()
    cloth.get_particles_pos()
    first_step_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        scene.step()
    cloth.get_particles_pos()  # waits for the last launch
    elapsed = time.perf_counter() - start
    n = cloth.n_particles
    solver = scene._particle_solvers["PBD"]
    row = dict(n_particles=n, n_constraints=solver.n_constraints, n_colors=solver.n_colors,
               substeps_per_step=solver.n_substeps, steps=steps,
               particle_steps_per_s=round(n * steps / elapsed),
               particle_substeps_per_s=round(n * solver.n_substeps * steps / elapsed),
               build_s=round(build_s, 3), pin_s=round(pin_s, 3), first_step_s=round(first_step_s, 3),
               max_edge_strain=round(float(_max_edge_strain(cloth)), 4))
    if peers:
        row["genesis"] = genesis_pbd_cloth(steps)
        if "particle_substeps_per_s" in row["genesis"]:
            row["ratio_to_genesis"] = round(row["particle_substeps_per_s"] / row["genesis"]["particle_substeps_per_s"],
                                            2)
    return row


def _max_edge_strain(cloth) -> float:
    """Largest relative stretch of a mesh edge from its rest length (the cloth hangs from two corners)."""
    from physim.solvers.pbd.constraints import mesh_edges

    edges, rest, x = mesh_edges(cloth.faces), cloth.init_positions, cloth.get_particles_pos()
    length = np.linalg.norm(x[edges[:, 0]] - x[edges[:, 1]], axis=1)
    return float(np.max(length / np.linalg.norm(rest[edges[:, 0]] - rest[edges[:, 1]], axis=1) - 1.0))


def genesis_pbd_cloth(steps: int) -> dict:
    """The same cloth in Genesis (its CPU backend), or why not."""
    if not GENESIS_PYTHON.exists():
        return {"skipped": f"no Genesis venv at {GENESIS_PYTHON.parent.parent} (see /work/shared/PEERS.md)"}
    with tempfile.TemporaryDirectory() as tmp:
        path = cloth_obj(Path(tmp))
        command = [str(GENESIS_PYTHON), str(HERE / "peers" / "genesis_pbd.py"), str(path), str(steps),
                   str(CLOTH_N), str(CLOTH_DT), str(CLOTH_SUBSTEPS), str(CLOTH_PARTICLE)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=HERE.parent)
        except subprocess.TimeoutExpired:
            return {"failed": "timed out after 900 s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"failed": (done.stderr or done.stdout).strip().splitlines()[-1:]}
    return json.loads(lines[-1])


def sph_row(kind: str, cells: int, steps: int, peers: bool = True, windows: int = 8) -> dict:
    """An SPH (DFSPH) row of ``layouts.sph_layout``: steady-state particle-steps/s and particle-substeps/s over
    ``windows`` runs of the same ``steps`` steps from t = 0.1 s (the state restored before each), half of them
    before the peer's run and half after it, so that both engines are timed across the same stretch of the
    host's load; the mean solver iterations per substep, build and first-step times.

    Why windows: on the shared 2-core machines one engine's speed moves by a third from one minute to the
    next. One window of physim's (5 steps of the cube, about 5 s) against Genesis's same 5 steps (about 45 s)
    put the ratio anywhere from 7.6 to 11.5x in six runs of one day; physim's windows, as long in all as the
    peer's run and taken on both sides of it, are timed under the same conditions as the peer's."""
    import physim as ps

    layout = lay.sph_layout(kind, cells)
    substeps = layout["substeps"]
    scene = ps.Scene(sim_options=ps.options.SimOptions(dt=layout["dt"], substeps=substeps),
                     sph_options=ps.options.SPHOptions(lower_bound=layout["lower_bound"],
                                                       upper_bound=layout["upper_bound"], particle_size=lay.SPH_SIZE))
    water = scene.add_entity(ps.morphs.Box(lower=layout["box_lower"], upper=layout["box_upper"]),
                             material=ps.materials.SPH.Liquid())
    start = time.perf_counter()
    scene.build()
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    scene.step()
    water.get_particles_pos()
    first_step_s = time.perf_counter() - start
    while scene.t < 0.1 - 1e-9:
        scene.step()
    solver = scene._particle_solvers["SPH"]
    at_start = scene.get_state()
    iterations, elapsed = [], []

    def window() -> None:
        scene.set_state(at_start)
        start = time.perf_counter()
        for _ in range(steps):
            scene.step()
            iterations.append(solver.last_iterations)
        water.get_particles_pos()
        elapsed.append(time.perf_counter() - start)

    for _ in range(windows // 2):
        window()
    genesis = genesis_sph(kind, cells, steps) if peers else None
    for _ in range(windows - windows // 2):
        window()
    n = water.n_particles
    total = sum(elapsed)
    row = dict(n_particles=n, substeps_per_step=substeps, steps=steps, windows=windows,
               particle_steps_per_s=round(n * steps * windows / total),
               particle_substeps_per_s=round(n * substeps * steps * windows / total),
               window_particle_substeps_per_s=[round(n * substeps * steps / t) for t in elapsed],
               ms_per_substep=round(1e3 * total / (substeps * steps * windows), 2),
               mean_iterations_divergence_density=[round(float(x), 1) for x in np.mean(iterations, axis=0)],
               build_s=round(build_s, 3), first_step_s=round(first_step_s, 3))
    if genesis is not None:
        row["genesis"] = genesis
        if "particle_substeps_per_s" in genesis:
            row["ratio_to_genesis"] = round(row["particle_substeps_per_s"] / genesis["particle_substeps_per_s"], 2)
    return row


def genesis_sph(kind: str, cells: int, steps: int) -> dict:
    """The same SPH row in Genesis (its CPU backend, DFSPH), or why not."""
    if not GENESIS_PYTHON.exists():
        return {"skipped": f"no Genesis venv at {GENESIS_PYTHON.parent.parent} (see /work/shared/PEERS.md)"}
    command = [str(GENESIS_PYTHON), str(HERE / "peers" / "genesis_sph.py"), kind, str(cells), str(steps)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800, cwd=HERE.parent)
    except subprocess.TimeoutExpired:
        return {"failed": "timed out after 1800 s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"failed": (done.stderr or done.stdout).strip().splitlines()[-1:]}
    return json.loads(lines[-1])


def sph_dam_break_50k(peers: bool = True) -> dict:
    return sph_row("dam_break", 29, steps=10, peers=peers)  # 29 x 29 x 58 = 48,778 particles


def sph_dam_break_300k(peers: bool = True) -> dict:
    return sph_row("dam_break", 53, steps=4, peers=peers)  # 53 x 53 x 106 = 297,754 particles


def sph_block_64k(peers: bool = True) -> dict:
    return sph_row("block", 40, steps=5, peers=peers)  # 40^3 = 64,000 particles: PEERS.md's SPH row


ROWS = {"pbd_cloth": pbd_cloth, "sph_dam_break_50k": sph_dam_break_50k, "sph_dam_break_300k": sph_dam_break_300k,
        "sph_block_64k": sph_block_64k}


def main() -> dict:
    import physim as ps

    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    backend = sys.argv[sys.argv.index("--backend") + 1] if "--backend" in sys.argv else "cpu"
    args = [a for a in args if a != backend]
    ps.init(backend=backend, precision="32", seed=0)
    result = {"benchmark": "particles", "backend": backend}
    for name in args or list(ROWS):
        result[name] = ROWS[name](peers="--no-peers" not in sys.argv)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
