"""The ``physim`` command: ``physim run SCENE.py [--out DIR]`` and ``physim info``."""

from __future__ import annotations

import argparse
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="physim", description="physim: physics simulation and rendering")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a scene script")
    run.add_argument("scene", help="path of a Python scene script")
    run.add_argument("--out", default="out", help="folder the scene writes its outputs to (default: out)")
    run.set_defaults(handler=_run)
    info = commands.add_parser("info", help="print backend, GL platform and versions")
    info.set_defaults(handler=_info)
    args, script_args = parser.parse_known_args(argv)
    if script_args and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(script_args)}")
    args.script_args = script_args  # what `run` does not know goes on to the scene script
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
