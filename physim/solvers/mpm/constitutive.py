"""Constitutive models: from a particle's deformation to its Kirchhoff stress, with plastic return mapping.

``kirchhoff_stress`` advances the particle's deformation gradient by the substep's velocity gradient,
projects it back onto the material's elastic region (plasticine, sand, snow), stores it, and returns the
Kirchhoff stress tau = P F^T (P the first Piola-Kirchhoff stress).
"""

import taichi as ti

from physim.scene.mpm_materials import ELASTIC, LIQUID, PLASTICINE, SAND, SNOW
from physim.solvers.mpm import layout as L  # noqa: N812

mat3, vec3 = ti.math.mat3, ti.math.vec3


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
        # an SVD's cost (Higham 1986). Nearly inverted particles take the SVD branch below.
        R = F
        for _ in ti.static(range(6)):
            R = 0.5 * (R + R.inverse().transpose())
        J = F.determinant()
        tau = 2.0 * mu * (F - R) @ F.transpose() + lam * J * (J - 1.0) * identity
    else:
        U, S, V = ti.svd(F)
        if kind == PLASTICINE or kind == SAND:
            tau, F = _hencky_plasticity(kind, mu, lam, d.mat_param[m, L.A], U, S, V)
        else:
            if kind == SNOW:
                hardening = ti.exp(d.mat_param[m, L.C] * (1.0 - Jp))
                mu, lam = mu * hardening, lam * hardening
                for i in ti.static(range(3)):
                    clamped = ti.min(ti.max(S[i, i], 1.0 - d.mat_param[m, L.A]), 1.0 + d.mat_param[m, L.B])
                    Jp *= S[i, i] / clamped
                    S[i, i] = clamped
                F = U @ S @ V.transpose()
            # Fixed corotated elasticity (Stomakhin et al. 2012).
            J = S[0, 0] * S[1, 1] * S[2, 2]
            tau = 2.0 * mu * (F - U @ V.transpose()) @ F.transpose() + lam * J * (J - 1.0) * identity
    d.F[env, p] = F
    d.Jp[env, p] = Jp
    return tau


@ti.func
def _hencky_plasticity(kind, mu, lam, yield_param, U, S, V):
    """Return mapping on the Hencky strain eps = log(singular values): von Mises (plasticine, yield stress
    ``yield_param``) or cohesionless Drucker-Prager (sand, friction coefficient ``yield_param``, Klar et al.
    2016). Returns the Kirchhoff stress and the projected deformation gradient."""
    eps = vec3(ti.log(ti.max(ti.abs(S[0, 0]), 1e-4)), ti.log(ti.max(ti.abs(S[1, 1]), 1e-4)),
               ti.log(ti.max(ti.abs(S[2, 2]), 1e-4)))
    trace = eps.sum()
    deviator = eps - trace / 3.0
    norm = deviator.norm() + 1e-12
    if kind == PLASTICINE:
        excess = norm - yield_param / (2.0 * mu)
        if excess > 0:
            eps -= excess / norm * deviator
    else:
        if trace >= 0:  # pulled apart: sand carries no tension
            eps = vec3(0.0)
        else:
            excess = norm + (3.0 * lam + 2.0 * mu) / (2.0 * mu) * trace * yield_param
            if excess > 0:
                eps -= excess / norm * deviator
    trace = eps.sum()
    stress = 2.0 * mu * eps + lam * trace
    tau = U @ ti.Matrix([[stress[0], 0.0, 0.0], [0.0, stress[1], 0.0], [0.0, 0.0, stress[2]]]) @ U.transpose()
    Sn = ti.Matrix([[ti.exp(eps[0]), 0.0, 0.0], [0.0, ti.exp(eps[1]), 0.0], [0.0, 0.0, ti.exp(eps[2])]])
    return tau, U @ Sn @ V.transpose()
