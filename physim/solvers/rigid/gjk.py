"""Penetration of two convex support-mapped geoms: GJK (does the origin lie in their Minkowski difference?)
then EPA (how deep, along which direction).

Geom a is inflated by ``reach`` (a ball of that radius swept over it): the signed distance of the inflated
difference is the true one minus ``reach``, so one GJK/EPA pass answers both "apart by less than the margin"
(a speculative contact) and "overlapping by this much", and EPA never has to start from a touching simplex.
Over the flat faces of polytopes EPA is exact; over the inflation's round patches it stops at ``EPA_TOLERANCE``.
"""

import taichi as ti

from physim.solvers.rigid.layout import GEOM_POS, GEOM_TYPE, POINT_COUNT, POINT_START, SIZE
from physim.solvers.rigid.shapes import GeomType
from physim.utils.tmath import any_perpendicular

GJK_ITERATIONS = 32
EPA_VERTICES = 16
EPA_FACES = 28
EPA_EDGES = 16
EPA_TOLERANCE = 1e-6
"""EPA stops once a new support point lies within this distance (m) of the closest face."""


@ti.func
def support(d: ti.template(), env, geom, direction):
    """The point of a geom's collider (box corners, hull vertices) farthest along a world direction, world."""
    rotation = d.geom_rot[env, geom]
    local = rotation.transpose() @ direction
    point = ti.Vector([0.0, 0.0, 0.0])
    if d.geom_model_int[geom, GEOM_TYPE] == GeomType.BOX:
        size = d.geom_model_vec3[geom, SIZE]
        point = ti.select(local >= 0, size, -size)
    else:
        start = d.geom_model_int[geom, POINT_START]
        best = -1e30
        for k in range(d.geom_model_int[geom, POINT_COUNT]):
            projection = local.dot(d.points[start + k])
            if projection > best:
                best, point = projection, d.points[start + k]
    return d.geom_vec3[env, geom, GEOM_POS] + rotation @ point


@ti.func
def _difference_support(d: ti.template(), env, geom_a, geom_b, direction, reach):
    """Support point of (a inflated by ``reach``) minus b along ``direction``."""
    unit = direction / ti.max(direction.norm(), 1e-30)
    points = ti.Matrix.zero(float, 2, 3)
    for side in range(2):  # one call site: the support code is compiled once
        point = support(d, env, geom_a if side == 0 else geom_b, unit if side == 0 else -unit)
        for c in ti.static(range(3)):
            points[side, c] = point[c]
    return ti.Vector([points[0, c] - points[1, c] for c in range(3)]) + reach * unit


@ti.func
def _row(matrix, i):
    return ti.Vector([matrix[i, 0], matrix[i, 1], matrix[i, 2]])


@ti.func
def _set_row(matrix: ti.template(), i, v):
    for c in ti.static(range(3)):
        matrix[i, c] = v[c]


@ti.func
def _face_plane(vertices, i0, i1, i2):
    """Unit normal and distance from the origin of the face (i0, i1, i2), wound counter-clockwise seen
    from outside."""
    v0 = _row(vertices, i0)
    normal = (_row(vertices, i1) - v0).cross(_row(vertices, i2) - v0)
    length = normal.norm()
    distance = 1e30  # a degenerate face is never the closest
    if length > 1e-20:
        normal /= length
        distance = normal.dot(v0)
    return normal, distance


@ti.func
def penetration(d: ti.template(), env, geom_a, geom_b, reach):
    """Whether geoms a and b (both support-mapped) come within ``reach`` (m) of each other; if so, the unit
    normal out of b towards a along which they are least overlapping, and their separation along it (m,
    negative when they overlap)."""
    # GJK (Casey's boolean form): grow a simplex of difference points towards the origin. simplex rows
    # 0..count-1, the newest last.
    simplex = ti.Matrix.zero(float, 4, 3)
    count = 0
    direction = d.geom_vec3[env, geom_a, GEOM_POS] - d.geom_vec3[env, geom_b, GEOM_POS]
    if direction.norm() < 1e-9:
        direction = ti.Vector([0.0, 0.0, 1.0])
    # EPA's polytope: vertices, faces (vertex indices, counter-clockwise from outside), their planes, and
    # the horizon's edges while a vertex is added.
    vertices = ti.Matrix.zero(float, EPA_VERTICES, 3)
    faces = ti.Matrix.zero(ti.i32, EPA_FACES, 3)
    normals = ti.Matrix.zero(float, EPA_FACES, 3)
    distances = ti.Vector.zero(float, EPA_FACES)
    alive = ti.Vector.zero(ti.i32, EPA_FACES)
    edges = ti.Matrix.zero(ti.i32, EPA_EDGES, 2)
    n_vertices, n_faces = 0, 0
    closest = 0
    phase = 0  # 0: GJK, 1: EPA, 2: done, apart; 3: done, touching
    # One loop and one support call site for both stages (compile time).
    for _ in range(GJK_ITERATIONS + EPA_VERTICES):
        if phase >= 2:
            continue
        if phase == 1:
            direction = _row(normals, closest)
        w = _difference_support(d, env, geom_a, geom_b, direction, reach)
        if phase == 0:
            if count > 0 and w.dot(direction) < 0:
                phase = 2  # the support plane separates the origin from the difference
                continue
            _set_row(simplex, count, w)
            count += 1
            inside = False
            if count == 4:  # the origin lies beyond one of the faces at the newest point, or inside
                a = _row(simplex, 3)
                found = -1
                for f in range(3):
                    p = _row(simplex, f)
                    q = _row(simplex, (f + 1) % 3)
                    opposite = _row(simplex, (f + 2) % 3)
                    normal = (p - a).cross(q - a)
                    if normal.dot(opposite - a) > 0:
                        normal = -normal
                    if found < 0 and normal.dot(-a) > 0:
                        found = f
                if found < 0:
                    inside = True
                else:
                    p = _row(simplex, found)
                    q = _row(simplex, (found + 1) % 3)
                    _set_row(simplex, 0, p)
                    _set_row(simplex, 1, q)
                    _set_row(simplex, 2, a)
                    count = 3
            if count == 3 and not inside:
                a, b, c = _row(simplex, 2), _row(simplex, 1), _row(simplex, 0)
                ab, ac, ao = b - a, c - a, -a
                abc = ab.cross(ac)
                if abc.cross(ac).dot(ao) > 0:
                    count = 2
                    if ac.dot(ao) > 0:
                        _set_row(simplex, 1, a)  # keep c, a
                    else:
                        _set_row(simplex, 0, b)
                        _set_row(simplex, 1, a)
                elif ab.cross(abc).dot(ao) > 0:
                    count = 2
                    _set_row(simplex, 0, b)
                    _set_row(simplex, 1, a)
                else:
                    direction = abc if abc.dot(ao) > 0 else -abc
            if count == 2:
                a, b = _row(simplex, 1), _row(simplex, 0)
                ab, ao = b - a, -a
                if ab.dot(ao) > 0:
                    direction = ab.cross(ao).cross(ab)
                    if direction.norm() < 1e-12 * ab.norm_sqr():  # the origin is on the segment
                        direction = any_perpendicular(ab.normalized())
                else:
                    count = 1
                    _set_row(simplex, 0, a)
            if count == 1:
                direction = -_row(simplex, 0)
                if direction.norm() < 1e-12:  # the origin is a support point: touching at reach exactly
                    phase = 2
            if inside:
                # Start EPA from the tetrahedron, its faces wound outwards.
                for i in range(4):
                    _set_row(vertices, i, _row(simplex, i))
                n_vertices, n_faces = 4, 4
                for f in range(4):
                    i0, i1, i2 = (f + 1) % 4, (f + 2) % 4, (f + 3) % 4
                    normal = (_row(vertices, i1) - _row(vertices, i0)).cross(
                        _row(vertices, i2) - _row(vertices, i0))
                    if normal.dot(_row(vertices, f) - _row(vertices, i0)) > 0:
                        i1, i2 = i2, i1
                    faces[f, 0], faces[f, 1], faces[f, 2] = i0, i1, i2
                    normal, distance = _face_plane(vertices, i0, i1, i2)
                    _set_row(normals, f, normal)
                    distances[f], alive[f] = distance, 1
                phase = 1
        else:
            # EPA: the closest face's support point either lies on it (done) or is added, replacing the
            # faces it sees by a fan from the horizon.
            if w.dot(direction) - distances[closest] < EPA_TOLERANCE or n_vertices == EPA_VERTICES:
                phase = 3
            else:
                new = n_vertices
                _set_row(vertices, new, w)
                n_vertices += 1
                n_edges = 0
                for f in range(n_faces):
                    if alive[f] and _row(normals, f).dot(w - _row(vertices, faces[f, 0])) > 0:
                        alive[f] = 0
                        for e in range(3):
                            i0, i1 = faces[f, e], faces[f, (e + 1) % 3]
                            shared = -1  # the neighbour saw it too: the edge is inside the hole
                            for k in range(n_edges):
                                if edges[k, 0] == i1 and edges[k, 1] == i0:
                                    shared = k
                            if shared >= 0:
                                n_edges -= 1
                                edges[shared, 0], edges[shared, 1] = edges[n_edges, 0], edges[n_edges, 1]
                            elif n_edges < EPA_EDGES:
                                edges[n_edges, 0], edges[n_edges, 1] = i0, i1
                                n_edges += 1
                # Reuse dead face rows first, then append.
                slot = 0
                for k in range(n_edges):
                    while slot < n_faces and alive[slot]:
                        slot += 1
                    if slot < EPA_FACES:
                        faces[slot, 0], faces[slot, 1], faces[slot, 2] = edges[k, 0], edges[k, 1], new
                        normal, distance = _face_plane(vertices, edges[k, 0], edges[k, 1], new)
                        _set_row(normals, slot, normal)
                        distances[slot], alive[slot] = distance, 1
                        if slot == n_faces:
                            n_faces += 1
        if phase == 1 or phase == 3:
            closest = -1
            for f in range(n_faces):
                if alive[f] and (closest < 0 or distances[f] < distances[closest]):
                    closest = f
            if closest < 0:  # a degenerate polytope: nothing trustworthy to report
                phase = 2
                closest = 0
    # The difference's closest face has outward normal n: a must move by -depth n to come free.
    touching = phase == 1 or phase == 3  # phase 1: EPA ran out of iterations; its closest face stands
    normal = -_row(normals, closest)
    return touching, normal, reach - distances[closest]
