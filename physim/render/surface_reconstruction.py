"""The surface of a particle body (a liquid, a lump of sand or snow) rebuilt from its particles, for drawing.

The particles are spread onto a grid of half a particle spacing (cloud-in-cell: each particle's unit
weight shared between the eight nodes around it), the grid is smoothed by a Gaussian of 0.4 spacings, and
the surface is the level set at half the value inside the filled body (marching cubes, scikit-image). On the
lattice the particle solvers sample bodies with, a flat face of the body then lies half a spacing out from
its outer particles' centres (where the volume the particles stand for ends) to within 0.08 spacings, and
a lone particle (spray, a drop) is drawn as a ball of 0.35 spacings radius (measured).
"""

from __future__ import annotations

import numpy as np

VOXELS_PER_SPACING = 2
"""Grid nodes per particle spacing along each axis."""

SMOOTHING_SPACINGS = 0.4
"""The Gaussian's standard deviation, in particle spacings: wide enough to smooth the lattice's ripple out
of a flat face (0.45 would flatten it further), narrow enough that a lone particle's peak stays well above
the level (at 0.45 it falls below, and drops vanish)."""

LEVEL = 0.5
"""The surface's value, as a fraction of the smoothed value inside a filled body."""

MAX_NODES = 2**25
"""Largest grid (32M nodes, 128 MB of float32); a wider spread of particles gets a coarser grid."""


def reconstruct_surface(positions: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The surface around ``positions`` (n, 3), m, particles sampled ``spacing`` apart, m.

    Returns vertices (V, 3) float32, m; unit normals (V, 3) float32 pointing out of the body; faces (F, 3)
    int32 wound counter-clockwise seen from outside. Empty arrays when there are no particles.
    """
    from scipy import ndimage
    from skimage import measure

    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    if len(positions) == 0:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32)
    node_spacing = spacing / VOXELS_PER_SPACING
    margin = 4.0 * SMOOTHING_SPACINGS * spacing + 2.0 * node_spacing  # the Gaussian's reach, and a node spare
    lower, upper = positions.min(axis=0) - margin, positions.max(axis=0) + margin
    nodes = np.prod((upper - lower) / node_spacing)
    if nodes > MAX_NODES:
        node_spacing *= (nodes / MAX_NODES) ** (1.0 / 3.0)
    shape = tuple(int(s) for s in np.ceil((upper - lower) / node_spacing) + 1)

    # Cloud-in-cell: each particle's weight shared among the eight nodes around it, by trilinear weights.
    scaled = (positions - lower) / node_spacing
    base = np.floor(scaled).astype(np.int64)
    fraction = scaled - base
    density = np.zeros(int(np.prod(shape)), dtype=np.float64)
    for corner in range(8):
        offset = np.array([(corner >> axis) & 1 for axis in range(3)])
        weight = np.prod(np.where(offset == 1, fraction, 1.0 - fraction), axis=1)
        index = np.ravel_multi_index((base + offset).T, shape)
        density += np.bincount(index, weights=weight, minlength=density.size)
    density = ndimage.gaussian_filter(density.reshape(shape).astype(np.float32),
                                      SMOOTHING_SPACINGS * spacing / node_spacing, mode="constant")
    level = LEVEL * (node_spacing / spacing) ** 3  # particles per node inside a filled body, times LEVEL
    if density.max() <= level:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32)
    # The value falls outwards: scikit-image's normals (down the gradient) point out of the body; its
    # triangles come wound clockwise seen from outside, and are turned round.
    vertices, faces, normals, _ = measure.marching_cubes(density, level, spacing=(node_spacing,) * 3,
                                                         gradient_direction="descent", allow_degenerate=False)
    return (vertices + lower).astype(np.float32), normals.astype(np.float32), faces[:, ::-1].astype(np.int32)
