"""Genesis (CPU backend, f32) on physim's SPH dam-break rows (``benchmarks/particles.py``): the same column,
tank, particle size, dt and substeps, Genesis's DFSPH (``pressure_solver="DFSPH"``), its defaults otherwise.

    /tmp/gvenv/bin/python benchmarks/peers/genesis_sph.py CELLS STEPS PARTICLE_SIZE DT SUBSTEPS

Genesis samples its own particles (and counts 0.8 of each particle's volume), so its particle count differs
a little from physim's; figures are per particle. Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time

import genesis as gs


def main() -> None:
    cells, steps = int(sys.argv[1]), int(sys.argv[2])
    size, dt, substeps = float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
    a = cells * size
    gs.init(backend=gs.cpu, precision="32", logging_level="warning")
    scene = gs.Scene(sim_options=gs.options.SimOptions(dt=dt, substeps=substeps),
                     sph_options=gs.options.SPHOptions(lower_bound=(0.0, 0.0, 0.0), upper_bound=(4 * a, a, 2.5 * a),
                                                       particle_size=size, pressure_solver="DFSPH"),
                     show_viewer=False)
    water = scene.add_entity(gs.morphs.Box(lower=(0.0, 0.0, 0.0), upper=(a, a, 2 * a)),
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
