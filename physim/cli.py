"""The ``physim`` command: ``physim run SCENE.py [--out DIR]``, ``physim info``, and the data pipeline's
``physim generate SCENE.py --episodes N --out DIR`` and ``physim inspect DIR`` (see docs/DATASET.md)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import runpy
import sys
import time
from importlib import metadata
from pathlib import Path

from physim.errors import PhysimError
from physim.utils.run import OUTPUT_ENV


def _run(args: argparse.Namespace) -> int:
    script = Path(args.scene)
    if not script.is_file():
        print(f"physim run: scene script not found: {str(script)!r}", file=sys.stderr)
        return 2
    os.environ[OUTPUT_ENV] = str(Path(args.out).resolve())
    Path(args.out).mkdir(parents=True, exist_ok=True)
    sys.argv = [str(script), *args.script_args]
    started = time.perf_counter()
    try:
        runpy.run_path(str(script), run_name="__main__")
    except PhysimError as error:
        print(f"physim run: {script}: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(f"physim run: {script} finished in {time.perf_counter() - started:.1f} s; outputs in {args.out}/")
    return 0


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _info(_args: argparse.Namespace) -> int:
    from physim import backend
    from physim.render import gl

    lines = {
        "physim": _version("physim"),
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "taichi": _version("taichi"),
        "numpy": _version("numpy"),
        "trimesh": _version("trimesh"),
        "pyrender": _version("pyrender"),
        "PyOpenGL": _version("PyOpenGL"),
        "imageio": _version("imageio"),
        "cuda devices": str(backend._cuda_device_count()),
        "compute backend for 'gpu'": "cuda" if backend._cuda_device_count() > 0 else "cpu (no CUDA device)",
    }
    try:
        lines.update({f"gl {key}": str(value) for key, value in gl.describe().items()})
    except PhysimError as error:
        lines["gl"] = f"unavailable: {error}"
    width = max(map(len, lines))
    for key, value in lines.items():
        print(f"{key:<{width}}  {value}")
    return 0


def _param(text: str) -> tuple[str, object]:
    """``KEY=VALUE``; VALUE is read as JSON when it parses (numbers, true/false, lists), else as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def _generate(args: argparse.Namespace) -> int:
    from physim.data.runner import generate

    if not Path(args.scene).is_file():
        print(f"physim generate: scene script not found: {args.scene!r}", file=sys.stderr)
        return 2
    try:
        report = generate(args.scene, args.out, args.episodes, seed=args.seed, workers=args.workers,
                          ray_address=args.ray, params=dict(args.param), retries=args.retries,
                          skip_failures=args.skip_failures, min_free_mb=args.min_free_mb, backend=args.backend,
                          progress=not args.quiet)
    except KeyboardInterrupt:
        print("physim generate: interrupted; finished episodes are kept. Rerun the same command to resume.",
              file=sys.stderr)
        return 130
    except PhysimError as error:
        print(f"physim generate: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0 if report.complete else 1


def _inspect(args: argparse.Namespace) -> int:
    from physim.data.inspect import format_summary, inspect_dataset

    try:
        summary = inspect_dataset(args.dataset, samples=args.samples, sheet=args.sheet, seed=args.seed,
                                  verify=args.verify)
    except PhysimError as error:
        print(f"physim inspect: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(json.dumps(summary) if args.json else format_summary(summary))
    return 1 if summary["corrupt_files"] else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="physim", description="physim: physics simulation and rendering")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a scene script")
    run.add_argument("scene", help="path of a Python scene script")
    run.add_argument("--out", default="out", help="folder the scene writes its outputs to (default: out)")
    run.set_defaults(handler=_run)
    info = commands.add_parser("info", help="print backend, GL platform and versions")
    info.set_defaults(handler=_info)

    gen = commands.add_parser("generate", help="generate a synthetic dataset from a dataset scene script",
                              description="Run episodes 0..N-1 of a dataset scene script (a file defining "
                              "episode(rng, writer)) and write them to DIR; rerunning resumes. See docs/DATASET.md.")
    gen.add_argument("scene", help="path of a dataset scene script")
    gen.add_argument("--episodes", type=int, required=True, help="number of episodes the dataset should hold")
    gen.add_argument("--out", required=True, help="dataset folder (created; resumed when it exists)")
    gen.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                     help="local worker processes (default: the CPU count; 0 runs in this process)")
    gen.add_argument("--ray", nargs="?", const="auto", default=None, metavar="ADDRESS",
                     help="run episodes as Ray tasks: 'auto' (default) joins the running cluster, 'local' starts "
                          "one here with --workers CPUs, or a cluster address (ray://host:10001)")
    gen.add_argument("--seed", type=int, default=0, help="dataset seed: episode i is a pure function of (seed, i)")
    gen.add_argument("--param", type=_param, action="append", default=[], metavar="KEY=VALUE",
                     help="override one of the scene script's PARAMS (repeatable)")
    gen.add_argument("--retries", type=int, default=1, help="further attempts for a failing episode (default 1)")
    gen.add_argument("--skip-failures", action="store_true",
                     help="give up on an episode that failed every attempt and go on (it is recorded in the "
                          "manifest and retried by the next run) instead of stopping")
    gen.add_argument("--min-free-mb", type=float, default=200.0,
                     help="refuse to start or go on with less free disk space (default 200 MB)")
    gen.add_argument("--backend", default="cpu", choices=["cpu", "gpu", "cuda", "vulkan"],
                     help="compute backend of each worker (default cpu)")
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    gen.set_defaults(handler=_generate)

    ins = commands.add_parser("inspect", help="summarise a dataset and draw a contact sheet")
    ins.add_argument("dataset", help="dataset folder written by physim generate")
    ins.add_argument("--samples", type=int, default=12, help="images on the contact sheet (0: none)")
    ins.add_argument("--sheet", default=None, help="contact sheet path (default DIR/contact_sheet.png)")
    ins.add_argument("--seed", type=int, default=0, help="seed choosing the samples")
    ins.add_argument("--verify", action="store_true", help="check every file against its recorded SHA-256")
    ins.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    ins.set_defaults(handler=_inspect)
    args, script_args = parser.parse_known_args(argv)
    if script_args and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(script_args)}")
    args.script_args = script_args  # what `run` does not know goes on to the scene script
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
