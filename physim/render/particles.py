"""Particle entities in the rasteriser: spheres at particle positions, a surface (cloth) whose vertices
are the particles, or a particle body's surface reconstructed each frame (``Surface(vis_mode="recon")``,
see surface_reconstruction.py).

Spheres are sphere impostors: one point per particle, which PhysimRenderer draws with its sprite
programs (shaders/sprites/: a square sprite over the sphere's projection, ray-traced per pixel, exact
silhouette, depth and normal). A particle then costs one vertex instead of 20-80 triangles, whose setup
dominated frames on software GL. Limit: GL caps a sprite's width (255 pixels on llvmpipe, see
GL_ALIASED_POINT_SIZE_RANGE); a sphere projecting wider than that (a close-up of a large particle) is
cut to that square. Instanced icospheres remain (``SPHERE_IMPOSTORS = False``) as the
reference the impostors are measured against (benchmarks/render_particles.py).

Particles buried inside a body are not drawn (``outer_particles``): a 500k-particle cube shows only the
third of its particles that lie in its outer shell, and drawing the rest costs time and changes next to no pixel.

All are built once as pyrender primitives. Per frame only their GPU buffers are rewritten in place
(``glBufferSubData``): the points' positions (12 bytes a particle), the instance matrices of the
icospheres, or the surface's interleaved positions and normals. Nothing is reallocated.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import trimesh

from physim.render.meshes import DEFAULT_GREY
from physim.render.surface_reconstruction import reconstruct_surface
from physim.scene.render_view import ParticleItem

SPHERE_IMPOSTORS = True
"""Draw particle spheres as impostors (points); False: instanced icospheres. Read when a drawable is built."""

FINE_SPHERE_LIMIT = 50_000
"""Up to this many particles an entity's spheres have 80 triangles each; beyond it, 20 (icosahedra)."""

HIDDEN_CELL_RADII = 3.0
"""Edge of the occupancy cells that decide which particles are buried, in drawn radii. Spheres of radius r
drawn at a lattice spacing of 2r (how the particle solvers draw them) put at least one particle in every
cell of 3r inside a body, so no cell inside reads as empty."""

HIDDEN_SHELL_CELLS = 3
"""Occupied cells this deep on every side make a particle buried. Between touching spheres a ray goes on
1.3 spacings on average before it hits one (mean free path 4/pi spacings in a cubic lattice), so a shell of
three cells (4.5 spacings and more) stops nearly every ray. Seen straight along a lattice's rows, rays thread
deeper; there two cells changed the depth of 5% of a cube's pixels and three change 0.2%, each time to the
same body's far side, in the same colour (tests/test_particle_render.py compares the pictures)."""

CULL_MAX_CELLS_PER_PARTICLE = 8
"""Spread-out clouds (spray, a few drops) bury nothing; their occupancy grid is not worth allocating."""


def _material(pyrender: Any, item: ParticleItem) -> Any:
    surface = item.surface
    rgba = surface.rgba if surface.rgba is not None else (*DEFAULT_GREY, surface.opacity)
    return pyrender.MetallicRoughnessMaterial(baseColorFactor=np.asarray(rgba, dtype=np.float64),
                                              metallicFactor=surface.metallic, roughnessFactor=surface.roughness,
                                              alphaMode="BLEND" if rgba[3] < 1.0 else "OPAQUE")


class ParticleDrawable:
    """One particle item as a pyrender mesh, with ``update(positions)`` to move it to a new frame."""

    def __init__(self, pyrender: Any, item: ParticleItem) -> None:
        self.item = item
        self.n = item.n_particles
        self.reconstruct = item.faces is None and item.reconstruct
        self.impostors = item.faces is None and not self.reconstruct and SPHERE_IMPOSTORS
        if self.reconstruct:
            # A placeholder triangle, hidden: each update builds the surface anew (its size changes).
            self._pyrender = pyrender
            primitive = pyrender.Primitive(positions=np.eye(3, dtype=np.float32), normals=np.eye(3, dtype=np.float32),
                                           indices=np.array([[0, 1, 2]]), material=_material(pyrender, item))
        elif self.impostors:
            self._points = np.zeros((max(self.n, 1), 3), dtype=np.float32)
            primitive = pyrender.Primitive(positions=self._points, material=_material(pyrender, item),
                                           mode=pyrender.constants.GLTF.POINTS)
            primitive.sprite_radius = float(item.radius)  # marks it for PhysimRenderer's sprite programs
        elif item.faces is None:
            subdivisions = 1 if self.n <= FINE_SPHERE_LIMIT else 0
            sphere = trimesh.creation.icosphere(subdivisions=subdivisions, radius=item.radius)
            # Instance matrices as OpenGL reads them (column-major): the translation is the fourth row.
            self._instances = np.tile(np.eye(4, dtype=np.float32), (self.n, 1, 1))
            self._drawn = self.n
            primitive = pyrender.Primitive(positions=sphere.vertices, normals=sphere.vertex_normals,
                                           indices=sphere.faces, material=_material(pyrender, item),
                                           poses=self._instances.transpose(0, 2, 1))
        else:
            faces = np.asarray(item.faces, dtype=np.int64)
            self._faces = faces
            # Both sides are real triangles (see meshes._two_sided): the back is lit and segmented too.
            indices = np.vstack([faces, faces[:, ::-1] + self.n])
            self._vertex_data = np.zeros((2 * self.n, 6), dtype=np.float32)  # position, normal
            primitive = pyrender.Primitive(positions=self._vertex_data[:, :3], normals=self._vertex_data[:, 3:],
                                           indices=indices, material=_material(pyrender, item))
        self.primitive = primitive
        self.mesh = pyrender.Mesh(primitives=[primitive], name=item.name)
        if self.reconstruct:
            self.mesh.is_visible = False

    def update(self, positions: np.ndarray) -> None:
        """Move to ``positions``, m: (n, 3) for a surface; up to (n, 3) for spheres (the first rows drawn)."""
        from OpenGL import GL

        primitive = self.primitive
        if self.reconstruct:
            self._update_surface(positions)
            return
        if self.item.faces is None:
            positions = positions[outer_particles(positions, self.item.radius)]
        if self.impostors:
            self._update_points(positions)
            return
        if self.item.faces is None:
            count = len(positions)
            if count != self._drawn:  # spheres past the last position shrink to nothing (scale 0)
                scale = (np.arange(self.n) < count).astype(np.float32)
                for axis in range(3):
                    self._instances[:, axis, axis] = scale
                self._drawn = count
            self._instances[:count, 3, :3] = positions
            if 0 < count < self.n:
                self._instances[count:, 3, :3] = positions[0]  # keeps the bounds (for shadows) tight
            data = self._instances
            buffer_index = 1  # pyrender's buffers: vertices, instance matrices, indices
            primitive._poses = self._instances.transpose(0, 2, 1)  # for bounds (shadow fitting)
        else:
            normals = _vertex_normals(positions, self._faces)
            self._vertex_data[: self.n, :3] = positions
            self._vertex_data[self.n:, :3] = positions
            self._vertex_data[: self.n, 3:] = normals
            self._vertex_data[self.n:, 3:] = -normals
            data = self._vertex_data
            buffer_index = 0
            primitive._positions = self._vertex_data[:, :3]
        primitive._bounds = None
        self.mesh._bounds = None
        if primitive._vaid is not None:  # already on the GPU: rewrite its buffer in place
            GL.glBindBuffer(GL.GL_ARRAY_BUFFER, primitive._buffers[buffer_index])
            GL.glBufferSubData(GL.GL_ARRAY_BUFFER, 0, data.nbytes, data)
            GL.glBindBuffer(GL.GL_ARRAY_BUFFER, 0)
        elif self.item.faces is not None:
            primitive.positions, primitive.normals = self._vertex_data[:, :3], self._vertex_data[:, 3:]
        else:
            primitive.poses = self._instances.transpose(0, 2, 1)

    def _update_surface(self, positions: np.ndarray) -> None:
        """Reconstruction: a new primitive for this frame's surface (the old one's GPU buffers are freed)."""
        vertices, normals, faces = reconstruct_surface(positions, 2.0 * self.item.radius)
        self.mesh.is_visible = len(faces) > 0
        if len(faces) == 0:
            return
        old = self.primitive
        self.primitive = self._pyrender.Primitive(positions=vertices, normals=normals, indices=faces,
                                                  material=old.material)
        if old._vaid is not None:  # already on the GPU (pyrender uploads a mesh's primitives once, when added)
            old._remove_from_context()
            self.primitive._add_to_context()
        self.mesh.primitives = [self.primitive]
        self.mesh._bounds = None

    def _update_points(self, positions: np.ndarray) -> None:
        """Impostors: upload the first ``len(positions)`` points and draw exactly those."""
        from OpenGL import GL

        primitive, count = self.primitive, len(positions)
        self.mesh.is_visible = count > 0
        if count == 0:
            return
        self._points[:count] = positions
        # The spheres' bounds (pyrender would take the points' alone): shadow maps are fitted to them.
        radius = self.item.radius
        primitive._bounds = np.array([self._points[:count].min(axis=0) - radius,
                                      self._points[:count].max(axis=0) + radius])
        self.mesh._bounds = None
        if primitive._vaid is not None:  # on the GPU: rewrite the points drawn, draw that many
            GL.glBindBuffer(GL.GL_ARRAY_BUFFER, primitive._buffers[0])
            GL.glBufferSubData(GL.GL_ARRAY_BUFFER, 0, 12 * count, self._points[:count])
            GL.glBindBuffer(GL.GL_ARRAY_BUFFER, 0)
            primitive._positions = self._points[:count]  # pyrender draws len(positions) points
        else:
            # pyrender sizes the GPU buffer from these at its first draw: all n points, the unused ones
            # copies of the first (drawn over it, invisible) until the next update draws exactly ``count``.
            self._points[count:] = self._points[0]
            primitive._positions = self._points


def outer_particles(positions: np.ndarray, radius: float) -> np.ndarray:
    """Which of ``positions`` (n, 3), m, spheres of ``radius`` drawn around them, could be seen: a boolean
    mask, False for particles buried under ``HIDDEN_SHELL_CELLS`` occupied cells on every side."""
    from scipy import ndimage

    visible = np.ones(len(positions), dtype=bool)
    if len(positions) == 0 or radius <= 0.0:
        return visible
    cell = HIDDEN_CELL_RADII * radius
    lower = positions.min(axis=0)
    keys = ((positions - lower) / cell).astype(np.int64)
    shape = keys.max(axis=0) + 1
    if np.any(shape <= 2 * HIDDEN_SHELL_CELLS) or np.prod(shape) > CULL_MAX_CELLS_PER_PARTICLE * len(positions):
        return visible
    occupied = np.zeros(shape, dtype=bool)
    occupied[keys[:, 0], keys[:, 1], keys[:, 2]] = True
    # A cell is buried when every cell within HIDDEN_SHELL_CELLS of it (a cube) is occupied; cells beyond the
    # grid's edge count as empty (border_value 0), so the outermost cells always stay drawn.
    buried = ndimage.binary_erosion(occupied, structure=np.ones((3, 3, 3), bool), iterations=HIDDEN_SHELL_CELLS,
                                    border_value=0)
    return ~buried[keys[:, 0], keys[:, 1], keys[:, 2]]


def _vertex_normals(positions: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals of a triangle mesh, unit length (zero for unused vertices)."""
    corners = positions[faces]
    face_normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals = np.zeros_like(positions)
    for axis in range(3):
        weights = np.repeat(face_normals[:, axis], 3)
        normals[:, axis] = np.bincount(faces.ravel(), weights=weights, minlength=len(positions))
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)
