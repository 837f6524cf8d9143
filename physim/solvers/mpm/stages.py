"""The three stages of an MLS-MPM substep (Hu et al. 2018), per particle or per grid node, as in
Taichi's mpm99/mpm128, in 3D and batched over envs:

    P2G   each particle scatters mass and APIC momentum (plus the stress impulse) to its 3x3x3 nodes,
          weighted by quadratic B-splines
    grid  node momentum -> velocity, gravity, walls (sticky / slip / separate)
    G2P   each particle gathers its new velocity and affine velocity field C, and moves

P2G comes in two forms. On a GPU, every particle scatters into the grid with atomic adds
(``particle_stress`` then ``p2g``). On a CPU, where a float atomic add is a compare-and-swap loop and
costs several times a plain add, each worker scatters its own slice of the particles into a private copy
of the grid with plain adds (``p2g_private``), and the grid update sums the copies in a fixed order
(``gather_grid_update``): no atomics, and the same rounding on every run.

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
def _affine_momentum(d: ti.template(), env, p):
    """The constitutive update and the particle's affine momentum matrix, stress impulse included
    (MLS-MPM; D^-1 = 4 / dx^2)."""
    dt, dx = d.params[L.DT], d.params[L.DX]
    tau = kirchhoff_stress(d, env, p, dt)
    return -dt * d.p_vol[p] * 4.0 / (dx * dx) * tau + d.p_mass[p] * d.C[env, p]


@ti.func
def particle_stress(d: ti.template(), env, p):
    """P2G, first half (no writes to shared nodes, so it runs fully parallel): the affine momentum matrix."""
    d.affine[env, p] = _affine_momentum(d, env, p)


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
def p2g_private(d: ti.template(), copy, env, p):
    """The whole P2G of one particle into grid copy ``copy``, which no other worker touches meanwhile:
    plain loads and stores (``a = a + b`` is not turned into an atomic add, ``a += b`` would be). Returns the
    stencil's base node."""
    dx = d.params[L.DX]
    base, fx, w = _stencil(d, d.x[env, p])
    mass = d.p_mass[p]
    affine = dx * _affine_momentum(d, env, p)
    # momentum + affine @ ((offset - fx) dx) = at_base + affine @ offset, the offset a compile-time constant:
    at_base = vec4(mass * d.v[env, p] - affine @ fx, mass)
    # The copies are one flat array (see layout.py): each node's index is the base node's plus a constant of
    # the offset, so the 27 read-modify-writes need no per-node index arithmetic.
    gy, gz = d.grid.shape[2], d.grid.shape[3]
    at_base_node = _copy_index(d, copy, env, base[0], base[1], base[2])
    # The momentum term and the weight are built axis by axis (x, then y, then z), sharing partial sums.
    column = [vec4(affine[0, a], affine[1, a], affine[2, a], 0.0) for a in ti.static(range(3))]
    for i in ti.static(range(3)):
        at_plane = at_base + float(i) * column[0] if ti.static(i > 0) else at_base
        for j in ti.static(range(3)):
            at_row = at_plane + float(j) * column[1] if ti.static(j > 0) else at_plane
            weight_row = w[i][0] * w[j][1]
            for k in ti.static(range(3)):
                at_node = at_row + float(k) * column[2] if ti.static(k > 0) else at_row
                index = at_base_node + (i * gy + j) * gz + k
                d.copies[index] = d.copies[index] + (weight_row * w[k][2]) * at_node
    return base


@ti.func
def _copy_index(d: ti.template(), copy, env, i, j, k):
    """Index of node (i, j, k) of env ``env`` in private grid ``copy``: copies are laid out (K, B, gx, gy, gz)."""
    return (((copy * d.grid.shape[0] + env) * d.grid.shape[1] + i) * d.grid.shape[2] + j) * d.grid.shape[3] + k


@ti.func
def grid_update(d: ti.template(), env, i, j, k):
    d.grid[env, i, j, k] = _node_velocity(d, i, j, k, d.grid[env, i, j, k])


@ti.func
def gather_grid_update(d: ti.template(), env, i, j, k):
    """Sum the node's private copies (in copy order, so the rounding is the same every run), clear them for
    the next substep, and update the node."""
    node_state = vec4(0.0)
    for copy in range(d.copies.shape[0] // d.grid.shape[0] // d.grid.shape[1] // d.grid.shape[2] // d.grid.shape[3]):
        index = _copy_index(d, copy, env, i, j, k)
        node_state += d.copies[index]
        d.copies[index] = vec4(0.0)
    d.grid[env, i, j, k] = _node_velocity(d, i, j, k, node_state)


@ti.func
def _node_velocity(d: ti.template(), i, j, k, node_state):
    """A node's (momentum, mass) -> (velocity, mass): gravity, then the walls."""
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
    return vec4(vel, mass)


@ti.func
def g2p(d: ti.template(), env, p):
    dt, dx = d.params[L.DT], d.params[L.DX]
    inv_dx = 1.0 / dx
    base, fx, w = _stencil(d, d.x[env, p])
    # C = 4 / dx^2 sum w v (offset - fx)^T dx = 4 / dx (sum w v offset^T - new_v fx^T). The weights factor
    # (w = wx wy wz), so both sums are taken axis by axis, z innermost: a row of three nodes, then a plane of
    # three rows. Column a of the moment sum weighs each node's velocity by its (compile-time) offset a.
    new_v = vec3(0.0)
    moment_x, moment_y, moment_z = vec3(0.0), vec3(0.0), vec3(0.0)
    for i in ti.static(range(3)):
        plane_v, plane_y, plane_z = vec3(0.0), vec3(0.0), vec3(0.0)
        for j in ti.static(range(3)):
            row_v, row_z = vec3(0.0), vec3(0.0)
            for k in ti.static(range(3)):
                weighted_v = w[k][2] * d.grid[env, base[0] + i, base[1] + j, base[2] + k].xyz
                row_v += weighted_v
                if ti.static(k > 0):
                    row_z += float(k) * weighted_v
            plane_v += w[j][1] * row_v
            plane_z += w[j][1] * row_z
            if ti.static(j > 0):
                plane_y += (float(j) * w[j][1]) * row_v
        new_v += w[i][0] * plane_v
        moment_y += w[i][0] * plane_y
        moment_z += w[i][0] * plane_z
        if ti.static(i > 0):
            moment_x += (float(i) * w[i][0]) * plane_v
    moment = ti.Matrix.cols([moment_x, moment_y, moment_z])
    new_C = 4.0 * inv_dx * (moment - new_v.outer_product(fx))
    d.v[env, p] = new_v
    d.C[env, p] = new_C
    lower = vec3(d.params[L.LOWER_X], d.params[L.LOWER_Y], d.params[L.LOWER_Z])
    upper = vec3(d.params[L.UPPER_X], d.params[L.UPPER_Y], d.params[L.UPPER_Z])
    d.x[env, p] = ti.min(ti.max(d.x[env, p] + dt * new_v, lower), upper)
