"""The three stages of an MLS-MPM substep (Hu et al. 2018), per particle or per grid node, as in
Taichi's mpm99/mpm128, in 3D and batched over envs:

    P2G   each particle scatters mass and APIC momentum (plus the stress impulse) to its 3x3x3 nodes,
          weighted by quadratic B-splines
    grid  node momentum -> velocity, gravity, walls (sticky / slip / separate)
    G2P   each particle gathers its new velocity and affine velocity field C, and moves

Positions are kept inside the domain walls and stencil indices inside the grid, so even a blown-up
state (NaN, inf) can never write outside an array (on the CPU that would corrupt memory).
"""

import taichi as ti

from physim.solvers.mpm import layout as L  # noqa: N812
from physim.solvers.mpm.constitutive import kirchhoff_stress

vec3, vec4 = ti.math.vec3, ti.math.vec4


@ti.func
def _stencil(d: ti.template(), xp):
    """Base node index, fractional offset (grid units) and quadratic B-spline weights of a particle."""
    origin = vec3(d.params[L.ORIGIN_X], d.params[L.ORIGIN_Y], d.params[L.ORIGIN_Z])
    grid_pos = (xp - origin) / d.params[L.DX]
    base = ti.cast(ti.floor(grid_pos - 0.5), ti.i32)
    top = ti.Vector([d.grid.shape[1] - 3, d.grid.shape[2] - 3, d.grid.shape[3] - 3])
    base = ti.min(ti.max(base, 0), top)  # a no-op for particles inside the walls; a guard for the rest
    fx = grid_pos - base
    w = [0.5 * (1.5 - fx) ** 2, 0.75 - (fx - 1.0) ** 2, 0.5 * (fx - 0.5) ** 2]
    return base, fx, w


@ti.func
def particle_stress(d: ti.template(), env, p):
    """P2G, first half (no writes to shared nodes, so it runs fully parallel): the constitutive update and
    the particle's affine momentum matrix, stress impulse included (MLS-MPM; D^-1 = 4 / dx^2)."""
    dt, dx = d.params[L.DT], d.params[L.DX]
    tau = kirchhoff_stress(d, env, p, dt)
    d.affine[env, p] = -dt * d.p_vol[p] * 4.0 / (dx * dx) * tau + d.p_mass[p] * d.C[env, p]


@ti.func
def p2g(d: ti.template(), env, p):
    """P2G, second half: scatter mass and momentum to the 3x3x3 nodes around the particle."""
    dx = d.params[L.DX]
    base, fx, w = _stencil(d, d.x[env, p])
    mass = d.p_mass[p]
    affine = d.affine[env, p]
    momentum = mass * d.v[env, p]
    for offset in ti.static(ti.grouped(ti.ndrange(3, 3, 3))):
        dpos = (offset - fx) * dx
        weight = w[offset[0]][0] * w[offset[1]][1] * w[offset[2]][2]
        node = base + offset
        d.grid[env, node[0], node[1], node[2]] += weight * vec4(momentum + affine @ dpos, mass)


@ti.func
def grid_update(d: ti.template(), env, i, j, k):
    node_state = d.grid[env, i, j, k]
    mass = node_state[3]
    vel = vec3(0.0)
    if mass > 0:
        dt, dx = d.params[L.DT], d.params[L.DX]
        vel = node_state.xyz / mass + dt * vec3(d.params[L.GRAVITY_X], d.params[L.GRAVITY_Y],
                                                          d.params[L.GRAVITY_Z])
        node = ti.Vector([i, j, k])
        mode = d.int_params[L.BOUNDARY]
        for a in ti.static(range(3)):
            pos = d.params[L.ORIGIN_X + a] + node[a] * dx
            # Nodes on or beyond a wall (within a hundredth of a cell) carry the wall's condition.
            below = pos <= d.params[L.LOWER_X + a] + 0.01 * dx
            above = pos >= d.params[L.UPPER_X + a] - 0.01 * dx
            if below or above:
                if mode == L.STICKY:
                    vel = vec3(0.0)
                elif mode == L.SLIP or (below and vel[a] < 0) or (above and vel[a] > 0):
                    vel[a] = 0.0
    d.grid[env, i, j, k] = vec4(vel, mass)


@ti.func
def g2p(d: ti.template(), env, p):
    dt, dx = d.params[L.DT], d.params[L.DX]
    inv_dx = 1.0 / dx
    base, fx, w = _stencil(d, d.x[env, p])
    new_v = vec3(0.0)
    new_C = ti.Matrix.zero(float, 3, 3)
    for offset in ti.static(ti.grouped(ti.ndrange(3, 3, 3))):
        dpos = (offset - fx) * dx
        weight = w[offset[0]][0] * w[offset[1]][1] * w[offset[2]][2]
        node = base + offset
        grid_v = d.grid[env, node[0], node[1], node[2]].xyz
        new_v += weight * grid_v
        new_C += 4.0 * inv_dx * inv_dx * weight * grid_v.outer_product(dpos)
    d.v[env, p] = new_v
    d.C[env, p] = new_C
    lower = vec3(d.params[L.LOWER_X], d.params[L.LOWER_Y], d.params[L.LOWER_Z])
    upper = vec3(d.params[L.UPPER_X], d.params[L.UPPER_Y], d.params[L.UPPER_Z])
    d.x[env, p] = ti.min(ti.max(d.x[env, p] + dt * new_v, lower), upper)
