"""Taichi functions for rotations, shared by every solver. Quaternions are (w, x, y, z)."""


import taichi as ti


@ti.func
def quat_to_matrix(q):
    w, x, y, z = q[0], q[1], q[2], q[3]
    return ti.Matrix([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


@ti.func
def quat_multiply(a, b):
    return ti.Vector([
        a[0] * b[0] - a[1] * b[1] - a[2] * b[2] - a[3] * b[3],
        a[0] * b[1] + a[1] * b[0] + a[2] * b[3] - a[3] * b[2],
        a[0] * b[2] - a[1] * b[3] + a[2] * b[0] + a[3] * b[1],
        a[0] * b[3] + a[1] * b[2] - a[2] * b[1] + a[3] * b[0],
    ])


@ti.func
def quat_integrate(q, angular_velocity, dt):
    """Advance orientation q by a world-frame angular velocity (rad/s) over dt (s), renormalised."""
    spin = ti.Vector([0.0, angular_velocity[0], angular_velocity[1], angular_velocity[2]])
    q_next = q + 0.5 * dt * quat_multiply(spin, q)
    return q_next / q_next.norm()


@ti.func
def any_perpendicular(n):
    """A unit vector perpendicular to the unit vector n."""
    t = ti.Vector([0.0, n[2], -n[1]])
    if ti.abs(n[0]) > 0.57735:
        t = ti.Vector([n[1], -n[0], 0.0])
    return t.normalized()


@ti.func
def is_finite(x):
    """Whether a scalar is neither NaN nor infinite, robust to fast math (which lets the compiler assume
    ``isnan`` is always false). Checked in single precision: beyond 3.4e38 a state is lost anyway."""
    bits = ti.bit_cast(ti.cast(x, ti.f32), ti.i32)
    return (bits & 0x7F800000) != 0x7F800000
