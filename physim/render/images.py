"""Turning camera outputs into pictures people can look at, and saving PNGs atomically.

- depth: colour-mapped with Turbo, near = red/yellow through to far = dark blue, black where nothing is hit;
- segmentation: a distinct, stable colour per id (the same id always gets the same colour), black background;
- normals: ``(n + 1) / 2`` as RGB (x red, y green, z blue), black background.

``save_png`` writes to a temporary file in the target folder and renames it into place, so a crash
never leaves a truncated PNG under the final name.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from physim.errors import InvalidValueError
from physim.render.files import open_temp_beside

# Turbo colour map (Google, 2019) as its published polynomial fit; 256 entries, index 0 = low values.
_TURBO_R4 = np.array([0.13572138, 4.61539260, -42.66032258, 132.13108234])
_TURBO_G4 = np.array([0.09140261, 2.19418839, 4.84296658, -14.18503333])
_TURBO_B4 = np.array([0.10667330, 12.64194608, -60.58204836, 110.36276771])
_TURBO_R2 = np.array([-152.94239396, 59.28637943])
_TURBO_G2 = np.array([4.27729857, 2.82956604])
_TURBO_B2 = np.array([-89.90310912, 27.34824973])


def _turbo_lut() -> np.ndarray:
    x = np.linspace(0.0, 1.0, 256)
    v4 = np.stack([np.ones_like(x), x, x**2, x**3], axis=1)
    v2 = np.stack([x**4, x**5], axis=1)
    rgb = np.stack([v4 @ _TURBO_R4 + v2 @ _TURBO_R2, v4 @ _TURBO_G4 + v2 @ _TURBO_G2,
                    v4 @ _TURBO_B4 + v2 @ _TURBO_B2], axis=1)
    return np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)


_TURBO = _turbo_lut()


def depth_to_rgb(depth: np.ndarray, near: float | None = None, far: float | None = None) -> np.ndarray:
    """(H, W) depth in metres -> (H, W, 3) uint8; ``near``/``far`` (m) default to the nearest/farthest hit."""
    depth = np.asarray(depth, dtype=np.float32)
    if depth.ndim != 2:
        raise InvalidValueError(f"depth_to_rgb: depth must be (H, W), got shape {depth.shape}")
    hit = np.isfinite(depth) & (depth > 0)
    out = np.zeros((*depth.shape, 3), dtype=np.uint8)
    if not hit.any():
        return out
    lo = float(depth[hit].min()) if near is None else float(near)
    hi = float(depth[hit].max()) if far is None else float(far)
    span = max(hi - lo, 1e-9)
    closeness = 1.0 - np.clip((depth[hit] - lo) / span, 0.0, 1.0)  # 1 = near (red end of Turbo)
    out[hit] = _TURBO[np.round(closeness * 255.0).astype(np.intp)]
    return out


def segmentation_colors(ids: np.ndarray) -> np.ndarray:
    """A stable, well-spread RGB colour (uint8) per integer id; black for negative ids (background)."""
    ids = np.asarray(ids, dtype=np.int64)
    # Golden-ratio hue steps keep neighbouring ids far apart in hue; lightness varies in three bands.
    hue = np.mod(ids * 0.6180339887498949, 1.0)
    value = 0.95 - 0.2 * np.mod(ids // 7, 3) / 2.0
    saturation = 0.75
    sector = hue * 6.0
    c = value * saturation
    x = c * (1.0 - np.abs(np.mod(sector, 2.0) - 1.0))
    zeros = np.zeros_like(hue)
    index = np.floor(sector).astype(np.int64) % 6
    r = np.choose(index, [c, x, zeros, zeros, x, c])
    g = np.choose(index, [x, c, c, x, zeros, zeros])
    b = np.choose(index, [zeros, zeros, x, c, c, x])
    m = value - c
    rgb = np.stack([r + m, g + m, b + m], axis=-1)
    rgb[ids < 0] = 0.0
    return np.round(rgb * 255.0).astype(np.uint8)


def segmentation_to_rgb(segmentation: np.ndarray) -> np.ndarray:
    """(H, W) integer ids -> (H, W, 3) uint8, a distinct colour per id, black for -1 (background)."""
    segmentation = np.asarray(segmentation)
    if segmentation.ndim != 2 or not np.issubdtype(segmentation.dtype, np.integer):
        raise InvalidValueError(f"segmentation_to_rgb: segmentation must be (H, W) integers, got "
                                f"{segmentation.dtype} {segmentation.shape}")
    ids, inverse = np.unique(segmentation, return_inverse=True)
    return segmentation_colors(ids)[inverse.reshape(segmentation.shape)]


def normal_to_rgb(normal: np.ndarray) -> np.ndarray:
    """(H, W, 3) unit normals -> (H, W, 3) uint8 as (n + 1) / 2; black where the normal is zero (background)."""
    normal = np.asarray(normal, dtype=np.float32)
    if normal.ndim != 3 or normal.shape[2] != 3:
        raise InvalidValueError(f"normal_to_rgb: normal must be (H, W, 3), got shape {normal.shape}")
    out = np.round((np.clip(normal, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)
    out[~normal.any(axis=2)] = 0
    return out


def depth_to_millimetres(depth: np.ndarray) -> np.ndarray:
    """(H, W) depth in metres -> uint16 millimetres (0 = no hit, saturates at 65.535 m), the usual depth PNG."""
    depth = np.asarray(depth, dtype=np.float64)
    millimetres = np.where(np.isfinite(depth), np.round(depth * 1000.0), 0.0)
    return np.clip(millimetres, 0, 65535).astype(np.uint16)


def save_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write ``image`` ((H, W) uint8/uint16, (H, W, 3|4) uint8) to ``path`` atomically; returns the path."""
    from PIL import Image

    target = Path(path).expanduser().absolute()
    if target.suffix.lower() != ".png":
        raise InvalidValueError(f"save_png: {str(target)!r} must end in .png")
    image = np.asarray(image)
    valid = (image.dtype == np.uint8 and (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4)))) or \
            (image.dtype == np.uint16 and image.ndim == 2)
    if not valid:
        raise InvalidValueError(f"save_png: image must be (H, W) uint8/uint16 or (H, W, 3|4) uint8, got "
                                f"{image.dtype} {image.shape}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = open_temp_beside(target)
    except OSError as exc:
        raise InvalidValueError(f"save_png: cannot write {str(target)!r}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            Image.fromarray(np.ascontiguousarray(image)).save(stream, format="PNG")
        os.replace(temp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise InvalidValueError(f"save_png: cannot write {str(target)!r}: {exc}") from None
        raise
    return target
