"""Constitutive models: from a particle's deformation to its Kirchhoff stress, with plastic return mapping.

``kirchhoff_stress`` advances the particle's deformation gradient by the substep's velocity gradient,
projects it back onto the material's elastic region (plasticine, sand, snow), stores it, and returns the
Kirchhoff stress tau = P F^T (P the first Piola-Kirchhoff stress).
"""

import taichi as ti

from physim.scene.mpm_materials import ELASTIC, LIQUID, PLASTICINE, SAND, SNOW
from physim.solvers.mpm import layout as L  # noqa: N812

mat3, vec3 = ti.math.mat3, ti.math.vec3
# Squared size of a Newton polar step below which the iteration has converged: the next step would be its
# square, under f32 rounding (and far under what the f32 or f64 stress needs).
POLAR_TOLERANCE = 1e-10
# Jacobi eigensolver: at most this many sweeps, until the off-diagonal part's squared size is below this
# fraction of the diagonal's (relative size 1e-6: eigenvalues then err by its square; a tighter bound would
# sit at f32 rounding, which the rotations themselves leave in the off-diagonal, and never be met).
JACOBI_SWEEPS = 8
JACOBI_TOLERANCE = 1e-12


@ti.func
def kirchhoff_stress(d: ti.template(), env, p, dt):
    m = d.p_mat[p]
    kind = d.mat_int[m, L.KIND]
    mu, lam = d.mat_param[m, L.MU], d.mat_param[m, L.LAM]
    identity = ti.Matrix.identity(float, 3)
    grad_v = d.C[env, p]
    F = (identity + dt * grad_v) @ d.F[env, p]
    Jp = d.Jp[env, p]
    tau = ti.Matrix.zero(float, 3, 3)
    if kind == LIQUID:
        # Only the volume ratio matters: keep F isotropic so shear never builds up.
        J = ti.max(F.determinant(), 1e-4)
        F = identity * ti.pow(J, 1.0 / 3.0)
        tau = lam * J * (J - 1.0) * identity + d.mat_param[m, L.A] * J * (grad_v + grad_v.transpose())
    elif kind == ELASTIC and d.mat_int[m, L.MODEL] == 1:
        J = ti.max(F.determinant(), 1e-4)
        tau = mu * (F @ F.transpose() - identity) + lam * ti.log(J) * identity
    elif kind == ELASTIC and F.determinant() > 0.1:
        # Fixed corotated elasticity needs only the rotation R of F = R S: Newton's polar iteration gets it
        # to float precision in a few steps for any uninverted, not extremely stretched F, at a fraction of
        # an SVD's cost (Higham 1986). Nearly inverted particles take the SVD branch below. The iteration
        # converges quadratically: once a step moves R by less than sqrt(POLAR_TOLERANCE), the error left is
        # below float rounding, and a mildly deformed particle stops after 2 or 3 of the 6 steps.
        R = F
        for _ in range(6):
            step = 0.5 * (R.inverse().transpose() - R)
            R += step
            if step.norm_sqr() < POLAR_TOLERANCE:
                break
        J = F.determinant()
        tau = 2.0 * mu * (F - R) @ F.transpose() + lam * J * (J - 1.0) * identity
    else:
        # The rest need F's singular structure; one symmetric eigensolve of F F^T (left singular vectors,
        # squared singular values) serves them all.
        Q, b = _symmetric_eigen(F @ F.transpose())
        if kind == PLASTICINE or kind == SAND:
            tau, F = _hencky_plasticity(kind, mu, lam, d.mat_param[m, L.A], F, Q, b)
        else:
            tau, F, Jp = _corotated_svd(kind, mu, lam, d.mat_param[m, L.A], d.mat_param[m, L.B],
                                        d.mat_param[m, L.C], F, Jp, Q, b)
    d.F[env, p] = F
    d.Jp[env, p] = Jp
    return tau


@ti.func
def _corotated_svd(kind, mu, lam, critical_compression, critical_stretch, hardening_coefficient, F, Jp, U, b):
    """Fixed corotated elasticity (Stomakhin et al. 2012) from the SVD F = U S V^T, for snow (whose singular
    values are first clamped into [1 - critical compression, 1 + critical stretch], the rest going into the
    plastic volume ratio Jp, with hardening exp(hardening_coefficient (1 - Jp))) and for nearly inverted
    elastic particles. Given the eigenpairs (U, b) of F F^T, the SVD is built the usual way: singular values
    sorted in decreasing order, right singular vectors v_i = F^T u_i / |F^T u_i| for the two largest and
    v_3 = v_1 x v_2, so that U and V are rotations and the last singular value u_3 . F v_3 carries the sign of
    det F (an inverted particle gets a negative one, which the stress pushes back)."""
    squared, left = b, U
    for i, j in ti.static([(0, 1), (1, 2), (0, 1)]):
        if squared[j] > squared[i]:
            larger = squared[j]
            squared[j] = squared[i]
            squared[i] = larger
            for row in ti.static(range(3)):  # swap columns i and j, negating one: U stays a rotation
                column_j = left[row, j]
                left[row, j] = -left[row, i]
                left[row, i] = column_j
    u0, u1, u2 = (vec3(left[0, 0], left[1, 0], left[2, 0]), vec3(left[0, 1], left[1, 1], left[2, 1]),
                  vec3(left[0, 2], left[1, 2], left[2, 2]))
    v0 = F.transpose() @ u0
    v0 /= ti.max(v0.norm(), 1e-30)
    v1 = F.transpose() @ u1
    v1 -= v1.dot(v0) * v0
    v1 /= ti.max(v1.norm(), 1e-30)
    v2 = v0.cross(v1)
    V = ti.Matrix.cols([v0, v1, v2])
    S = vec3(u0.dot(F @ v0), u1.dot(F @ v1), u2.dot(F @ v2))
    shear, bulk, plastic_ratio, new_F = mu, lam, Jp, F
    if kind == SNOW:
        hardening = ti.exp(hardening_coefficient * (1.0 - Jp))
        shear, bulk = mu * hardening, lam * hardening
        for i in ti.static(range(3)):
            clamped = ti.min(ti.max(S[i], 1.0 - critical_compression), 1.0 + critical_stretch)
            plastic_ratio *= S[i] / clamped
            S[i] = clamped
        new_F = left @ _diagonal(S) @ V.transpose()
    J = S[0] * S[1] * S[2]
    identity = ti.Matrix.identity(float, 3)
    tau = 2.0 * shear * (new_F - left @ V.transpose()) @ new_F.transpose() + bulk * J * (J - 1.0) * identity
    return tau, new_F, plastic_ratio


@ti.func
def _hencky_plasticity(kind, mu, lam, yield_param, F, Q, b):
    """Return mapping on the Hencky strain eps = log(singular values of F): von Mises (plasticine, yield stress
    ``yield_param``) or cohesionless Drucker-Prager (sand, friction coefficient ``yield_param``, Klar et al.
    2016). Returns the Kirchhoff stress and the projected deformation gradient.

    Both depend on F only through the left stretch: with F F^T = Q diag(b) Q^T (b the squared singular values,
    Q the left singular vectors, given), tau = Q diag(2 mu eps + lam tr(eps)) Q^T and the projected F is
    Q diag(exp(eps') / sqrt(b)) Q^T F, which keeps F's right singular vectors. A symmetric 3x3 eigensolve gives
    them at a fraction of a full SVD's cost, and the orientation of F (det < 0) drops out as it must.
    """
    eps = 0.5 * ti.log(ti.max(b, 1e-8))  # singular values floored at 1e-4
    trace = eps.sum()
    deviator = eps - trace / 3.0
    norm = deviator.norm() + 1e-12
    projected = eps
    yielded = False
    if kind == PLASTICINE:
        excess = norm - yield_param / (2.0 * mu)
        if excess > 0:
            projected, yielded = eps - excess / norm * deviator, True
    else:
        if trace >= 0:  # pulled apart: sand carries no tension
            projected, yielded = vec3(0.0), True
        else:
            excess = norm + (3.0 * lam + 2.0 * mu) / (2.0 * mu) * trace * yield_param
            if excess > 0:
                projected, yielded = eps - excess / norm * deviator, True
    stress = 2.0 * mu * projected + lam * projected.sum()
    tau = Q @ _diagonal(stress) @ Q.transpose()
    if yielded:
        stretch = ti.exp(projected) / ti.sqrt(ti.max(b, 1e-30))
        F = Q @ _diagonal(stretch) @ Q.transpose() @ F
    return tau, F


@ti.func
def _diagonal(values):
    return ti.Matrix([[values[0], 0.0, 0.0], [0.0, values[1], 0.0], [0.0, 0.0, values[2]]])


@ti.func
def _symmetric_eigen(A):
    """Eigenvectors (columns of Q) and eigenvalues of a symmetric 3x3 matrix: cyclic Jacobi rotations
    (Numerical Recipes 11.1), stopped once the off-diagonal part is below JACOBI_TOLERANCE of the diagonal
    (quadratic convergence: a nearly diagonal A, as a mildly strained particle's F F^T is, takes one or two
    sweeps). Agrees with a full SVD's stress to 2e-5 (relative, f32) on random, inverted and degenerate F."""
    Q = ti.Matrix.identity(float, 3)
    for _ in range(JACOBI_SWEEPS):
        off = A[0, 1] ** 2 + A[0, 2] ** 2 + A[1, 2] ** 2
        if off <= JACOBI_TOLERANCE * (A[0, 0] ** 2 + A[1, 1] ** 2 + A[2, 2] ** 2) or off == 0.0:
            break
        for p, q, r in ti.static([(0, 1, 2), (0, 2, 1), (1, 2, 0)]):
            apq = A[p, q]
            if apq != 0.0:
                # tan of the rotation angle, the smaller root of t^2 + 2 theta t - 1 = 0 with
                # theta = half / apq (NR's form multiplied through by apq: one division fewer)
                half = 0.5 * (A[q, q] - A[p, p])
                root = ti.sqrt(half * half + apq * apq)
                t = apq / (half + (root if half >= 0.0 else -root))
                c = 1.0 / ti.sqrt(t * t + 1.0)
                s = t * c
                arp, arq = A[r, p], A[r, q]
                A[p, p] -= t * apq
                A[q, q] += t * apq
                A[p, q], A[q, p] = 0.0, 0.0
                A[r, p] = c * arp - s * arq
                A[p, r] = A[r, p]
                A[r, q] = s * arp + c * arq
                A[q, r] = A[r, q]
                for row in ti.static(range(3)):
                    qp, qq = Q[row, p], Q[row, q]
                    Q[row, p] = c * qp - s * qq
                    Q[row, q] = s * qp + c * qq
    return Q, vec3(A[0, 0], A[1, 1], A[2, 2])
