"""Slot names of the MPM solver's arrays (Taichi ndarrays, so one compiled kernel serves every scene).

Shapes: B envs (the env axis is outermost), n particles, G = (gx, gy, gz) grid nodes, M materials.

    particle model   p_mat (n,) i32: material index; p_mass (n,), p_vol (n,): kg, m^3
    material model   mat_param (M, N_MAT_PARAMS); mat_int (M, N_MAT_INTS)
    particle state   x, v (B, n) vec3: position m, velocity m/s; C (B, n) mat3: APIC affine velocity
                     (velocity gradient), 1/s; F (B, n) mat3: elastic deformation gradient;
                     Jp (B, n): plastic volume ratio (snow)
    particle work    affine (B, n) mat3: the APIC + stress affine momentum matrix P2G scatters (GPU only;
                     a (1, 1) stub on a CPU, whose P2G computes it in place)
    grid (work)      grid (B, gx, gy, gz) vec4: momentum (then velocity) and mass of each node, kept
                     together so a particle's scatter touches one cache line per node;
                     copies (K * B * gx * gy * gz,) vec4: the CPU's private P2G grids, one per worker slice,
                     laid out (K, B, gx, gy, gz) in one flat array (a (1,) stub on a GPU, which scatters into
                     ``grid`` with atomics);
                     region (K * B + 2, 6) i32: node boxes (lo xyz, hi xyz) the CPU's P2G touched, one per
                     slice, then the last substep's, then the one the grid update visits
"""

import taichi as ti

# mat_param (M, ...): Lame parameters and three material-specific numbers
# (plasticine: yield stress; sand: Drucker-Prager alpha; liquid: viscosity in A, bulk modulus in LAM;
# snow: critical compression, critical stretch, hardening).
MU, LAM, A, B, C = range(5)
N_MAT_PARAMS = 5
# mat_int (M, ...)
KIND, MODEL = range(2)
N_MAT_INTS = 2
# params (float): dt of a substep, gravity, grid origin (position of node 0), domain walls, cell size
DT, GRAVITY_X, GRAVITY_Y, GRAVITY_Z, ORIGIN_X, ORIGIN_Y, ORIGIN_Z = range(7)
LOWER_X, LOWER_Y, LOWER_Z, UPPER_X, UPPER_Y, UPPER_Z, DX = range(7, 14)
N_PARAMS = 14
# int_params: the wall condition; loop iterations per P2G slice on the CPU (see the grid kernel)
BOUNDARY, SLICE_STRIDE = range(2)
N_INT_PARAMS = 2
# Taichi 1.7's smallest block of CPU loop iterations a thread takes
CPU_MIN_BLOCK = 512
STICKY, SLIP, SEPARATE = range(3)
BOUNDARY_CODES = {"sticky": STICKY, "slip": SLIP, "separate": SEPARATE}
# Grid cells of padding outside each wall: a particle on a wall reaches one node beyond it; three keep
# every stencil inside the grid with room to spare.
PAD = 3
NO_PARTICLE = 2**30
# The CPU's P2G deals particles to its worker slices in runs of this many consecutive particles.
SLICE_RUN = 256


def nd(dtype, ndim: int):
    return ti.types.ndarray(dtype=dtype, ndim=ndim)


class MPMArrays:
    """All arrays of one MPM scene, bundled so Taichi functions take them as one template argument.

    Built inside the kernel from its arguments (at compile time this is a plain Python object).
    """

    def __init__(self, p_mat, p_mass, p_vol, mat_param, mat_int, x, v, C, F, Jp, affine, grid, copies,  # noqa: N803
                 params, int_params):
        self.p_mat = p_mat
        self.p_mass = p_mass
        self.p_vol = p_vol
        self.mat_param = mat_param
        self.mat_int = mat_int
        self.x = x
        self.v = v
        self.C = C
        self.F = F
        self.Jp = Jp
        self.affine = affine
        self.grid = grid
        self.copies = copies
        self.params = params
        self.int_params = int_params
