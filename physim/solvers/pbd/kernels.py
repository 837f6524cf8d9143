"""The kernels of an XPBD substep (Macklin, Mueller and Chentanez 2016), batched over envs, in the "small
steps" form (Macklin et al. 2019): many substeps of one constraint iteration each, which converges better
than many iterations of one step for the same work.

    predict        x_prev = x; free particles take gravity (and their body's damping) and move by v dt;
                   pinned particles go to their pin's target (interpolated along a moving rigid body)
    constraints    the graph colours of the constraints (stretch and soft-body lattice distances, cloth bending
                   hinges), several per launch: no two constraints of a colour share a particle, so a colour
                   runs in parallel and the colours run one after the other (Gauss-Seidel)
    contacts       particle-particle contacts on a hashed grid of cells one particle diameter wide, solved
                   Jacobi-style (each pair's correction shared by the larger of its two particles' contact
                   counts, so momentum is kept), with position-based Coulomb friction (Macklin et al. 2014,
                   "Unified particle physics")
    rigid points   each rigid collider point (box corners, cylinder rims, convex-mesh vertices, sphere and
                   capsule centres, inflated by their radius) near a cloth triangle pushes the triangle's three
                   vertices off it by barycentric weights, with friction (only when the scene has such points)
    finish         tethers pull free cloth particles back within their rest geodesic distance of the pins
                   (long-range attachments); rigid geoms and the domain walls push particles out (with
                   friction, against a geom's surface velocity); the momentum taken goes to the rigid
                   solver's impulse accumulator; v = (x - x_prev) / dt

Particles are spheres of radius ``PBDOptions.particle_size / 2``. Every loop runs over (env, item).
"""

import math

import taichi as ti

from physim.solvers.pbd import layout as L  # noqa: N812 - read as a namespace of slot names
from physim.solvers.rigid import layout as R  # noqa: N812 - rigid slot names
from physim.solvers.rigid.collision import signed_distance
from physim.solvers.rigid.shapes import GeomType
from physim.solvers.rigid_colliders import RigidGeoms
from physim.utils.tmath import is_finite, quat_to_matrix

vec3, vec4, mat3 = ti.math.vec3, ti.math.vec4, ti.math.mat3
nd = L.nd


@ti.func
def _friction(relative, normal, limit):
    """Position-based Coulomb friction (Macklin et al. 2014): the tangential part of a contact's relative motion
    over the substep (m) that the contact takes back: all of it while it is under ``limit`` (mu times the
    contact's depth: static), else ``limit`` of it (kinetic)."""
    tangential = relative - relative.dot(normal) * normal
    slide = tangential.norm()
    if slide > limit:
        tangential *= limit / slide
    return tangential


@ti.func
def _inverse_mass(p_scalar: ti.template(), pin_body: ti.template(), env, i):
    """A pinned particle is moved by its pin only: to constraints and contacts it weighs infinitely much."""
    w = 0.0
    if pin_body[env, i] == L.FREE:
        w = p_scalar[i, L.INV_MASS]
    return w


@ti.kernel
def predict(p_scalar: nd(None, 2), p_int: nd(ti.i32, 2), body_scalar: nd(None, 2), x: nd(vec3, 2),
            v: nd(vec3, 2), x_prev: nd(vec3, 2), pin_body: nd(ti.i32, 2), pin_vec3: nd(vec3, 3),
            lam: nd(None, 2), body_vec3: nd(vec3, 3), body_quat: nd(vec4, 2), params: nd(None, 1), blend: float):
    """blend: how far through the step this substep ends (1 on the last): attached pins move that far from
    where their rigid body was at the end of the last step towards where it is now."""
    dt = params[L.DT]
    gravity = vec3(params[L.GRAVITY_X], params[L.GRAVITY_Y], params[L.GRAVITY_Z])
    for env, i in ti.ndrange(x.shape[0], x.shape[1]):
        x_prev[env, i] = x[env, i]
        pin = pin_body[env, i]
        if pin == L.FREE:
            # Damping taken implicitly, so any rate is stable.
            velocity = (v[env, i] + dt * gravity) / (1.0 + dt * body_scalar[p_int[i, L.BODY], L.DAMPING])
            v[env, i] = velocity
            x[env, i] += dt * velocity
        else:
            target = pin_vec3[env, i, L.TARGET]
            if pin >= 0:
                now = body_vec3[env, pin, R.POS] + quat_to_matrix(body_quat[env, pin]) @ target
                previous = pin_vec3[env, i, L.PREVIOUS]
                target = previous + blend * (now - previous)
                if blend >= 1.0:
                    pin_vec3[env, i, L.PREVIOUS] = now
            x[env, i] = target
    for env, k in ti.ndrange(lam.shape[0], lam.shape[1]):
        lam[env, k] = 0.0


@ti.kernel
def solve_constraints(con_int: nd(ti.i32, 2), con_scalar: nd(None, 2), p_scalar: nd(None, 2), x: nd(vec3, 2),
                      pin_body: nd(ti.i32, 2), lam: nd(None, 2), params: nd(None, 1), color_bounds: nd(ti.i32, 1),
                      first_color: ti.i32):
    """One XPBD iteration over the constraints of colours [first_color, first_color + COLORS_PER_LAUNCH):
    dlambda = (-C - alpha~ lambda) / (sum_i w_i |grad_i C|^2 + alpha~), x_i += w_i dlambda grad_i C,
    alpha~ = compliance / dt^2. Colour c holds constraints [color_bounds[c], color_bounds[c + 1]). The colour
    loop is unrolled at compile time, so each colour is its own parallel loop (and the colours follow one
    another) in a single launch."""
    dt = params[L.DT]
    for color in ti.static(range(L.COLORS_PER_LAUNCH)):
        for env, c in ti.ndrange(x.shape[0], (color_bounds[first_color + color],
                                              color_bounds[first_color + color + 1])):
            if con_int[c, 2] < 0:
                _project_distance(con_int, con_scalar, p_scalar, x, pin_body, lam, dt, env, c)
            else:
                _project_hinge(con_int, con_scalar, p_scalar, x, pin_body, lam, dt, env, c)


@ti.func
def _project_distance(con_int: ti.template(), con_scalar: ti.template(), p_scalar: ti.template(), x: ti.template(),
                      pin_body: ti.template(), lam: ti.template(), dt, env, c):
    """C = |x_i - x_j| - rest (m); its gradient is the unit vector between the two."""
    i, j = con_int[c, 0], con_int[c, 1]
    wi = _inverse_mass(p_scalar, pin_body, env, i)
    wj = _inverse_mass(p_scalar, pin_body, env, j)
    alpha = con_scalar[c, L.COMPLIANCE] / (dt * dt)
    offset = x[env, i] - x[env, j]
    length = offset.norm()
    if wi + wj > 0 and length > 1e-9:
        direction = offset / length
        dlam = (con_scalar[c, L.REST] - length - alpha * lam[env, c]) / (wi + wj + alpha)
        lam[env, c] += dlam
        x[env, i] += wi * dlam * direction
        x[env, j] -= wj * dlam * direction


@ti.func
def _project_hinge(con_int: ti.template(), con_scalar: ti.template(), p_scalar: ti.template(), x: ti.template(),
                   pin_body: ti.template(), lam: ti.template(), dt, env, c):
    """C = theta - rest (rad), theta the signed dihedral angle of the hinge's two triangles (x0, x1, x2) and
    (x1, x0, x3) about their edge x0 -> x1, taken with atan2 so that it is smooth through flat (an angle from
    the normals' dot product alone has no gradient there). The gradients are Bridson et al. 2003's: the
    vertices off the edge move along their triangle's normal, by |e| over twice its area; the edge's ends
    take what keeps the sum zero (no net force) and the moment balanced."""
    i0, i1, i2, i3 = con_int[c, 0], con_int[c, 1], con_int[c, 2], con_int[c, 3]
    x0, x1, x2, x3 = x[env, i0], x[env, i1], x[env, i2], x[env, i3]
    edge = x1 - x0
    edge_length = edge.norm()
    normal_a, normal_b = (x2 - x0).cross(x2 - x1), (x3 - x1).cross(x3 - x0)  # twice each triangle's area
    area2_a, area2_b = normal_a.norm_sqr(), normal_b.norm_sqr()
    if edge_length > 1e-9 and area2_a > 1e-24 and area2_b > 1e-24:
        # atan2 of the sine and cosine both scaled by |normal_a| |normal_b| |e| > 0: no normalising needed.
        theta = ti.atan2(normal_a.cross(normal_b).dot(edge), normal_a.dot(normal_b) * edge_length)
        a, b = normal_a / area2_a, normal_b / area2_b
        g2, g3 = -edge_length * a, -edge_length * b
        g0 = -((x2 - x1).dot(edge) * a + (x3 - x1).dot(edge) * b) / edge_length
        g1 = ((x2 - x0).dot(edge) * a + (x3 - x0).dot(edge) * b) / edge_length
        w0 = _inverse_mass(p_scalar, pin_body, env, i0)
        w1 = _inverse_mass(p_scalar, pin_body, env, i1)
        w2 = _inverse_mass(p_scalar, pin_body, env, i2)
        w3 = _inverse_mass(p_scalar, pin_body, env, i3)
        weight = w0 * g0.norm_sqr() + w1 * g1.norm_sqr() + w2 * g2.norm_sqr() + w3 * g3.norm_sqr()
        alpha = con_scalar[c, L.COMPLIANCE] / (dt * dt)
        if weight > 0:
            # The angle's error, wrapped to (-pi, pi]: a hinge folded through flat-and-over has turned the
            # short way round.
            error = theta - con_scalar[c, L.REST]
            if error > math.pi:
                error -= 2.0 * math.pi
            elif error < -math.pi:
                error += 2.0 * math.pi
            dlam = (-error - alpha * lam[env, c]) / (weight + alpha)
            lam[env, c] += dlam
            x[env, i0] += w0 * dlam * g0
            x[env, i1] += w1 * dlam * g1
            x[env, i2] += w2 * dlam * g2
            x[env, i3] += w3 * dlam * g3


@ti.func
def _cell(position, size):
    return ti.cast(ti.floor(position / size), ti.i32)


@ti.func
def _bucket(cell, buckets):
    """Teschner et al.'s spatial hash of a cell; ``buckets`` is a power of two."""
    return ((cell[0] * 73856093) ^ (cell[1] * 19349663) ^ (cell[2] * 83492791)) & (buckets - 1)


@ti.func
def _pair_correction(p_scalar: ti.template(), p_int: ti.template(), body_scalar: ti.template(), rest: ti.template(),
                     x: ti.template(), x_prev: ti.template(), pin_body: ti.template(), contact_count: ti.template(),
                     env, i, j, diameter, counting: ti.template()):
    """Whether particles i and j touch (closer than a diameter or, of one body, than their rest distance), and
    (unless ``counting``) i's share of the pair's correction (push-out and friction), scaled by one over the
    larger of the two particles' contact counts."""
    target = diameter
    body_i, body_j = p_int[i, L.BODY], p_int[j, L.BODY]
    if body_j == body_i:
        target = ti.min(target, (rest[i] - rest[j]).norm())
    offset = x[env, i] - x[env, j]
    distance = offset.norm()
    touching = distance < target and distance > 1e-9
    correction = vec3(0.0)
    if ti.static(not counting) and touching:
        wi = _inverse_mass(p_scalar, pin_body, env, i)
        wj = _inverse_mass(p_scalar, pin_body, env, j)
        normal = offset / distance
        depth = target - distance
        relative = (x[env, i] - x_prev[env, i]) - (x[env, j] - x_prev[env, j])
        limit = ti.max(body_scalar[body_i, L.FRICTION], body_scalar[body_j, L.FRICTION]) * depth
        tangential = _friction(relative, normal, limit)
        scale = 1.0 / ti.max(contact_count[env, i], contact_count[env, j])
        correction = scale * wi / (wi + wj) * (depth * normal - tangential)
    return touching, correction


@ti.func
def _scan_contacts(p_scalar: ti.template(), p_int: ti.template(), body_scalar: ti.template(), rest: ti.template(),
                   x: ti.template(), x_prev: ti.template(), pin_body: ti.template(), contact_count: ti.template(),
                   contacts: ti.template(), hash_start: ti.template(), hash_sorted: ti.template(), env, i, diameter,
                   counting: ti.template()):
    """Particle i's contacts, found in the 27 cells around it: how many and, when ``counting``, the first
    ``L.CONTACT_SLOTS`` of them recorded in ``contacts``; else also the sum of i's pair corrections."""
    count = 0
    correction = vec3(0.0)
    buckets = hash_start.shape[1] - 1
    home = _cell(x[env, i], diameter)
    for neighbour in range(27):
        cell = home + ti.Vector([neighbour // 9 - 1, (neighbour // 3) % 3 - 1, neighbour % 3 - 1])
        h = _bucket(cell, buckets)
        for s in range(hash_start[env, h], hash_start[env, h + 1]):
            j = hash_sorted[env, s]
            # Another cell may share the bucket: only this cell's particles, each once.
            if j != i and (_cell(x[env, j], diameter) == cell).all():
                touching, pair = _pair_correction(p_scalar, p_int, body_scalar, rest, x, x_prev, pin_body,
                                                  contact_count, env, i, j, diameter, counting)
                if touching:
                    if ti.static(counting):
                        if count < L.CONTACT_SLOTS:
                            contacts[env, i, count] = j
                    count += 1
                    correction += pair
    return count, correction


@ti.kernel
def particle_contacts(p_scalar: nd(None, 2), p_int: nd(ti.i32, 2), body_scalar: nd(None, 2), rest: nd(vec3, 1),
                      x: nd(vec3, 2), x_prev: nd(vec3, 2), pin_body: nd(ti.i32, 2), delta: nd(vec3, 2),
                      contact_count: nd(ti.i32, 2), contacts: nd(ti.i32, 3), hash_count: nd(ti.i32, 2),
                      hash_start: nd(ti.i32, 2), hash_sorted: nd(ti.i32, 2), params: nd(None, 1)):
    """Keep colliding particles a diameter apart. Two particles of one body that were closer than that at
    build time (neighbours on a fine cloth or lattice) keep their rest distance instead, so a body's own
    sampling never pushes it apart.

    A particle in several contacts takes a share of each pair's correction (Jacobi: all pairs at once), or
    the pairs together would push it too far. Each pair is scaled by one over the larger of its two particles'
    contact counts, the same for both, so the pair's two corrections stay equal and opposite in momentum
    (mass times displacement) and contacts move no centre of mass. Averaging each particle's corrections over
    its own count (Macklin et al. 2014) does not: a folded cloth lying on the then frictionless floor pushed
    itself along at 0.35 m/s^2, and drifted at 2 cm/s floating weightless (measured). The counts take a
    search of their own, which records the contacts, so the corrections revisit only those."""
    diameter = 2.0 * params[L.RADIUS]
    buckets = hash_count.shape[1]
    # Counting sort of the colliding particles by bucket.
    for env, h in ti.ndrange(x.shape[0], buckets):
        hash_count[env, h] = 0
    for env, i in ti.ndrange(x.shape[0], x.shape[1]):
        if p_int[i, L.COLLIDES]:
            ti.atomic_add(hash_count[env, _bucket(_cell(x[env, i], diameter), buckets)], 1)
    for env in range(x.shape[0]):
        total = 0
        for h in range(buckets):
            count = hash_count[env, h]
            hash_start[env, h] = total
            hash_count[env, h] = total  # from here on: where the next particle of the bucket goes
            total += count
        hash_start[env, buckets] = total
    for env, i in ti.ndrange(x.shape[0], x.shape[1]):
        if p_int[i, L.COLLIDES]:
            slot = ti.atomic_add(hash_count[env, _bucket(_cell(x[env, i], diameter), buckets)], 1)
            hash_sorted[env, slot] = i
    for env, i in ti.ndrange(x.shape[0], x.shape[1]):
        count = 0
        if p_int[i, L.COLLIDES] and _inverse_mass(p_scalar, pin_body, env, i) > 0:
            count, _ = _scan_contacts(p_scalar, p_int, body_scalar, rest, x, x_prev, pin_body, contact_count,
                                      contacts, hash_start, hash_sorted, env, i, diameter, True)
        contact_count[env, i] = count
    for env, i in ti.ndrange(x.shape[0], x.shape[1]):
        correction = vec3(0.0)
        count = contact_count[env, i]
        if count > L.CONTACT_SLOTS:  # more than were recorded: search again
            _, correction = _scan_contacts(p_scalar, p_int, body_scalar, rest, x, x_prev, pin_body, contact_count,
                                           contacts, hash_start, hash_sorted, env, i, diameter, False)
        else:
            for slot in range(count):
                _, pair = _pair_correction(p_scalar, p_int, body_scalar, rest, x, x_prev, pin_body, contact_count,
                                           env, i, contacts[env, i, slot], diameter, False)
                correction += pair
        delta[env, i] = correction
    for env, i in ti.ndrange(x.shape[0], x.shape[1]):
        x[env, i] += delta[env, i]


@ti.kernel
def rigid_points_vs_triangles(p_scalar: nd(None, 2), p_int: nd(ti.i32, 2), body_scalar: nd(None, 2),
                              x: nd(vec3, 2), x_prev: nd(vec3, 2), pin_body: nd(ti.i32, 2), delta: nd(vec3, 2),
                              triangles: nd(ti.i32, 2), colliders: nd(ti.i32, 1), points: nd(vec3, 1),
                              impulse: nd(vec3, 3), geom_model_int: nd(ti.i32, 2), geom_model_scalar: nd(None, 2),
                              geom_vec3: nd(vec3, 3), geom_rot: nd(mat3, 2), body_vec3: nd(vec3, 3),
                              body_moves: nd(ti.i32, 1), params: nd(None, 1), int_params: nd(ti.i32, 1),
                              serial: ti.template()):
    """Cloth vertices meet rigid surfaces through their signed distance (``finish_substep``), but between
    the vertices of a coarse cloth a box corner would pass through. Here each collider point of a bounded
    geom (the rigid solver's own ``points``; planes, listed last in ``colliders``, have none) keeps a
    particle radius plus its own radius from every cloth triangle it lies over, on the side of the
    triangle it was on at the start of the substep. The point weighs infinitely much against the cloth:
    the triangle's vertices move by w_k b_k / sum(w b^2) times the correction (b: barycentric weights),
    the PBD point-triangle projection. Friction as in ``finish_substep``; corrections are summed per
    vertex (Jacobi) and applied at the end."""
    dt, radius = params[L.DT], params[L.RADIUS]
    for env, i in ti.ndrange(x.shape[0], x.shape[1]):
        delta[env, i] = vec3(0.0)
    ti.loop_config(serialize=serial)
    for env, t in ti.ndrange(x.shape[0], triangles.shape[0]):
        corner = ti.Vector([triangles[t, 0], triangles[t, 1], triangles[t, 2]])
        xa, xb, xc = x[env, corner[0]], x[env, corner[1]], x[env, corner[2]]
        low, high = ti.min(xa, xb, xc), ti.max(xa, xb, xc)
        for k in range(int_params[L.N_BOUNDED_COLLIDERS]):
            geom = colliders[k]
            reach = radius + geom_model_scalar[geom, R.POINT_RADIUS]
            # The geom's bounds against the triangle's first, so a far geom costs one test, not one per point.
            if (geom_vec3[env, geom, R.AABB_MIN] <= high + reach).all() and \
                    (geom_vec3[env, geom, R.AABB_MAX] >= low - reach).all():
                for f in range(geom_model_int[geom, R.POINT_COUNT]):
                    point = geom_vec3[env, geom, R.GEOM_POS] + \
                        geom_rot[env, geom] @ points[geom_model_int[geom, R.POINT_START] + f]
                    if (point >= low - reach).all() and (point <= high + reach).all():
                        edge_b, edge_c, offset = xb - xa, xc - xa, point - xa
                        d00, d01, d11 = edge_b.dot(edge_b), edge_b.dot(edge_c), edge_c.dot(edge_c)
                        d20, d21 = offset.dot(edge_b), offset.dot(edge_c)
                        denominator = d00 * d11 - d01 * d01
                        normal = edge_b.cross(edge_c)
                        if denominator > 1e-20:
                            wb = (d11 * d20 - d01 * d21) / denominator
                            wc = (d00 * d21 - d01 * d20) / denominator
                            weights = vec3(1.0 - wb - wc, wb, wc)
                            if (weights >= 0.0).all():
                                normal = normal.normalized()
                                distance = offset.dot(normal)
                                pa, pb, pc = x_prev[env, corner[0]], x_prev[env, corner[1]], x_prev[env, corner[2]]
                                before = (point - pa).dot((pb - pa).cross(pc - pa))
                                side = 1.0 if before > 0 else -1.0
                                if before == 0:
                                    side = 1.0 if distance >= 0 else -1.0
                                depth = reach - side * distance
                                inverse = vec3(0.0)
                                for m in ti.static(range(3)):
                                    inverse[m] = _inverse_mass(p_scalar, pin_body, env, corner[m])
                                share = (inverse * weights * weights).sum()
                                if depth > 0 and share > 0:
                                    body = geom_model_int[geom, R.GEOM_BODY]
                                    arm = point - body_vec3[env, body, R.COM_WORLD]
                                    surface_velocity = body_vec3[env, body, R.LIN_VEL] + \
                                        body_vec3[env, body, R.ANG_VEL].cross(arm)
                                    moved = weights[0] * (xa - pa) + weights[1] * (xb - pb) + weights[2] * (xc - pc)
                                    friction = ti.max(body_scalar[p_int[corner[0], L.BODY], L.FRICTION],
                                                      geom_model_scalar[geom, R.FRICTION])
                                    tangential = _friction(moved - dt * surface_velocity, normal, friction * depth)
                                    correction = -side * depth * normal - tangential
                                    given = vec3(0.0)
                                    for m in ti.static(range(3)):
                                        move = inverse[m] * weights[m] / share * correction
                                        ti.atomic_add(delta[env, corner[m]], move)
                                        given += p_scalar[corner[m], L.MASS] * move / dt
                                    if body_moves[body] != R.MOVES_STATIC:
                                        impulse[env, body, L.LINEAR] -= given
                                        impulse[env, body, L.ANGULAR] -= arm.cross(given)
    for env, i in ti.ndrange(x.shape[0], x.shape[1]):
        x[env, i] += delta[env, i]


@ti.kernel
def finish_substep(p_scalar: nd(None, 2), p_int: nd(ti.i32, 2), body_scalar: nd(None, 2), x: nd(vec3, 2),
                   v: nd(vec3, 2), x_prev: nd(vec3, 2), pin_body: nd(ti.i32, 2), tether_anchor: nd(ti.i32, 3),
                   tether_length: nd(None, 3), colliders: nd(ti.i32, 1),
                   impulse: nd(vec3, 3), geom_model_int: nd(ti.i32, 2), geom_model_scalar: nd(None, 2),
                   geom_model_vec3: nd(vec3, 2), planes: nd(vec4, 1), geom_vec3: nd(vec3, 3), geom_rot: nd(mat3, 2),
                   body_vec3: nd(vec3, 3), body_moves: nd(ti.i32, 1), params: nd(None, 1),
                   int_params: nd(ti.i32, 1), serial: ti.template()):
    """Tethers, rigid geoms and walls, then velocities from the substep's displacement."""
    dt, radius = params[L.DT], params[L.RADIUS]
    lower = vec3(params[L.LOWER_X], params[L.LOWER_Y], params[L.LOWER_Z])
    upper = vec3(params[L.UPPER_X], params[L.UPPER_Y], params[L.UPPER_Z])
    # Atomic sums of impulses in a varying order vary in the last bit: serial when runs must be bit-identical.
    ti.loop_config(serialize=serial)
    for env, i in ti.ndrange(x.shape[0], x.shape[1]):
        position = x[env, i]
        if pin_body[env, i] == L.FREE:
            # Tethers are unilateral and the pin weighs infinitely much: only the particle moves, and only when
            # it is farther from the pin than its rest geodesic distance. Anchors are pinned, so no other
            # thread of this loop writes them.
            for slot in ti.static(range(L.TETHER_SLOTS)):
                anchor = tether_anchor[env, i, slot]
                if anchor >= 0:
                    reach = position - x[env, anchor]
                    distance = reach.norm()
                    if distance > tether_length[env, i, slot]:
                        position -= (1.0 - tether_length[env, i, slot] / distance) * reach
            mass = p_scalar[i, L.MASS]
            friction = body_scalar[p_int[i, L.BODY], L.FRICTION]
            inelastic = vec3(0.0)  # the velocity change that keeps the contacts' push-outs from bouncing
            for k in range(int_params[L.N_COLLIDERS]):
                geom = colliders[k]
                near = True
                if geom_model_int[geom, R.GEOM_TYPE] != GeomType.PLANE:  # cheap bounds test first
                    near = (position >= geom_vec3[env, geom, R.AABB_MIN] - radius).all() and \
                        (position <= geom_vec3[env, geom, R.AABB_MAX] + radius).all()
                distance, normal = 1.0, vec3(0.0, 0.0, 1.0)
                if near:
                    distance, normal = signed_distance(
                        RigidGeoms(geom_model_int, geom_model_vec3, planes, geom_vec3, geom_rot), env, geom, position)
                depth = radius - distance
                if near and depth > 0:
                    body = geom_model_int[geom, R.GEOM_BODY]
                    arm = position - body_vec3[env, body, R.COM_WORLD]
                    surface_velocity = body_vec3[env, body, R.LIN_VEL] + body_vec3[env, body, R.ANG_VEL].cross(arm)
                    pushed = position + depth * normal
                    # The push-out would leave the particle moving off the surface at depth / dt, and the next
                    # substep's gravity brings it back: contact vertices chattered at up to metres per second.
                    # The contact is inelastic instead: what approached stops, what already moved away keeps
                    # that speed, and no more (the velocity pass of Mueller et al. 2020, restitution 0).
                    speed_off = ((position - x_prev[env, i]) / dt - surface_velocity).dot(normal)  # before the push
                    stop = -(depth / dt + ti.min(speed_off, 0.0)) * normal
                    inelastic += stop
                    limit = ti.max(friction, geom_model_scalar[geom, R.FRICTION]) * depth
                    pushed -= _friction(pushed - x_prev[env, i] - dt * surface_velocity, normal, limit)
                    if body_moves[body] != R.MOVES_STATIC:
                        # The particle's momentum change, m ((pushed - position) / dt + stop), taken from the body.
                        given = mass * ((position - pushed) / dt - stop)
                        impulse[env, body, L.LINEAR] += given
                        impulse[env, body, L.ANGULAR] += arm.cross(given)
                    position = pushed
            position = _stop_at_walls(position, x_prev[env, i], lower, upper, friction)
            x[env, i] = position
            v[env, i] = (position - x_prev[env, i]) / dt + inelastic
        else:
            v[env, i] = (position - x_prev[env, i]) / dt


@ti.func
def _stop_at_walls(position, previous, lower, upper, friction):
    """A particle's position kept within the domain's walls (its centre on a wall at most), with Coulomb friction
    against the walls, which have no coefficient of their own: the particle's body's holds (a contact takes the
    larger of its two sides'). On a frictionless wall, grains on the floor spread flat and a sliding block never
    stops."""
    inside = ti.min(ti.max(position, lower), upper)
    push = inside - position
    depth = push.norm()
    if depth > 0.0:
        inside = ti.min(ti.max(inside - _friction(inside - previous, push / depth, friction * depth), lower), upper)
    return inside


@ti.kernel
def end_step(x: nd(vec3, 2), v: nd(vec3, 2), impulse: nd(vec3, 3), body_vec3: nd(vec3, 3),
             int_params: nd(ti.i32, 1), flag: nd(ti.i32, 1)) -> ti.i32:
    """Hand the step's contact impulses to the rigid solver (its accumulator: the next rigid step turns them
    into velocity, a link's through its tree); returns the first (env * n + particle) whose position or
    velocity is not finite, else NO_PARTICLE."""
    for env, body in ti.ndrange(x.shape[0], int_params[L.N_RIGID_BODIES]):
        body_vec3[env, body, R.EXTERNAL_IMPULSE] += impulse[env, body, L.LINEAR]
        body_vec3[env, body, R.EXTERNAL_ANG_IMPULSE] += impulse[env, body, L.ANGULAR]
        impulse[env, body, L.LINEAR] = vec3(0.0)
        impulse[env, body, L.ANGULAR] = vec3(0.0)
    flag[0] = L.NO_PARTICLE
    for env, p in ti.ndrange(x.shape[0], x.shape[1]):
        if not is_finite(x[env, p].norm_sqr() + v[env, p].norm_sqr()):
            ti.atomic_min(flag[0], env * x.shape[1] + p)
    return flag[0]
