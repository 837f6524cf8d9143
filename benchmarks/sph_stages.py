"""The SPH substep stage by stage, optionally against another commit's stages in the same process.

    python benchmarks/sph_stages.py [--layout block|dam_break] [--cells N] [--reps N] [--against REF]

Runs ``layouts.sph_layout`` (default: PEERS.md's 64k cube) to t = 0.1 s, then times each stage of the DFSPH
substep (search, divergence warm start, one divergence iteration, forces with the density warm start, one
density iteration, advection) ``--reps`` times on that same state, restored before each call. Prints one
JSON line: per stage the fastest and the median ms per call, and a substep's total (the iteration counts of
the benchmark rows: one divergence and two density iterations).

``--against REF`` builds REF's ``physim/solvers/sph/{kernels,stages,layout}.py`` (from git) into a second
set of stage kernels on the same arrays and interleaves its calls with the working tree's, call by call, so
the host's load falls on both alike; it reports both and the ratio of their medians. On the shared 2-core
machines one run of a whole benchmark moves by a third with the neighbours' memory traffic (the search
most), so a change under 10 % can only be judged this way. REF must take the same arrays.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
import layouts as lay  # noqa: E402

os.environ.setdefault("TI_SKIP_VERSION_CHECK", "ON")

STAGES = ("search", "warm_divergence", "divergence", "forces", "density", "advect")
PER_SUBSTEP = {"search": 1, "warm_divergence": 1, "divergence": 1, "forces": 1, "density": 2, "advect": 1}


def load_stage_kernels(ref: str, directory: Path):
    """REF's SPH kernels module, loaded under other module names so it stands beside the working tree's."""
    aliases = {"kernels": "K", "stages": "S", "layout": "L"}  # as the modules import one another
    for name in aliases:
        source = subprocess.run(["git", "-C", str(REPO), "show", f"{ref}:physim/solvers/sph/{name}.py"],
                                capture_output=True, text=True, check=True).stdout
        for other, alias in aliases.items():
            source = source.replace(f"from physim.solvers.sph import {other} as {alias}",
                                    f"import ref_sph_{other} as {alias}")
        (directory / f"ref_sph_{name}.py").write_text(source)
    sys.path.insert(0, str(directory))
    return importlib.import_module("ref_sph_kernels")


def kernel_arguments(module) -> set[str]:
    """The argument names of the module's ``stage_kernel``."""
    tree = ast.parse(Path(module.__file__).read_text())
    function = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "stage_kernel")
    return {argument.arg for argument in function.args.args}


def prepared_stages(module, solver) -> dict[int, object]:
    from physim.solvers.sph import kernels as K  # noqa: N812
    from physim.utils.launch import PreparedKernel

    arrays = solver.stage_arrays()
    wanted = kernel_arguments(module)
    missing = wanted - set(arrays) - {"dt", "warm_scale", "stage"}
    if missing:
        raise SystemExit(f"--against: that commit's stage_kernel takes arrays this solver lacks: {sorted(missing)}")
    return {stage: PreparedKernel(module.stage_kernel, optimize=True, stage=stage,
                                  **{k: v for k, v in arrays.items() if k in wanted})
            for stage in range(K.N_STAGES)}


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layout", default="block", choices=("block", "dam_break"))
    parser.add_argument("--cells", type=int, default=40, help="particles along the cube's edge (block)")
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--against", default=None, help="a git ref whose SPH stages to interleave")
    args = parser.parse_args()

    import taichi as ti

    import physim as ps
    from physim.solvers.sph import kernels as K  # noqa: N812
    from physim.utils.arrays import write

    ps.init(backend="cpu", precision="32", seed=0)
    layout = lay.sph_layout(args.layout, args.cells)
    scene = ps.Scene(sim_options=ps.options.SimOptions(dt=layout["dt"], substeps=layout["substeps"]),
                     sph_options=ps.options.SPHOptions(lower_bound=layout["lower_bound"],
                                                       upper_bound=layout["upper_bound"], particle_size=lay.SPH_SIZE))
    water = scene.add_entity(ps.morphs.Box(lower=layout["box_lower"], upper=layout["box_upper"]),
                             material=ps.materials.SPH.Liquid())
    scene.build()
    while scene.t < 0.1 - 1e-9:
        scene.step()
    solver = scene._particle_solvers["SPH"]
    dt = layout["dt"] / layout["substeps"]
    stage_ids = dict(zip(STAGES, (K.SEARCH, K.WARM_DIVERGENCE, K.DIVERGENCE, K.FORCES_AND_WARM_DENSITY, K.DENSITY,
                                  K.ADVECT)))
    # The warm-start scales of a substep as long as the last one (solver._substep).
    scales = {"warm_divergence": 0.5, "forces": 0.8}
    variants = {"tree": prepared_stages(K, solver)}
    with tempfile.TemporaryDirectory() as tmp:
        if args.against:
            variants[args.against] = prepared_stages(load_stage_kernels(args.against, Path(tmp)), solver)
        state = solver.get_state()

        def call(stages, name: str) -> float:
            solver.set_state(state)
            # A search leaves the cell counts at zero for the next one; a REF from before that leaves them set.
            write(solver._work["cells"], 0)
            stages[K.SEARCH](dt=dt, warm_scale=1.0)  # each variant's own lists for the state
            ti.sync()
            start = time.perf_counter()
            stages[stage_ids[name]](dt=dt, warm_scale=scales.get(name, 1.0))
            ti.sync()
            return (time.perf_counter() - start) * 1e3

        for stages in variants.values():  # compile
            for name in STAGES:
                call(stages, name)
        times = {variant: {name: [] for name in STAGES} for variant in variants}
        for rep in range(args.reps):
            order = list(variants) if rep % 2 == 0 else list(variants)[::-1]
            for name in STAGES:
                for variant in order:
                    times[variant][name].append(call(variants[variant], name))
    result = {"benchmark": "sph_stages", "layout": args.layout, "n_particles": water.n_particles, "reps": args.reps}
    for variant, by_stage in times.items():
        fastest = {name: round(min(t), 2) for name, t in by_stage.items()}
        median = {name: round(float(np.median(t)), 2) for name, t in by_stage.items()}
        result[variant] = {"fastest_ms": fastest, "median_ms": median,
                           "substep_fastest_ms": round(sum(PER_SUBSTEP[k] * v for k, v in fastest.items()), 1),
                           "substep_median_ms": round(sum(PER_SUBSTEP[k] * v for k, v in median.items()), 1)}
    if args.against:
        result["median_ratio_tree_to_ref"] = {
            name: round(result["tree"]["median_ms"][name] / result[args.against]["median_ms"][name], 3)
            for name in STAGES}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
