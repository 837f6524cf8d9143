"""Genesis (CPU backend, f32) on physim's MPM rows (``benchmarks/mpm.py``): the same block of material, the same
walls, grid density, particle size, dt and substeps; Genesis's defaults otherwise.

    /tmp/gvenv/bin/python benchmarks/peers/genesis_mpm.py '<row as JSON>'

The row is the JSON ``benchmarks/mpm.py`` passes (see ``ROWS`` there). Genesis keeps particles 3 cells inside
its ``lower_bound``/``upper_bound`` (a safety padding inside the domain), so its bounds are widened by those 3 cells
here: its walls then stand where physim's do, and a block resting on the floor is accepted. Particles are sampled
on a regular lattice (``sampler="regular"``), as physim samples them. Prints one JSON line.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import genesis as gs
import numpy as np


def main() -> None:
    row = json.loads(sys.argv[1])
    gs.init(backend=gs.cpu, precision="32", logging_level="warning")
    padding = 3.0 / row["grid_density"]
    scene = gs.Scene(sim_options=gs.options.SimOptions(dt=row["dt"], substeps=row["substeps"]),
                     mpm_options=gs.options.MPMOptions(lower_bound=tuple(np.array(row["lower"]) - padding),
                                                       upper_bound=tuple(np.array(row["upper"]) + padding),
                                                       grid_density=row["grid_density"],
                                                       particle_size=row["particle_size"]),
                     show_viewer=False)
    if row["material"] == "elastic":
        material = gs.materials.MPM.Elastic(E=row["E"], nu=row["nu"], rho=row["rho"], sampler="regular")
    else:
        material = gs.materials.MPM.Sand(E=row["E"], nu=row["nu"], rho=row["rho"],
                                         friction_angle=row["friction_angle"], sampler="regular")
    body = scene.add_entity(gs.morphs.Box(size=tuple(row["size"]), pos=tuple(row["pos"])), material=material)
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
    x = body.get_particles_pos().cpu().numpy().reshape(-1, 3)  # waits for the last step
    elapsed = time.perf_counter() - start
    count = len(x)
    steps, substeps = row["steps"], row["substeps"]
    print(json.dumps(dict(engine="genesis", row=row["name"], n_particles=count, substeps_per_step=substeps,
                          steps=steps, particle_steps_per_s=round(count * steps / elapsed),
                          particle_substeps_per_s=round(count * substeps * steps / elapsed),
                          ms_per_substep=round(1e3 * elapsed / (steps * substeps), 3), build_s=round(build_s, 3),
                          first_step_s=round(first_step_s, 3), finite=bool(np.isfinite(x).all()),
                          peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))))


if __name__ == "__main__":
    main()
