"""The stages of a DFSPH substep (Bender & Koschier 2017), per particle, batched over envs.

    search       counting sort of liquid and boundary particles into cells of the support radius (cell
                 counts, a prefix sum per env, a scatter), then each liquid particle's neighbour list, its
                 density and its DFSPH factor (the particles of a cell gather their candidates together)
    divergence   Jacobi iterations making the velocity field divergence-free (no compression rate)
    forces       gravity, viscosity, cohesion and XSPH velocity smoothing
    density      Jacobi iterations removing the compression the velocities would cause (constant density)
    advect       positions move; the domain walls stop what comes within a quarter particle size of them

Rigid boundaries are Akinci et al. 2012's: boundary particles on rigid surfaces, each standing for a volume
``b_volume`` (``boundary.py`` places and sizes them as the image of the liquid's first layer, so the liquid
meets a body where its volume ends), act as liquid at the liquid's own rest density and push with the
particle's own stiffness (k_b = 0: the push is the gradient of the particle's density constraint, and the
rigid body takes exactly its reaction through ``body_impulse``). Akinci's pressure mirroring (k_b = k_i, as
an image pushes) was tried: a floating box then rode 0.18 particle_size above its Archimedes draft, against
0.1 below with k_b = 0 (measured, particle_size 2 cm).

The domain walls are mirrors (the image method): near a wall, each liquid neighbour (and the particle itself)
has an image across it, which weighs, pushes and moves as its particle (normal velocity reversed). The
ghost-lattice wall this replaced pushed with the particle's stiffness only (k_b = 0); in a liquid under
pressure p that drives each wall layer into its wall with a force of p times the wall's kernel gradient sum,
so a resting tank sank by 2 mm and the released energy trembled on at 0.14 m/s (measured). Mirroring the
particle's own stiffness onto the wall (Akinci's p_b = p_i) balances that but is no longer the gradient of
the density constraint, and a resting tank gained energy (tried). Images do both: the walls are part of one
symmetric particle system.

The stiffness of a particle is ``kappa_i / rho_i`` of the paper; both solves change velocities by
``dv_i = -dt sum_j m_j (k_i + k_j) gradW_ij`` over liquid neighbours and images, plus
``-dt k_i rho0 V_b gradW_ib`` over rigid boundary particles.
"""

import math

import taichi as ti

from physim.solvers.sph import layout as L  # noqa: N812
from physim.utils.tmath import is_finite

vec3, vec4 = ti.math.vec3, ti.math.vec4


# ---------------------------------------------------------------------- kernels
@ti.dataclass
class CubicSpline:
    """Cubic spline (Monaghan 1992) of support radius ``support`` (m), scaled by ``norm`` (1/m^3) so the rest
    lattice sums to 1 / particle_size^3. Built once per particle (``cubic_spline``), so its constants are not
    read again from the parameter array after every store of a neighbour loop."""

    support: float
    inv_support: float
    norm: float

    @ti.func
    def w_and_slope(self, r):
        """The kernel at distance r, 1/m^3, and its slope dW/dr, 1/m^4."""
        q = r * self.inv_support
        w, slope = 0.0, 0.0
        if q <= 0.5:
            w = self.norm * (6.0 * q * q * q - 6.0 * q * q + 1.0)
            slope = 6.0 * self.norm * self.inv_support * q * (3.0 * q - 2.0)
        elif q <= 1.0:
            w = self.norm * 2.0 * (1.0 - q) ** 3
            slope = -6.0 * self.norm * self.inv_support * (1.0 - q) * (1.0 - q)
        return w, slope

    @ti.func
    def w(self, r):
        w, _ = self.w_and_slope(r)
        return w

    @ti.func
    def w_and_grad(self, rv, r):
        """The kernel at offset rv (of length r) and its gradient with respect to the first particle's
        position, 1/m^4."""
        w, slope = self.w_and_slope(r)
        grad = vec3(0.0)
        if r > 1e-9 * self.support:
            grad = slope / r * rv
        return w, grad


@ti.func
def cubic_spline(d: ti.template()):
    h = d.params[L.SUPPORT]
    return CubicSpline(support=h, inv_support=1.0 / h, norm=d.params[L.KERNEL_SCALE] * 8.0 / (math.pi * h * h * h))


@ti.func
def wall_sides(d: ti.template(), xp):
    """Per axis, the domain wall within the support radius of xp that images reflect across: 0 none,
    1 the lower wall, 2 the upper one (the nearer, should a domain be narrower than two support radii)."""
    h = d.params[L.SUPPORT]
    sides = ti.Vector([0, 0, 0])
    for a in ti.static(range(3)):
        below = xp[a] - d.params[L.LOWER_X + a]
        above = d.params[L.UPPER_X + a] - xp[a]
        if below < h and below <= above:
            sides[a] = 1
        elif above < h:
            sides[a] = 2
    return sides


@ti.func
def mirror(d: ti.template(), code):
    """The reflection across the walls of ``code`` (a base-3 digit per axis, as ``wall_sides``) as
    x -> sign * x + offset: sign -1 on each reflected axis, offset twice that wall's coordinate (m)."""
    sign, offset = vec3(1.0), vec3(0.0)
    for a in ti.static(range(3)):
        side = (code // (3**a)) % 3
        if side == 1:
            sign[a], offset[a] = -1.0, 2.0 * d.params[L.LOWER_X + a]
        elif side == 2:
            sign[a], offset[a] = -1.0, 2.0 * d.params[L.UPPER_X + a]
    return sign, offset


@ti.func
def reflect(d: ti.template(), xp, vp, code):
    """Position and velocity of the image of a particle at xp moving at vp across the walls of ``code``:
    mirrored position, normal velocity reversed."""
    sign, offset = mirror(d, code)
    return sign * xp + offset, sign * vp


@ti.func
def position(d: ti.template(), env, i):
    """Particle i's position, m (flat arrays of components: see ``layout``)."""
    row = env * d.active.shape[1] + i
    return vec3(d.x_x[row], d.x_y[row], d.x_z[row])


@ti.func
def velocity(d: ti.template(), env, i):
    """Particle i's velocity, m/s."""
    row = env * d.active.shape[1] + i
    return vec3(d.v_x[row], d.v_y[row], d.v_z[row])


@ti.func
def set_position(d: ti.template(), env, i, value):
    row = env * d.active.shape[1] + i
    d.x_x[row], d.x_y[row], d.x_z[row] = value[0], value[1], value[2]


@ti.func
def set_velocity(d: ti.template(), env, i, value):
    row = env * d.active.shape[1] + i
    d.v_x[row], d.v_y[row], d.v_z[row] = value[0], value[1], value[2]


@ti.func
def neighbour_velocity(d: ti.template(), env, code):
    """The velocity of neighbour entry ``code`` when it is a liquid particle or its image (the solves' inner
    loop: no position is read)."""
    n = d.int_params[L.N_LIQUID]
    j = code
    vj = vec3(0.0)
    if code < n:
        vj = velocity(d, env, j)
    else:
        offset = code - n - d.int_params[L.N_BOUNDARY]
        j = offset // L.N_IMAGE_CODES
        _, vj = reflect(d, vec3(0.0), velocity(d, env, j), offset % L.N_IMAGE_CODES)
    return vj


@ti.func
def neighbour_motion(d: ti.template(), env, code):
    """Liquid index, position and velocity of neighbour entry ``code``: a liquid particle (code < n) or the
    image of one across the domain walls (code >= n + nb)."""
    n = d.int_params[L.N_LIQUID]
    j = code
    xj, vj = vec3(0.0), vec3(0.0)
    if code < n:  # most neighbours: no reflection to work out (its integer divisions cost more than the rest)
        xj, vj = position(d, env, j), velocity(d, env, j)
    else:
        offset = code - n - d.int_params[L.N_BOUNDARY]
        j = offset // L.N_IMAGE_CODES
        xj, vj = reflect(d, position(d, env, j), velocity(d, env, j), offset % L.N_IMAGE_CODES)
    return j, xj, vj


@ti.func
def neighbour_gradient(d: ti.template(), k):
    """The weighted kernel gradient of list entry k, kg/m^4 (three arrays of scalars: see ``layout``)."""
    return vec3(d.neighbour_grad_x[k], d.neighbour_grad_y[k], d.neighbour_grad_z[k])


# ---------------------------------------------------------------------- neighbour search
@ti.dataclass
class NeighbourSums:
    """What a particle's search has tallied so far: entries listed, neighbours found (listed or not), and the
    sums of its density (kg/m^3) and DFSPH factor (kg/m^4 and kg^2/m^8)."""

    count: ti.i32
    found: ti.i32
    density: float
    grad_sum: vec3
    grad_sq: float


@ti.func
def list_neighbour(d: ti.template(), env, spline, start, room, mi, code, rv, weight, liquid, sums):
    """Count a neighbour at offset rv (m) from particle i (of mass mi, kg) and, where its list has room, list
    it as entry ``code`` with its kernel and gradient times ``weight`` (its mass, or rho0_i V_b for a boundary
    particle, kg); returns ``sums`` with it added."""
    sums.found += 1
    if sums.count < room:
        w, grad = spline.w_and_grad(rv, rv.norm())
        entry = start + sums.count
        d.neighbours[entry] = code
        d.neighbour_w[entry] = weight * w
        d.neighbour_grad_x[entry] = weight * grad[0]
        d.neighbour_grad_y[entry] = weight * grad[1]
        d.neighbour_grad_z[entry] = weight * grad[2]
        sums.count += 1
        sums.density += weight * w
        sums.grad_sum += weight * grad
        if liquid:  # a rigid boundary particle does not move with the pressure: no term of its own
            sums.grad_sq += mi * weight * grad.norm_sqr()
    return sums


@ti.func
def candidate_run(d: ti.template(), env, centre, low, high, column):
    """The slots (first, last) of the sorted arrays holding cells ``low`` to ``high`` of the z column
    ``column`` (0 to 8) of the nine around cell ``centre``."""
    bottom = cell_index(d, ti.Vector([centre[0] + column // 3 - 1, centre[1] + column % 3 - 1, low]))
    return d.cells[env, bottom, L.START], d.cells[env, bottom + high - low + 1, L.START]


@ti.func
def list_batch(d: ti.template(), env, i, xi, mi, rest, spline, start, room, batches: ti.template(), row, batched,
               liquid: ti.template(), sums):
    """List the liquid particles (``liquid``) or the rigid boundary particles among the first ``batched`` sorted
    slots of ``batches`` from ``row`` (candidates within reach of particle i at xi, i itself among them);
    returns ``sums`` with them added."""
    n = d.int_params[L.N_LIQUID]
    for b in range(batched):
        k = batches[row + b]
        j = d.sorted_ids[k]
        point = d.sorted_points[k]
        if ti.static(liquid):
            if j < n and j != i:
                sums = list_neighbour(d, env, spline, start, room, mi, j, xi - point.xyz, point.w, True, sums)
        elif j >= n:
            sums = list_neighbour(d, env, spline, start, room, mi, j, xi - point.xyz, rest * point.w, False, sums)
    return sums


@ti.func
def cell_coords(d: ti.template(), xp):
    """The cell holding xp: a support radius across, ``L.Z_CELLS_PER_SUPPORT`` of them to a support radius
    in height."""
    origin = vec3(d.params[L.ORIGIN_X], d.params[L.ORIGIN_Y], d.params[L.ORIGIN_Z])
    scale = vec3(1.0, 1.0, L.Z_CELLS_PER_SUPPORT) / d.params[L.CELL_SIZE]
    return ti.cast(ti.floor((xp - origin) * scale), ti.i32)


@ti.func
def liquid_cell(d: ti.template(), xp):
    """The cell of a liquid particle at xp: inside the walls, so at least a support radius of cells in from the
    grid's edge (the clamp guards against a NaN position only)."""
    margin = ti.Vector([1, 1, L.Z_CELLS_PER_SUPPORT])
    grid = ti.Vector([d.int_params[L.GRID_X], d.int_params[L.GRID_Y], d.int_params[L.GRID_Z]])
    return ti.max(ti.min(cell_coords(d, xp), grid - 1 - margin), margin)


@ti.func
def cell_index(d: ti.template(), c):
    return (c[0] * d.int_params[L.GRID_Y] + c[1]) * d.int_params[L.GRID_Z] + c[2]


@ti.func
def in_domain(d: ti.template(), xp):
    """Whether xp is inside the domain's walls (or on one)."""
    inside = True
    for a in ti.static(range(3)):
        inside = inside and d.params[L.LOWER_X + a] <= xp[a] <= d.params[L.UPPER_X + a]
    return inside


@ti.func
def in_grid(d: ti.template(), c):
    return (0 <= c[0] < d.int_params[L.GRID_X] and 0 <= c[1] < d.int_params[L.GRID_Y]
            and 0 <= c[2] < d.int_params[L.GRID_Z])


@ti.func
def bin_particle(d: ti.template(), env, p):
    """Count particle p (liquid when p < n, else boundary p - n) into its cell and remember its rank there.

    A rigid boundary particle beyond a domain wall is left out: there the wall's images of the liquid already
    stand, and counting both doubles the wall. A tank of rigid walls on the domain's walls (its inner faces on
    them) blew its water 20 cm up on the first step (measured)."""
    n = d.int_params[L.N_LIQUID]
    cell = L.OUTSIDE
    xp = vec3(0.0)
    counted = False
    if p < n:
        counted = d.active[env, p] != 0
        xp = position(d, env, p)
    else:
        xp = d.b_vec3[env, p - n, L.B_POS]
        counted = in_domain(d, xp)
    if counted:
        c = liquid_cell(d, xp) if p < n else cell_coords(d, xp)
        if in_grid(d, c):
            cell = cell_index(d, c)
            d.p_int[env, p, L.RANK] = ti.atomic_add(d.cells[env, cell, L.COUNT], 1)
    d.p_int[env, p, L.CELL] = cell


@ti.func
def column_count(d: ti.template(), env, column):
    """Count the particles of z column ``column`` (its cells are consecutive in cell order) into the START slot
    of its first cell, for ``column_starts``."""
    height = d.int_params[L.GRID_Z]
    total = 0
    for c in range(column * height, column * height + height):
        total += d.cells[env, c, L.COUNT]
    d.cells[env, column * height, L.START] = total


@ti.func
def column_starts(d: ti.template(), env):
    """Exclusive prefix sum of the env's column counts (serial: one env per thread, a column at a time, so the
    serial part of the scan is a z column's cells shorter than a scan of the cells), from the env's first slot
    of the sorted arrays; the cell past the last (``cells`` has one spare) starts where the env's run ends."""
    height = d.int_params[L.GRID_Z]
    n_columns = d.int_params[L.GRID_X] * d.int_params[L.GRID_Y]
    total = env * d.p_int.shape[1]
    for column in range(n_columns):
        count = d.cells[env, column * height, L.START]
        d.cells[env, column * height, L.START] = total
        total += count
    d.cells[env, n_columns * height, L.START] = total


@ti.func
def cell_starts(d: ti.template(), env, column):
    """The starts of z column ``column``'s cells from the column's start. A cell's run ends where the next
    cell's starts, so the counts are not read again: each goes back to zero for the next search's binning
    (which saves a pass clearing every cell)."""
    height = d.int_params[L.GRID_Z]
    start = d.cells[env, column * height, L.START]
    for c in range(column * height, column * height + height):
        count = d.cells[env, c, L.COUNT]
        d.cells[env, c, L.START] = start
        d.cells[env, c, L.COUNT] = 0
        start += count


@ti.func
def scatter(d: ti.template(), env, p):
    """Write particle p's index, position and weight at its place in cell order, so the neighbour search
    reads each cell's from one contiguous run of memory (the weights too: read by particle index, each
    neighbour's mass was a load from a 1 MB parameter array, outside the cache lines the search holds)."""
    cell = d.p_int[env, p, L.CELL]
    if cell != L.OUTSIDE:
        slot = d.cells[env, cell, L.START] + d.p_int[env, p, L.RANK]
        d.sorted_ids[slot] = p
        n = d.int_params[L.N_LIQUID]
        if p < n:
            d.sorted_points[slot] = vec4(position(d, env, p), d.p_param[p, L.MASS])
        else:
            d.sorted_points[slot] = vec4(d.b_vec3[env, p - n, L.B_POS], d.b_volume[p - n])


@ti.func
def list_room(found):
    """Entries a particle's list is laid out with after it found ``found`` neighbours."""
    return ti.min(found + L.LIST_SLACK, L.MAX_LIST_ROOM)


@ti.func
def lay_out_lists(d: ti.template(), env):
    """Place the env's neighbour lists one after another, each with the room its particle's last search
    needed (serial: one env per thread, like ``prefix_sum``). Lists past the arrays' end get no room: their
    particles overflow and the host enlarges the arrays."""
    capacity = d.neighbours.shape[0] // d.active.shape[0]
    first = env * capacity  # the env's run of the one-dimensional lists
    total = 0
    for i in range(d.active.shape[1]):
        d.list_start[env, i] = first + ti.min(total, capacity)
        total += list_room(d.p_int[env, i, L.FOUND])
    d.list_start[env, d.active.shape[1]] = first + ti.min(total, capacity)


@ti.func
def gather_neighbours_and_density(d: ti.template(), env, i, group: ti.template()):
    """Neighbour lists, densities and DFSPH factors of liquid particle i and the others of its group: up to
    ``group`` liquid particles of one cell, consecutive in cell order, listed by the first of them (the rest
    return at once). The particles of a cell have the same nine runs of candidates, and going through them
    once for the whole group, testing each candidate against every member, costs less than a pass per particle:
    starting each of the nine runs, not testing its candidates, is most of a pass (two particles sharing it
    took 1.35 passes' time, measured).
    """
    h = d.params[L.SUPPORT]
    if d.active[env, i] == 0:
        d.p_int[env, i, L.N_NEIGHBOURS] = 0
        d.p_int[env, i, L.N_LIQUID_NEIGHBOURS] = 0
        d.p_int[env, i, L.FOUND] = 0
    else:
        members = ti.Vector([i] * group, ti.i32)
        n_members = 1
        if ti.static(group > 1):
            n_members = group_members(d, env, i, members, group)
        if n_members > 0:
            centre = liquid_cell(d, position(d, env, i))  # the members' cell
            # The cells of a z column are consecutive in cell order, so the column's cells within a support
            # radius of the members in z are one run of the sorted arrays: nine runs cover the candidates (the
            # cell is at least a support radius inside the grid).
            low, high = centre[2], centre[2]
            # A member past n_members stands far away: nothing is in its reach.
            positions = ti.Matrix([[1e10] * 3] * group, float)
            for u in range(n_members):
                xu = position(d, env, members[u])
                low = ti.min(low, ti.max(centre[2] - L.Z_CELLS_PER_SUPPORT, cell_coords(d, xu - vec3(0, 0, h))[2]))
                high = ti.max(high, ti.min(centre[2] + L.Z_CELLS_PER_SUPPORT, cell_coords(d, xu + vec3(0, 0, h))[2]))
                for a in ti.static(range(3)):
                    positions[u, a] = xu[a]
            batches = ti.Vector([0] * (group * L.SEARCH_BATCH), ti.i32)
            batched = ti.Vector([0] * group, ti.i32)
            if ti.static(group == 1):
                gather_candidates(d, env, positions, centre, low, high, batches, batched, 1)
            else:
                if n_members == 1:
                    gather_candidates(d, env, positions, centre, low, high, batches, batched, 1)
                elif n_members == 2:
                    gather_candidates(d, env, positions, centre, low, high, batches, batched, 2)
                else:
                    gather_candidates(d, env, positions, centre, low, high, batches, batched, group)
            for u in range(n_members):
                list_neighbours_and_density(d, env, members[u], centre, low, high, batches, u * L.SEARCH_BATCH,
                                            batched[u])


@ti.func
def group_members(d: ti.template(), env, i, members: ti.template(), group: ti.template()):
    """The liquid particles listed with active liquid particle i, into ``members`` (i first), and how many:
    those of its group of ``group`` consecutive slots of its cell, when i is the group's first liquid
    particle; none when it is not (that one lists i)."""
    n = d.int_params[L.N_LIQUID]
    cell = d.p_int[env, i, L.CELL]
    cell_start = d.cells[env, cell, L.START]
    slot = cell_start + d.p_int[env, i, L.RANK]
    group_start = slot - d.p_int[env, i, L.RANK] % group
    count = 1
    for other in range(group_start, slot):
        if d.sorted_ids[other] < n:
            count = 0
    if count == 1:
        for other in range(slot + 1, ti.min(group_start + group, d.cells[env, cell + 1, L.START])):
            j = d.sorted_ids[other]
            if j < n:
                members[count] = j
                count += 1
    return count


@ti.func
def gather_candidates(d: ti.template(), env, positions: ti.template(), centre, low, high, batches: ti.template(),
                      batched: ti.template(), width: ti.template()):
    """The sorted slots of the candidates within reach of each of the first ``width`` rows of ``positions``,
    into its batch (``batches`` from ``u * SEARCH_BATCH``), and how many into ``batched[u]``.

    Gathered with no branch on the distance (each candidate's slot is written, and kept by counting it): which
    are in reach is a coin toss to the branch predictor, whose misses cost more than the stores. A batch that
    fills wraps round, and its particle gathers its candidates again (``gather_chunk``)."""
    h = d.params[L.SUPPORT]
    for column in range(9):
        first, last = candidate_run(d, env, centre, low, high, column)
        for k in range(first, last):
            xk = d.sorted_points[k].xyz
            for u in ti.static(range(width)):
                xu = vec3(positions[u, 0], positions[u, 1], positions[u, 2])
                batches[u * L.SEARCH_BATCH + (batched[u] & (L.SEARCH_BATCH - 1))] = k
                batched[u] += ti.cast((xu - xk).norm_sqr() < h * h, ti.i32)


@ti.func
def list_neighbours_and_density(d: ti.template(), env, i, centre, low, high, batches: ti.template(), row, batched):
    """Neighbour list, density and DFSPH factor of active liquid particle i (its liquid neighbours first, then
    the rigid boundary particles, then wall images) from its ``batched`` candidates in reach, gathered into
    ``batches`` from ``row``; records how many neighbours it found.

    The domain walls are mirrors: every liquid particle within the support radius of a wall near i (i
    itself included) has an image across it, and across each pair and the triple of near walls at a corner.
    An image weighs, pushes and moves as its particle does (normal velocity reversed), so the walls are part
    of one symmetric particle system: a pressure presses a wall layer no harder into the wall than away from
    it, the pressure force stays the gradient of the density constraint (a still liquid does not gain or
    lose energy to the walls), and liquid sampled against a wall starts at exactly the bulk's density. Only
    direct neighbours and i can have images within reach: reflecting never brings a particle closer.
    """
    n = d.int_params[L.N_LIQUID]
    image_base = n + d.int_params[L.N_BOUNDARY]
    h = d.params[L.SUPPORT]
    spline = cubic_spline(d)
    start = d.list_start[env, i]
    room = d.list_start[env, i + 1] - start
    sums = NeighbourSums(count=0, found=0, density=0.0, grad_sum=vec3(0.0), grad_sq=0.0)
    liquid_count = 0
    xi = position(d, env, i)
    mi = d.p_param[i, L.MASS]
    rest = d.p_param[i, L.REST_DENSITY]
    sums.density = mi * spline.w(0.0)
    # Liquid neighbours first (the solves' loop over them has no branch), then rigid boundary particles.
    # A full batch may have had its first slot written over since (more in reach than it holds: a liquid
    # pressed far past rest density, or against a dense boundary): then its candidates in reach are gathered
    # again a batch at a time, for the same listing code (each copy of it inlined made the search kernel
    # slower to load from the offline cache: this and the images' single copy took its load from 1.73 to
    # 0.93 s a run, measured, with the substep's time unchanged).
    regather = batched >= L.SEARCH_BATCH
    for liquid in ti.static((True, False)):
        chunks = (batched + L.SEARCH_BATCH - 1) // L.SEARCH_BATCH
        if ti.static(not liquid) and d.int_params[L.N_BOUNDARY] == 0:
            chunks = 0  # no rigid boundary in the scene: no pass over the candidates looking for one
        for chunk in range(chunks):
            count = batched
            if regather:
                count = gather_chunk(d, env, xi, centre, low, high, chunk, batches, row)
            sums = list_batch(d, env, i, xi, mi, rest, spline, start, room, batches, row, count, liquid, sums)
        if ti.static(liquid):
            liquid_count = sums.count
    sides = wall_sides(d, xi)
    if sides.max() > 0:
        # The images to look for: one per combination of near walls (one near a wall, three along an edge,
        # seven in a corner), each its mirror. Worked out once per particle, so the loop over neighbours
        # holds one copy of the listing, not one per combination (seven copies made the search kernel load
        # from the offline cache 0.35 s slower, measured).
        n_images = 0
        codes = ti.Vector([0] * 7, ti.i32)
        signs = ti.Matrix.zero(float, 7, 3)
        offsets = ti.Matrix.zero(float, 7, 3)
        for mask in ti.static(range(1, 8)):
            code = 0
            for a in ti.static(range(3)):
                if ti.static(mask & (1 << a)):
                    code += sides[a] * 3**a
                    if sides[a] == 0:
                        code = -L.N_IMAGE_CODES  # this combination has a far wall: no image
            if code > 0:
                sign, offset = mirror(d, code)
                codes[n_images] = code
                for a in ti.static(range(3)):
                    signs[n_images, a], offsets[n_images, a] = sign[a], offset[a]
                n_images += 1
        for k in range(liquid_count + 1):
            j = i if k == liquid_count else d.neighbours[start + k]
            xj = position(d, env, j)
            mj = d.p_param[j, L.MASS]
            for image in range(n_images):
                xm = vec3(0.0)
                for a in ti.static(range(3)):
                    xm[a] = signs[image, a] * xj[a] + offsets[image, a]
                rv = xi - xm
                if rv.norm_sqr() < h * h:
                    sums = list_neighbour(d, env, spline, start, room, mi,
                                          image_base + j * L.N_IMAGE_CODES + codes[image], rv, mj, True, sums)
    d.density[env, i] = sums.density
    denominator = sums.grad_sum.norm_sqr() + sums.grad_sq
    d.p_work[env, i, L.FACTOR] = 1.0 / denominator if denominator > 1e-30 else 0.0
    d.p_int[env, i, L.N_NEIGHBOURS] = sums.count
    d.p_int[env, i, L.N_LIQUID_NEIGHBOURS] = liquid_count
    d.p_int[env, i, L.FOUND] = sums.found


@ti.func
def gather_chunk(d: ti.template(), env, xi, centre, low, high, chunk, batches: ti.template(), row):
    """Into ``batches`` from ``row``, the sorted slots of the candidates in reach of xi numbered ``chunk`` *
    SEARCH_BATCH on in the order the search gathers them (for a particle with more in reach than one batch
    holds); returns how many."""
    h = d.params[L.SUPPORT]
    first_ordinal = chunk * L.SEARCH_BATCH
    ordinal = 0
    for column in range(9):
        first, last = candidate_run(d, env, centre, low, high, column)
        for k in range(first, last):
            if (xi - d.sorted_points[k].xyz).norm_sqr() < h * h:
                if first_ordinal <= ordinal < first_ordinal + L.SEARCH_BATCH:
                    batches[row + ordinal - first_ordinal] = k
                ordinal += 1
    return ti.min(ordinal - first_ordinal, L.SEARCH_BATCH)


# ---------------------------------------------------------------------- pressure solves
@ti.func
def compression_rate(d: ti.template(), env, i):
    """D rho_i / Dt from the current velocities, kg/m^3/s (boundaries move with their bodies, images with
    their particles)."""
    n = d.int_params[L.N_LIQUID]
    nb = d.int_params[L.N_BOUNDARY]
    vi = velocity(d, env, i)
    rate = 0.0
    start = d.list_start[env, i]
    liquid_end = start + d.p_int[env, i, L.N_LIQUID_NEIGHBOURS]
    for k in range(start, liquid_end):
        rate += (vi - velocity(d, env, d.neighbours[k])).dot(neighbour_gradient(d, k))
    for k in range(liquid_end, start + d.p_int[env, i, L.N_NEIGHBOURS]):
        code = d.neighbours[k]
        vj = vec3(0.0)
        if code >= n + nb:
            vj = neighbour_velocity(d, env, code)
        else:
            vj = d.b_vec3[env, code - n, L.B_VEL]
        rate += (vi - vj).dot(neighbour_gradient(d, k))
    return rate


@ti.func
def compression(d: ti.template(), env, i, dt, divergence: ti.template()):
    """What a solve removes at active particle i: for the divergence solve the compression rate D rho_i / Dt
    (kg/m^3/s; none for a particle with too few neighbours to measure it), for the density solve the density
    excess rho_i + dt D rho_i / Dt - rho0 the current velocities would cause (kg/m^3). Negative: expanding."""
    rate = compression_rate(d, env, i)
    result = 0.0
    if ti.static(divergence):
        if d.p_int[env, i, L.N_NEIGHBOURS] >= L.MIN_DIVERGENCE_NEIGHBOURS:
            result = rate
    else:
        result = d.density[env, i] + dt * rate - d.p_param[i, L.REST_DENSITY]
    return result


@ti.func
def warm_stiffness(d: ti.template(), env, i, scale, divergence: ti.template()):
    """Start particle i's solve from ``scale`` times the last substep's total stiffness where it is in the bulk
    of the liquid (its density within ``L.WARM_START_MIN_DENSITY`` of rest), from zero elsewhere: the pressure
    of a particle that has since moved apart would throw apart what no longer presses (without this, splashes
    flew at five times the speed of the fall and a sloshing column blew up, measured). SPlisHSPlasH gates on
    the predicted compression itself; in a liquid at rest that drops half the particles' hydrostatic pressure
    every substep, and a resting tank trembled at 24 mm/s (measured)."""
    slot = L.DIVERGENCE_KAPPA if ti.static(divergence) else L.DENSITY_KAPPA
    warm = 0.0
    if d.active[env, i] != 0 and d.density[env, i] >= L.WARM_START_MIN_DENSITY * d.p_param[i, L.REST_DENSITY]:
        warm = scale * d.p_work[env, i, slot]
    d.p_work[env, i, slot] = warm
    d.stiffness[env, i] = warm


@ti.func
def solve_stiffness(d: ti.template(), env, i, dt, divergence: ti.template()):
    """This iteration's stiffness of particle i, added to the substep's total; its relative error goes to
    p_work's ERROR.

    The total carries over to warm-start the next substep, so a liquid at rest holds its hydrostatic pressure
    from substep to substep instead of rebuilding it. Iterations only add pressure where the liquid would
    still compress (SPlisHSPlasH's DFSPH): the liquid is pushed apart, never pulled together (no tension at a
    free surface), and expansion is no error (a free surface is where liquid expands). Jacobi iterations that
    could also lower the total where the warm start overshot needed under-relaxation (weight 0.5) not to
    oscillate, and took 3.3x as many iterations on a dam break (21 against 6.3 per substep, measured); the
    warm start comes in from below instead (``solver.DENSITY_WARM_START``)."""
    error = 0.0
    stiffness = 0.0
    slot = L.DIVERGENCE_KAPPA if ti.static(divergence) else L.DENSITY_KAPPA
    total = d.p_work[env, i, slot]
    if d.active[env, i] != 0:
        rest = d.p_param[i, L.REST_DENSITY]
        excess = compression(d, env, i, dt, divergence)
        if ti.static(divergence):
            stiffness = excess / dt * d.p_work[env, i, L.FACTOR]
            error = excess * dt / rest
        else:
            stiffness = excess / (dt * dt) * d.p_work[env, i, L.FACTOR]
            error = excess / rest
        error = ti.max(error, 0.0)
        stiffness = ti.max(stiffness, 0.0)
    d.stiffness[env, i] = stiffness
    d.p_work[env, i, slot] = total + stiffness
    d.p_work[env, i, L.ERROR] = error


@ti.func
def solve_divergence_stiffness(d: ti.template(), env, i, dt, scale):
    solve_stiffness(d, env, i, dt, True)


@ti.func
def solve_density_stiffness(d: ti.template(), env, i, dt, scale):
    solve_stiffness(d, env, i, dt, False)


@ti.func
def pressure_velocity_change(d: ti.template(), env, i, dt):
    """The velocity change of active particle i under this iteration's stiffnesses; the boundary's share of
    the momentum goes to its rigid body. Reads stiffnesses only, so every particle's change can be taken in
    one pass before any velocity moves."""
    n = d.int_params[L.N_LIQUID]
    nb = d.int_params[L.N_BOUNDARY]
    ki = d.stiffness[env, i]
    mi = d.p_param[i, L.MASS]
    dv = vec3(0.0)
    start = d.list_start[env, i]
    liquid_end = start + d.p_int[env, i, L.N_LIQUID_NEIGHBOURS]
    for k in range(start, liquid_end):
        dv -= dt * (ki + d.stiffness[env, d.neighbours[k]]) * neighbour_gradient(d, k)
    for k in range(liquid_end, start + d.p_int[env, i, L.N_NEIGHBOURS]):
        code = d.neighbours[k]
        if code >= n + nb:  # a wall image pushes with its particle's stiffness
            kj = d.stiffness[env, (code - n - nb) // L.N_IMAGE_CODES]
            dv -= dt * (ki + kj) * neighbour_gradient(d, k)
        elif ki != 0.0:
            # A rigid boundary particle pushes with the particle's own stiffness only (k_b = 0, as
            # SPlisHSPlasH's DFSPH with Akinci boundaries).
            b = code - n
            push = -dt * ki * neighbour_gradient(d, k)
            dv += push
            body = d.b_body[b]
            impulse = -mi * push
            d.body_impulse[env, body, L.LINEAR] += impulse
            d.body_impulse[env, body, L.ANGULAR] += d.b_vec3[env, b, L.B_ARM].cross(impulse)
    return dv


@ti.func
def apply_pressure(d: ti.template(), env, i, dt, scale):
    if d.active[env, i] != 0:
        set_velocity(d, env, i, velocity(d, env, i) + pressure_velocity_change(d, env, i, dt))


# ---------------------------------------------------------------------- forces and motion
@ti.func
def non_pressure_velocity_change(d: ti.template(), env, i, dt):
    """dt times gravity, viscosity (Monaghan 2005's SPH Laplacian, 2 (dim + 2) nu) and cohesion (Akinci
    et al. 2013), plus the XSPH smoothing (Monaghan 1989): velocity_smoothing times the kernel-weighted
    average of the neighbours' velocity differences.

    Each pair's terms are symmetric in the two particles (mean densities 2 / (rho_i + rho_j) for 1 / rho_j,
    mean viscosities), so what one particle gains the other loses and momentum is kept. With each particle's
    own 1 / rho_j, nu_i and the Akinci factor's rest density, two blocks of liquid colliding weightless kept
    their momentum to 1e-4 when alike, but not when one liquid was half as dense as the other: 7 % off by 0.3 s,
    8 % with cohesion (measured; tests/test_sph.py)."""
    n = d.int_params[L.N_LIQUID]
    nb = d.int_params[L.N_BOUNDARY]
    acc = vec3(d.params[L.GRAVITY_X], d.params[L.GRAVITY_Y], d.params[L.GRAVITY_Z])
    smoothing = vec3(0.0)
    if d.active[env, i] != 0:
        xi, vi = position(d, env, i), velocity(d, env, i)
        start = d.list_start[env, i]
        liquid_end = start + d.p_int[env, i, L.N_LIQUID_NEIGHBOURS]
        for k in range(start, liquid_end):
            j = d.neighbours[k]
            pair_acc, pair_smoothing = viscous_pair(d, env, i, k, j, xi, vi, position(d, env, j), velocity(d, env, j))
            acc += pair_acc
            smoothing += pair_smoothing
        for k in range(liquid_end, start + d.p_int[env, i, L.N_NEIGHBOURS]):
            code = d.neighbours[k]
            if code >= n + nb:  # a wall image (a free-slip wall); rigid boundary particles have no viscosity
                j, xj, vj = neighbour_motion(d, env, code)
                pair_acc, pair_smoothing = viscous_pair(d, env, i, k, j, xi, vi, xj, vj)
                acc += pair_acc
                smoothing += pair_smoothing
        if d.p_param[i, L.COHESION] > 0.0:  # a loop of its own: inside this one it cost a liquid without
            acc += cohesion_acceleration(d, env, i)  # cohesion 5 % (measured)
    return dt * acc + d.params[L.XSPH] * smoothing


@ti.func
def viscous_pair(d: ti.template(), env, i, k, j, xi, vi, xj, vj):
    """Particle i's viscous acceleration (m/s^2) and XSPH smoothing (m/s) from list entry k: liquid particle j
    or its image, at xj moving at vj."""
    h = d.params[L.SUPPORT]
    rv = xi - xj
    inverse_density = 2.0 / (d.density[env, i] + d.density[env, j])
    smoothing = inverse_density * d.neighbour_w[k] * (vj - vi)
    # The list holds m_j gradW: this is 2 (dim + 2) nu V_j (v_ij . r_ij) / (r^2 + 0.01 h^2) gradW.
    nu = 0.5 * (d.p_param[i, L.KIN_VISCOSITY] + d.p_param[j, L.KIN_VISCOSITY])
    acc = (10.0 * nu * inverse_density * (vi - vj).dot(rv) / (rv.norm_sqr() + 0.01 * h * h)
           * neighbour_gradient(d, k))
    return acc, smoothing


@ti.func
def cohesion_acceleration(d: ti.template(), env, i):
    """The cohesion of Akinci et al. 2013 on active particle i from its liquid neighbours and their images,
    m/s^2. A pair of two liquids pulls with the geometric mean of their coefficients gamma
    (``SPH.Liquid.surface_tension``, m^3 / (kg s^2)), none where either has none, and Akinci's density factor
    2 rho0 / (rho_i + rho_j) takes the mean of their rest densities."""
    n = d.int_params[L.N_LIQUID]
    nb = d.int_params[L.N_BOUNDARY]
    h = d.params[L.SUPPORT]
    xi = position(d, env, i)
    cohesion_i = d.p_param[i, L.COHESION]
    rest_i = d.p_param[i, L.REST_DENSITY]
    rho_i = d.density[env, i]
    acc = vec3(0.0)
    start = d.list_start[env, i]
    for k in range(start, start + d.p_int[env, i, L.N_NEIGHBOURS]):
        code = d.neighbours[k]
        if code < n or code >= n + nb:
            j, xj, _ = neighbour_motion(d, env, code)
            rv = xi - xj
            r = rv.norm()
            if r > 1e-9 * h:
                cohesion = ti.sqrt(cohesion_i * d.p_param[j, L.COHESION])
                density_factor = (rest_i + d.p_param[j, L.REST_DENSITY]) / (rho_i + d.density[env, j])
                acc -= (cohesion * d.p_param[j, L.MASS] * density_factor * akinci_cohesion(h, r) / r) * rv
    return acc


@ti.func
def forces_and_warm_density(d: ti.template(), env, i, dt, scale):
    """The velocity change of the non-pressure forces and the density solve's warm-start pressure, in p_vec3
    (the pass reads velocities, so they change in a pass after it)."""
    if d.active[env, i] != 0:
        d.p_vec3[env, i, L.DV] = non_pressure_velocity_change(d, env, i, dt) + pressure_velocity_change(d, env, i, dt)


@ti.func
def akinci_cohesion(h, r):
    """The cohesion spline C(r) of Akinci et al. 2013, 1/m^3."""
    c = 32.0 / (math.pi * h**9)
    value = 0.0
    if 2.0 * r > h and r <= h:
        value = c * (h - r) ** 3 * r**3
    elif r <= 0.5 * h:
        value = c * (2.0 * (h - r) ** 3 * r**3 - h**6 / 64.0)
    return value


@ti.func
def advect(d: ti.template(), env, i, dt):
    """Move particle i; a particle reaching a quarter of a particle size from a wall stops its motion into it.

    On the wall itself a particle would lie on top of its own image: the pair pushes it along the wall only,
    never off it, and its neighbours on the wall count twice. A dam break's front, splashed flat onto the
    floor that way, met the far wall at 2.6 m/s and blew up (measured, scenes/sph_dam_break.py). Half a
    particle size (where liquid sampled against a wall has its first layer) is too far: liquid caught under
    a rigid box settling on the floor was then pressed into the box's boundary layer, and burst out."""
    if d.active[env, i] != 0:
        vi = velocity(d, env, i)
        xi = position(d, env, i) + dt * vi
        for a in ti.static(range(3)):
            wall_lo, wall_hi = d.params[L.LOWER_X + a], d.params[L.UPPER_X + a]
            margin = ti.min(L.WALL_GAP * d.params[L.PARTICLE_SIZE], 0.5 * (wall_hi - wall_lo))
            lo, hi = wall_lo + margin, wall_hi - margin
            if xi[a] < lo:
                xi[a] = lo
                vi[a] = ti.max(vi[a], 0.0)
            elif xi[a] > hi:
                xi[a] = hi
                vi[a] = ti.min(vi[a], 0.0)
        set_position(d, env, i, xi)
        set_velocity(d, env, i, vi)


@ti.func
def healthy(d: ti.template(), env, i):
    size = position(d, env, i).norm_sqr() + velocity(d, env, i).norm_sqr()
    return is_finite(size) and size < 1e30
