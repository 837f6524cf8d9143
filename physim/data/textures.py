"""Procedural textures for domain randomization: images drawn with numpy from a few parameters, cached on disk.

An image is a pure function of its parameters (a JSON-able dict, see :func:`draw_texture`), so it is stored
under the SHA-256 of those parameters: ``$PHYSIM_CACHE/textures/<hash>.png`` (``~/.cache/physim`` by default).
Every worker, on any machine, finds or redraws the same file; a dataset logs the parameters, never a path.

Every pattern tiles seamlessly (meshes' UVs go past [0, 1] and the renderer repeats the texture): cells,
stripes and noise lattices have a whole number of periods across the image.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from physim.data.errors import DatasetError
from physim.data.formats import png_bytes
from physim.errors import InvalidValueError

PATTERNS = ("checker", "stripes", "dots", "marble")
# Part of every cache key: bump it when a pattern's drawing changes, so old files are not reused.
TEXTURE_VERSION = 1


def texture_cache_dir() -> Path:
    """Where textures are cached: ``$PHYSIM_CACHE/textures`` (``~/.cache/physim/textures`` by default)."""
    return Path(os.environ.get("PHYSIM_CACHE", Path.home() / ".cache" / "physim")).expanduser() / "textures"


def texture_key(params: dict[str, Any]) -> str:
    """The SHA-256 (hex) naming the image that ``params`` draw."""
    canonical = json.dumps({"version": TEXTURE_VERSION, **params}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def texture_file(params: dict[str, Any]) -> Path:
    """The PNG drawn by ``params``, from the cache, or drawn and written there atomically (temp file + rename)."""
    folder = texture_cache_dir()
    path = folder / f"{texture_key(params)}.png"
    if path.is_file():
        return path
    data = png_bytes(draw_texture(params))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # Another process may write the same file at the same time: both write identical bytes, and each
        # renames its own complete temp file into place, so a reader never sees a partial PNG.
        handle = tempfile.NamedTemporaryFile(dir=folder, prefix=".", suffix=".png.tmp", delete=False)
        try:
            with handle:
                handle.write(data)
            os.replace(handle.name, path)
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise
    except OSError as error:
        raise DatasetError(f"cannot write the texture cache {str(folder)!r} (set PHYSIM_CACHE to a writable "
                           f"folder): {error}") from None
    return path


def draw_texture(params: dict[str, Any]) -> np.ndarray:
    """The (size, size, 3) uint8 RGB image that ``params`` describe.

    Common keys: ``pattern`` (one of PATTERNS), ``size`` (pixels), ``colors`` (two RGB triples in [0, 1]:
    background and foreground), ``repeats`` (periods across the image). Per pattern:
    checker: ``repeats`` even (cells across); stripes: ``wave`` = (kx, ky), whole periods along x and y,
    ``duty`` (fraction of foreground); dots: ``dot_radius`` (fraction of a cell); marble: ``noise_seed``
    and ``turbulence`` (how much the noise bends the veins), ``wave`` as for stripes.
    """
    pattern, size = params["pattern"], int(params["size"])
    background, foreground = (np.asarray(c, dtype=np.float64) for c in params["colors"])
    # pixel centres in [0, 1): the image is one period of the texture in u and v
    v, u = (np.mgrid[0:size, 0:size].astype(np.float64) + 0.5) / size
    repeats = int(params["repeats"])
    if pattern == "checker":
        weight = ((np.floor(u * repeats) + np.floor(v * repeats)) % 2).astype(np.float64)
    elif pattern == "stripes":
        kx, ky = params["wave"]
        weight = (np.mod(kx * u + ky * v, 1.0) < params["duty"]).astype(np.float64)
    elif pattern == "dots":
        du = np.mod(u * repeats, 1.0) - 0.5
        dv = np.mod(v * repeats, 1.0) - 0.5
        # a one-pixel soft edge (in cell units) keeps the dots round when the renderer filters them
        edge = repeats / size
        weight = np.clip((params["dot_radius"] - np.hypot(du, dv)) / edge + 0.5, 0.0, 1.0)
    elif pattern == "marble":
        kx, ky = params["wave"]
        noise = _fractal_noise(size, repeats, int(params["noise_seed"]))
        weight = 0.5 + 0.5 * np.sin(2.0 * np.pi * (kx * u + ky * v + params["turbulence"] * noise))
    else:
        raise InvalidValueError(f"draw_texture: unknown pattern {pattern!r} (known: {', '.join(PATTERNS)})")
    rgb = background + weight[..., None] * (foreground - background)
    return np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)


def _fractal_noise(size: int, cells: int, seed: int, octaves: int = 3) -> np.ndarray:
    """Periodic value noise in about [-1, 1]: random values on a ``cells`` x ``cells`` lattice (doubling each
    octave, half the amplitude), smoothly interpolated; the lattice wraps, so the image tiles."""
    generator = np.random.default_rng(seed)
    total = np.zeros((size, size))
    amplitude, norm = 1.0, 0.0
    for octave in range(octaves):
        n = cells * 2**octave
        lattice = generator.uniform(-1.0, 1.0, (n, n))
        position = (np.arange(size) + 0.5) * n / size
        index = np.floor(position).astype(np.int64)
        t = position - index
        t = t * t * (3.0 - 2.0 * t)  # smoothstep: no creases at lattice lines
        i0, i1 = index % n, (index + 1) % n
        rows0 = lattice[i0][:, i0] * (1 - t)[None, :] + lattice[i0][:, i1] * t[None, :]
        rows1 = lattice[i1][:, i0] * (1 - t)[None, :] + lattice[i1][:, i1] * t[None, :]
        total += amplitude * (rows0 * (1 - t)[:, None] + rows1 * t[:, None])
        norm += amplitude
        amplitude *= 0.5
    return total / norm
