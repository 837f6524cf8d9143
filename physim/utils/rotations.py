"""Rotations in numpy, for the host side (morph placement, getters, cameras).

Quaternions are ``(w, x, y, z)`` with unit norm, as in Genesis and MuJoCo. Euler angles are
extrinsic x-y-z rotations in degrees (roll about world x, then pitch about world y, then yaw
about world z), which is Genesis's convention for ``euler=``.
"""

from __future__ import annotations

import numpy as np


def quat_from_euler_deg(euler_xyz_deg: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z) of extrinsic x-y-z Euler angles given in degrees."""
    roll, pitch, yaw = np.radians(np.asarray(euler_xyz_deg, dtype=np.float64)) / 2.0
    cr, sr, cp, sp, cy, sy = np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
    return np.array([
        cr * cp * cy + sr * sp * sy,
        sr * cp * cy - cr * sp * sy,
        cr * sp * cy + sr * cp * sy,
        cr * cp * sy - sr * sp * cy,
    ])


def quat_to_matrix(quat: np.ndarray) -> np.ndarray:
    """Rotation matrices of unit quaternions; ``(..., 4) -> (..., 3, 3)``."""
    w, x, y, z = np.moveaxis(np.asarray(quat, dtype=np.float64), -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def normalize_quat(owner: str, field: str, quat: tuple[float, ...]) -> tuple[float, ...]:
    """Normalise a user-given quaternion; a zero quaternion is an error naming the field."""
    from physim.errors import InvalidValueError

    q = np.asarray(quat, dtype=np.float64)
    norm = np.linalg.norm(q)
    if norm < 1e-9:
        raise InvalidValueError(f"{owner}.{field}: a rotation quaternion must not be zero, got {quat!r}")
    return tuple(float(x) for x in q / norm)


def pose_matrix(pos: np.ndarray, quat: np.ndarray) -> np.ndarray:
    """Homogeneous transforms from positions and quaternions; ``(..., 3), (..., 4) -> (..., 4, 4)``."""
    pos = np.asarray(pos, dtype=np.float64)
    rot = quat_to_matrix(quat)
    out = np.zeros(pos.shape[:-1] + (4, 4))
    out[..., :3, :3] = rot
    out[..., :3, 3] = pos
    out[..., 3, 3] = 1.0
    return out
