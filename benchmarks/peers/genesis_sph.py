"""Genesis (CPU backend, f32) on physim's SPH rows (``benchmarks/particles.py``): the same liquid box, domain,
particle size, dt and substeps (``layouts.sph_layout``), Genesis's DFSPH (``pressure_solver="DFSPH"``), its
defaults otherwise.

    /tmp/gvenv/bin/python benchmarks/peers/genesis_sph.py KIND CELLS STEPS

Genesis samples its own particles (and counts 0.8 of each particle's volume), so its particle count differs
a little from physim's; figures are per particle. Steps are timed from t = 0.1 s. Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import genesis as gs

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import layouts as lay  # noqa: E402


def main() -> None:
    kind, cells, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    layout = lay.sph_layout(kind, cells)
    dt, substeps = layout["dt"], layout["substeps"]
    gs.init(backend=gs.cpu, precision="32", logging_level="warning")
    scene = gs.Scene(sim_options=gs.options.SimOptions(dt=dt, substeps=substeps),
                     sph_options=gs.options.SPHOptions(lower_bound=layout["lower_bound"],
                                                       upper_bound=layout["upper_bound"], particle_size=lay.SPH_SIZE,
                                                       pressure_solver="DFSPH"),
                     show_viewer=False)
    water = scene.add_entity(gs.morphs.Box(lower=layout["box_lower"], upper=layout["box_upper"]),
                             material=gs.materials.SPH.Liquid())
    start = time.perf_counter()
    scene.build()
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    scene.step()
    water.get_particles_pos()
    first_step_s = time.perf_counter() - start
    for _ in range(round(0.1 / dt) - 1):  # to t = 0.1 s, as physim's row
        scene.step()
    start = time.perf_counter()
    for _ in range(steps):
        scene.step()
    water.get_particles_pos()
    elapsed = time.perf_counter() - start
    count = int(water.n_particles)
    print(json.dumps(dict(n_particles=count, substeps_per_step=substeps, steps=steps,
                          particle_steps_per_s=round(count * steps / elapsed),
                          particle_substeps_per_s=round(count * substeps * steps / elapsed),
                          build_s=round(build_s, 3), first_step_s=round(first_step_s, 3))))


if __name__ == "__main__":
    main()
