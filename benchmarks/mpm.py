"""MPM benchmark: an elastic cube of 0.2 m (~50k particles) dropped in a 64-cells-per-metre grid.

Prints one JSON line: particle-substeps per second (steady state, after the first step compiled the
kernels), build and first-step (compile) times, and the process's peak RSS. ``MPM_MODEL=neohooken``
benchmarks the other elastic model.
"""

import json
import os
import resource
import sys
import time

os.environ.setdefault("TI_SKIP_VERSION_CHECK", "ON")

import physim as ps  # noqa: E402


def main(steps: int = 20, substeps: int = 10) -> dict:
    ps.init(backend=sys.argv[1] if len(sys.argv) > 1 else "cpu", precision="32", seed=0)
    scene = ps.Scene(sim_options=ps.options.SimOptions(dt=2e-3, substeps=substeps),
                     mpm_options=ps.options.MPMOptions(lower_bound=(-0.25, -0.25, 0.0), upper_bound=(0.25, 0.25, 0.5),
                                                       grid_density=64, particle_size=0.2 / 37))
    cube = scene.add_entity(ps.morphs.Box(size=(0.2, 0.2, 0.2), pos=(0.0, 0.0, 0.3)),
                            material=ps.materials.MPM.Elastic(E=3e5, nu=0.2, model=os.environ.get("MPM_MODEL",
                                                                                                  "corotation")))
    start = time.perf_counter()
    scene.build()
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    scene.step()
    cube.get_particles_pos()
    first_step_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        scene.step()
    cube.get_particles_pos()  # waits for the last launch
    elapsed = time.perf_counter() - start
    n_substeps = scene._mpm_solver.n_substeps
    result = dict(benchmark="mpm_elastic_cube", n_particles=cube.n_particles, grid=list(scene._mpm_solver.grid_shape),
                  substeps_per_step=n_substeps, steps=steps,
                  particle_substeps_per_s=round(cube.n_particles * n_substeps * steps / elapsed),
                  ms_per_substep=round(1e3 * elapsed / (steps * n_substeps), 3), build_s=round(build_s, 3),
                  first_step_s=round(first_step_s, 3),
                  peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
