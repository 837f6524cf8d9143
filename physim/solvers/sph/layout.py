"""Slot names of the SPH solver's arrays (Taichi ndarrays, so one compiled kernel serves every scene).

Shapes: B envs (outermost axis), n liquid particles, nb boundary particles (sampled on rigid bodies),
nr rigid bodies, C neighbour-search cells, E the neighbour lists' entries per env (all particles' lists).

    particle model   p_param (n, N_P_PARAMS): mass kg, rest density kg/m^3, kinematic viscosity m^2/s,
                     cohesion coefficient
    boundary model   b_local (nb,) vec3: position in its body's frame, m; b_body (nb,) i32; b_volume (nb,) m^3
    particle state   x, v: position m, velocity m/s, each three (B, n) arrays of components (x_x, x_y, x_z;
                     the host reads and writes them as one (B, n, 3) array, ``utils.arrays``): every pass gathers
                     its neighbours' velocities, and three scalar arrays index them with one sign-extended
                     offset where a vec3 array computes one per component in 32-bit arithmetic (the viscosity
                     loop 1.1x, a compression-rate loop 1.2x faster, medians of interleaved calls);
                     active (B, n) i32: 1 when the particle takes part (an emitter's reserved particles wait
                     inactive)
    particle work    density (B, n): kg/m^3, at the last search; stiffness (B, n): this iteration's (both read
                     for every neighbour, so each is an array of its own: see the lists);
                     p_work (B, n, N_P_WORK): DFSPH factor, the solves' summed stiffnesses, this iteration's
                     error; p_vec3 (B, n, N_P_VEC3): velocity change of the non-pressure forces and warm start
    boundary work    b_vec3 (B, nb, N_B_VEC3): world position, velocity, arm from its body's centre of mass
    search work      p_int (B, n + nb, N_P_INT): cell, rank in cell, neighbour count, neighbours found, liquid
                     neighbour count; cells (B, C + 1, 2) i32: count (zero between searches) and start (a cell's
                     run ends where the next one's starts; the spare cell's start is the env's end);
                     sorted_ids (B (n + nb)) i32 and sorted_points (B (n + nb)) vec4: particles in cell order
                     (position, m, and weight: a liquid particle's mass, kg, a boundary particle's volume, m^3),
                     each env's after the last's (cells' starts count from the first env's, so the search's loops
                     index them by their counter)
    neighbour lists  one-dimensional, all envs' packed one after another (E entries an env): particle i of env
                     b has entries list_start[b, i] to list_start[b, i + 1] (its first N_NEIGHBOURS used), its
                     N_LIQUID_NEIGHBOURS liquid neighbours first, then rigid boundary particles and wall images.
                     neighbours (B E) i32: liquid index j < n, boundary particle n + b, wall image past them
                     (N_IMAGE_CODES); neighbour_w (B E): the kernel of each pair weighted by the neighbour's
                     mass (m_j, or rho0_i V_b for a boundary particle), kg/m^3; neighbour_grad_x, _y, _z (B E):
                     the kernel gradient so weighted, kg/m^4, kept for the solves' iterations (positions do not
                     change within a substep).
                     Why this shape: LLVM compiles a loop over a list well (its counter widened, each array's
                     address stepped along, no index arithmetic per entry) only where the arrays it streams
                     are indexed by the loop counter itself (a 2-D index env * E + k is an i32 sum it cannot
                     prove does not wrap) and hold one scalar each, and where the loop has no branch; the
                     quantities read per neighbour (density, stiffness) are arrays of their own for the same
                     reason (a slot of a (B, n, k) array made the pressure pass 1.5x slower). Against (B, E) vec3 lists
                     with mixed entries, on the 64k-particle cube (A/B, 2-core CPU): the solves' passes 1.7-2.2x
                     faster, the forces pass 1.55x, a substep 126 -> 95 ms.
    coupling work    body_impulse (B, nr, 2) vec3: linear impulse N s and angular impulse N m s the liquid
                     gave each rigid body this substep
    reductions       stats (B, N_STATS)
"""

import taichi as ti

# p_param (n, ...)
MASS, REST_DENSITY, KIN_VISCOSITY, COHESION = range(4)
N_P_PARAMS = 4
# p_work (B, n, ...): the DFSPH factor, the sums over the substep of each solve's stiffness (kappa / rho, 1/s
# or 1/s^2), kept to warm-start the next substep (Bender & Koschier 2017, sec. 4), and this iteration's error
FACTOR, DENSITY_KAPPA, DIVERGENCE_KAPPA, ERROR = range(4)
N_P_WORK = 4
# p_vec3 (B, n, ...)
DV = 0
N_P_VEC3 = 1
# b_vec3 (B, nb, ...)
B_POS, B_VEL, B_ARM = range(3)
N_B_VEC3 = 3
# p_int (B, n + nb, ...)
CELL, RANK, N_NEIGHBOURS, FOUND, N_LIQUID_NEIGHBOURS = range(5)
N_P_INT = 5
OUTSIDE = -1  # the cell of a boundary particle too far from the domain to touch any liquid
# cells (B, C, ...)
COUNT, START = range(2)
# body_impulse (B, nr, ...)
LINEAR, ANGULAR = range(2)
# stats (B, ...)
ERROR_SUM, N_ACTIVE, MAX_SPEED, OVERFLOWING, NEEDED_ENTRIES = range(5)
N_STATS = 5
# params (float)
LOWER_X, LOWER_Y, LOWER_Z, UPPER_X, UPPER_Y, UPPER_Z = range(6)
ORIGIN_X, ORIGIN_Y, ORIGIN_Z, CELL_SIZE, SUPPORT, KERNEL_SCALE = range(6, 12)
GRAVITY_X, GRAVITY_Y, GRAVITY_Z, PARTICLE_SIZE, XSPH = range(12, 17)
N_PARAMS = 17
# int_params
GRID_X, GRID_Y, GRID_Z, N_LIQUID, N_BOUNDARY = range(5)
N_INT_PARAMS = 5
# Neighbour lists are packed one after another (the solves stream them; lists with room to spare cost them a
# third more time, measured). A search lays out each particle's list with room for the neighbours it found
# the last time plus this slack, at most MAX_LIST_ROOM entries; a particle that found more than its room
# makes the host lay the lists out again from this search's counts and search once more.
LIST_SLACK = 6
MAX_LIST_ROOM = 512
# The neighbour search's cells are a support radius across and 1 / Z_CELLS_PER_SUPPORT of it high: a
# particle's candidates are nine z columns of cells, each cut to the z range within a support radius of it
# (a quarter fewer candidates than 27 whole cells, in runs as long; measured 10 % off the search).
Z_CELLS_PER_SUPPORT = 4
# The search gathers a particle's candidates within reach this many at a time before listing them.
SEARCH_BATCH = 64
# On the CPU, up to this many liquid particles of a cell (consecutive in cell order) share the search's pass
# over their candidates: as many as a cell of a lattice at rest spacing holds (2 x 2 x 1 particles; groups
# of eight were no faster, measured).
SEARCH_GROUP = 4
# Neighbour entries past the boundary particles are wall images: n + nb + j * N_IMAGE_CODES + code, code
# a base-3 digit per axis (0 not reflected, 1 across the lower wall, 2 across the upper one).
N_IMAGE_CODES = 27
# The divergence solve leaves particles with fewer neighbours than this alone: near a free surface the
# compression rate is not meaningful (Bender & Koschier 2017, as SPlisHSPlasH does).
MIN_DIVERGENCE_NEIGHBOURS = 20
# A solve's warm start holds where a particle's density is at least this fraction of rest density: the bulk
# of the liquid (a resting tank's spread is 1e-4), not a particle flying apart.
WARM_START_MIN_DENSITY = 0.99
# A domain wall stops a particle this many particle sizes short of it (see stages.advect): on the wall itself it
# would lie on top of its own image.
WALL_GAP = 0.25
NO_PARTICLE = 2**30


def nd(dtype, ndim: int):
    return ti.types.ndarray(dtype=dtype, ndim=ndim)


class SPHArrays:
    """All arrays of one SPH scene, bundled so Taichi functions take them as one template argument.

    Built inside a kernel from its arguments (at compile time this is a plain Python object).
    """

    def __init__(self, p_param, b_local, b_body, b_volume, x_x, x_y, x_z, v_x, v_y, v_z, active, density, stiffness,
                 p_work, p_vec3, b_vec3, p_int, cells, sorted_ids, sorted_points, list_start, neighbours, neighbour_w,
                 neighbour_grad_x, neighbour_grad_y, neighbour_grad_z, body_impulse, stats, flag, params, int_params):
        self.p_param = p_param
        self.b_local = b_local
        self.b_body = b_body
        self.b_volume = b_volume
        self.x_x, self.x_y, self.x_z = x_x, x_y, x_z
        self.v_x, self.v_y, self.v_z = v_x, v_y, v_z
        self.active = active
        self.density = density
        self.stiffness = stiffness
        self.p_work = p_work
        self.p_vec3 = p_vec3
        self.b_vec3 = b_vec3
        self.p_int = p_int
        self.cells = cells
        self.sorted_ids = sorted_ids
        self.sorted_points = sorted_points
        self.list_start = list_start
        self.neighbours = neighbours
        self.neighbour_w = neighbour_w
        self.neighbour_grad_x = neighbour_grad_x
        self.neighbour_grad_y = neighbour_grad_y
        self.neighbour_grad_z = neighbour_grad_z
        self.body_impulse = body_impulse
        self.stats = stats
        self.flag = flag
        self.params = params
        self.int_params = int_params
