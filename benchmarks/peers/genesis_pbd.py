"""Genesis (CPU backend, f32) on physim's PBD cloth row (``benchmarks/particles.py``): the same cloth mesh
hanging from two corners, the same dt, substeps and particle size, Genesis's PBD defaults otherwise.

    /tmp/gvenv/bin/python benchmarks/peers/genesis_pbd.py CLOTH.obj STEPS N DT SUBSTEPS PARTICLE_SIZE

Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time

import genesis as gs


def main() -> None:
    path, steps, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    dt, substeps, particle_size = float(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
    gs.init(backend=gs.cpu, precision="32", logging_level="warning")
    scene = gs.Scene(sim_options=gs.options.SimOptions(dt=dt, substeps=substeps),
                     pbd_options=gs.options.PBDOptions(lower_bound=(-1, -1, 0), upper_bound=(1, 1, 2),
                                                       particle_size=particle_size),
                     show_viewer=False)
    cloth = scene.add_entity(gs.morphs.Mesh(file=path, pos=(0.0, 0.0, 1.5), euler=(90, 0, 0)),
                             material=gs.materials.PBD.Cloth())
    start = time.perf_counter()
    scene.build()
    build_s = time.perf_counter() - start
    x = cloth.get_particles_pos().cpu().numpy().reshape(-1, 3)
    top = x[:, 2].max()
    corners = [i for i in range(len(x)) if abs(x[i, 2] - top) < 1e-6 and abs(abs(x[i, 0]) - abs(x[:, 0]).max()) < 1e-6]
    cloth.fix_particles(corners)
    start = time.perf_counter()
    scene.step()
    first_step_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        scene.step()
    cloth.get_particles_pos()
    elapsed = time.perf_counter() - start
    count = len(x)
    print(json.dumps(dict(grid=n, n_particles=count, n_pinned=len(corners), substeps_per_step=substeps, steps=steps,
                          particle_steps_per_s=round(count * steps / elapsed),
                          particle_substeps_per_s=round(count * substeps * steps / elapsed),
                          build_s=round(build_s, 3), first_step_s=round(first_step_s, 3))))


if __name__ == "__main__":
    main()
