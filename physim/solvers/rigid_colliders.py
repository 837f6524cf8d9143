"""The rigid bodies as particle solvers see them: the rigid solver's own arrays, read (and, for two-way
coupling, written) by the particle solvers' kernels.

MPM (``solvers/coupling.py``) and PBD take rigid geometry the same way: once per particle step the geoms'
world poses and bounds are refreshed from where the rigid step left the bodies (the rigid solver's
``update_kinematics``), then their kernels meet exactly the shapes rigid bodies collide with
(``collision.signed_distance``) and hand the momentum they exchange back to the bodies.

Handing momentum back goes through one mechanism: a particle kernel adds its impulse (world frame, N s, and
the angular impulse about the centre of mass, N m s) to the body's ``EXTERNAL_IMPULSE`` /
``EXTERNAL_ANG_IMPULSE`` slots of ``body_vec3``; the rigid solver's next substep turns them into velocity,
a free body's directly and an articulated link's through its tree (dqvel = M^-1 J_link^T [J; L]), so particles
push robots too. ``body_moves`` (``MOVES_STATIC`` / ``MOVES_FREE`` / ``MOVES_LINK`` per body) tells the
kernels which bodies take impulses at all.
"""

import warnings

import numpy as np
import taichi as ti

from physim.solvers.rigid import layout as R  # noqa: N812 - rigid slot names
from physim.solvers.rigid.collision import signed_distance
from physim.solvers.rigid.dynamics import update_kinematics
from physim.utils.arrays import read, scalar_type, upload
from physim.utils.launch import PreparedKernel

# Taichi warns that the array bundle is a plain Python call inside the kernel; that is the intent.
warnings.filterwarnings("ignore", message=r".*non-taichi function \"RigidView\"")
warnings.filterwarnings("ignore", message=r".*non-taichi function \"RigidGeoms\"")

vec3, vec4, mat3 = ti.math.vec3, ti.math.vec4, ti.math.mat3
nd = R.nd

MODEL_ARRAYS = ("body_inv_mass", "body_model_vec3", "body_model_mat3", "geom_model_int", "geom_model_scalar",
                "geom_model_vec3", "geom_model_quat", "planes")
STATE_ARRAYS = ("body_vec3", "body_quat")
WORK_ARRAYS = ("body_inv_inertia_world", "geom_vec3", "geom_rot", "geom_margin")


class RigidView:
    """The rigid arrays that ``dynamics.update_kinematics`` and ``collision.signed_distance`` use, and the
    bodies' masses and the geoms' friction, under the rigid solver's names (a compile-time bundle: build it
    inside a kernel straight into the ti.func call, as ``RigidArrays``). ``ARRAYS`` lists them in order."""

    ARRAYS = ("body_inv_mass", "body_model_vec3", "body_model_mat3", "geom_model_int", "geom_model_scalar",
              "geom_model_vec3", "geom_model_quat", "planes", "body_vec3", "body_quat", "body_inv_inertia_world",
              "geom_vec3", "geom_rot", "geom_margin", "params")

    def __init__(self, body_inv_mass, body_model_vec3, body_model_mat3, geom_model_int, geom_model_scalar,
                 geom_model_vec3, geom_model_quat, planes, body_vec3, body_quat, body_inv_inertia_world, geom_vec3,
                 geom_rot, geom_margin, params):
        self.body_inv_mass = body_inv_mass
        self.body_model_vec3 = body_model_vec3
        self.body_model_mat3 = body_model_mat3
        self.geom_model_int = geom_model_int
        self.geom_model_scalar = geom_model_scalar
        self.geom_model_vec3 = geom_model_vec3
        self.geom_model_quat = geom_model_quat
        self.planes = planes
        self.body_vec3 = body_vec3
        self.body_quat = body_quat
        self.body_inv_inertia_world = body_inv_inertia_world
        self.geom_vec3 = geom_vec3
        self.geom_rot = geom_rot
        self.geom_margin = geom_margin
        self.params = params


class RigidGeoms:
    """The rigid arrays ``collision.signed_distance`` reads, under its names (a compile-time bundle)."""

    def __init__(self, geom_model_int, geom_model_vec3, planes, geom_vec3, geom_rot):
        self.geom_model_int = geom_model_int
        self.geom_model_vec3 = geom_model_vec3
        self.planes = planes
        self.geom_vec3 = geom_vec3
        self.geom_rot = geom_rot


@ti.kernel
def _clearance(geom_model_int: nd(ti.i32, 2), geom_model_vec3: nd(vec3, 2), planes: nd(vec4, 1),
               geom_vec3: nd(vec3, 3), geom_rot: nd(mat3, 2), colliders: nd(ti.i32, 1), n_bounded: ti.i32,
               env: ti.i32, points: nd(vec3, 1), clearance: nd(None, 1)):
    """Each point's signed distance to the nearest bounded collider geom of one env, m (negative inside)."""
    for i in points:
        nearest = 1e30
        for k in range(n_bounded):
            distance, _ = signed_distance(RigidGeoms(geom_model_int, geom_model_vec3, planes, geom_vec3, geom_rot),
                                          env, colliders[k], points[i])
            nearest = ti.min(nearest, distance)
        clearance[i] = nearest


@ti.kernel
def _refresh_kinematics(body_inv_mass: nd(None, 1), body_model_vec3: nd(vec3, 2), body_model_mat3: nd(mat3, 2),
                        geom_model_int: nd(ti.i32, 2), geom_model_scalar: nd(None, 2), geom_model_vec3: nd(vec3, 2),
                        geom_model_quat: nd(vec4, 1), planes: nd(vec4, 1), body_vec3: nd(vec3, 3),
                        body_quat: nd(vec4, 2), body_inv_inertia_world: nd(mat3, 2), geom_vec3: nd(vec3, 3),
                        geom_rot: nd(mat3, 2), geom_margin: nd(None, 2), params: nd(None, 1)):
    """Geom poses, bounds and world inertias of the bodies where the rigid step left them."""
    for env in range(body_vec3.shape[0]):
        update_kinematics(RigidView(body_inv_mass, body_model_vec3, body_model_mat3, geom_model_int, geom_model_scalar,
                                    geom_model_vec3, geom_model_quat, planes, body_vec3, body_quat,
                                    body_inv_inertia_world, geom_vec3, geom_rot, geom_margin, params), env)


class RigidColliders:
    """A built rigid solver's arrays as particle kernels take them (``arrays``, by RigidView's names), the
    geoms particles collide with (``colliders``: every colliding geom, planes last), and ``refresh()``, the
    per-step update of the geoms' world poses."""

    def __init__(self, rigid_solver) -> None:
        self.solver = rigid_solver
        self.arrays = {**{name: rigid_solver._model[name] for name in MODEL_ARRAYS},
                       **{name: rigid_solver._state[name] for name in STATE_ARRAYS},
                       **{name: rigid_solver._work[name] for name in WORK_ARRAYS}, "params": rigid_solver._params}
        model = rigid_solver.model
        self.colliders = np.concatenate([model.bounded_geoms, model.unbounded_geoms]).astype(np.int32)
        self.n_bodies = int(rigid_solver.n_bodies)
        self.body_moves = upload(rigid_solver.body_moves(), ti.i32)  # (n_bodies,) MOVES_* per body
        self.refresh = PreparedKernel(_refresh_kinematics, **self.arrays)
        self.points = rigid_solver._model["points"]  # (P,) vec3: every geom's collider points, geom frame, m
        self.n_bounded = len(model.bounded_geoms)  # colliders[:n_bounded] are bounded (and have points)

    def clearance(self, points: np.ndarray, env: int = 0) -> np.ndarray:
        """Signed distance (m, negative inside) of each of ``points`` (k, 3), m, to the nearest bounded geom
        that particles collide with, where the bodies of ``env`` stand now (1e30 where there is none)."""
        points = np.asarray(points, self.solver.float_type).reshape(-1, 3)
        if len(points) == 0 or self.n_bounded == 0:
            return np.full(len(points), 1e30)
        self.refresh()
        clearance = ti.ndarray(scalar_type(self.solver.float_type), (len(points),))
        _clearance(*(self.arrays[name] for name in ("geom_model_int", "geom_model_vec3", "planes", "geom_vec3",
                                                     "geom_rot")),
                   upload(self.colliders, ti.i32), self.n_bounded, env, upload(points, vec3, 1), clearance)
        return read(clearance).astype(np.float64)

    def body_pose(self, body: int, envs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Frame position (len(envs), 3) and rotation matrix (len(envs), 3, 3) of one rigid body."""
        from physim.utils.rotations import quat_to_matrix

        pos, quat = self.solver.body_pose()
        return pos[envs, body], quat_to_matrix(quat[envs, body])


def placeholder_rigid_arrays(n_batch: int, float_type) -> dict:
    """Arrays of the right types for a scene without rigid geoms (the kernels then loop over none)."""
    from physim.utils.arrays import scalar_type

    f = scalar_type(float_type)
    arrays = dict(body_inv_mass=ti.ndarray(f, (1,)), body_model_vec3=ti.ndarray(vec3, (1, 1)),
                  body_model_mat3=ti.ndarray(mat3, (1, 2)), geom_model_int=ti.ndarray(ti.i32, (1, R.GEOM_INT_SLOTS)),
                  geom_model_scalar=ti.ndarray(f, (1, 3)), geom_model_vec3=ti.ndarray(vec3, (1, 4)),
                  geom_model_quat=ti.ndarray(vec4, (1,)), planes=ti.ndarray(vec4, (1,)),
                  body_vec3=ti.ndarray(vec3, (n_batch, 1, R.BODY_VEC3_SLOTS)), body_quat=ti.ndarray(vec4, (n_batch, 1)),
                  body_inv_inertia_world=ti.ndarray(mat3, (n_batch, 1)), geom_vec3=ti.ndarray(vec3, (n_batch, 1, 3)),
                  geom_rot=ti.ndarray(mat3, (n_batch, 1)), geom_margin=ti.ndarray(f, (n_batch, 1)))
    for array in arrays.values():
        array.fill(0)
    return arrays


def placeholder_body_moves() -> ti.Ndarray:
    """``RigidColliders.body_moves`` for a scene without rigid bodies: one static body."""
    moves = ti.ndarray(ti.i32, (1,))
    moves.fill(R.MOVES_STATIC)
    return moves
