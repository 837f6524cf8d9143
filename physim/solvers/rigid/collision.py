"""Collision detection for one env: broad phase over bounding boxes, then points against signed distances.

A contact is a point of geom a (inflated by a's point radius) within the speculative margin of geom b's
surface, or, between polytopes, a crossing of an edge of a with an edge of b. Its normal points out of b
towards a, its separation is negative when the two overlap, and its slot (the point's global index, or the
crossing's among its geom's) identifies it from one substep to the next for warm starting. Edge crossings
are found after the other contacts, by ``edge_pass`` over the pairs the narrow phase lists for it.
"""


import taichi as ti

from physim.solvers.rigid.gjk import penetration
from physim.solvers.rigid.layout import (
    AABB_MAX,
    AABB_MIN,
    BODY_LOCAL,
    BODY_MOVABLE,
    BODY_PARENT,
    BODY_TREE,
    CONAFFINITY,
    CONTACT_COUNT,
    CONTACT_FRICTION,
    CONTACT_GEOM_A,
    CONTACT_GEOM_B,
    CONTACT_NORMAL,
    CONTACT_POS,
    CONTACT_RESTITUTION,
    CONTACT_SLOT,
    CONTACTS_WANTED,
    CONTYPE,
    EDGE_PAIRS,
    EXCLUDE_BITS,
    EXCLUDE_LO,
    FRICTION,
    GEOM_BODY,
    GEOM_POS,
    GEOM_TYPE,
    MARGIN,
    MAX_CONTACTS_WANTED,
    N_BOUNDED_GEOMS,
    N_UNBOUNDED_GEOMS,
    PLANE_COUNT,
    PLANE_START,
    POINT_COUNT,
    POINT_RADIUS,
    POINT_START,
    RESTITUTION,
    SEPARATION,
    SIZE,
    WARM_WAYS,
)
from physim.solvers.rigid.shapes import GeomType
from physim.utils.tmath import any_perpendicular

MAX_EDGE_CONTACTS = 8
"""Warm-start slots per geom for its edge-crossing contacts (one way per partner geom); more share the last."""
FEATURE_EDGES = 16
"""Most boundary edges taken from the feature (vertex, edge, face) each polytope presents to the other."""
FEATURE_TOLERANCE = 1e-3
"""Collider points within this distance (m) of a polytope's support plane make up the feature it presents."""
GAP_TOLERANCE = 1e-4
"""The point tests reached a pair's deepest point along its separating axis if one of their contacts is within
this (m) of it; otherwise an edge crossing holds the deepest point, and GJK/EPA looks for it."""


@ti.func
def signed_distance(d: ti.template(), env, geom, point):
    """Signed distance (m) from a world point to a geom's surface, and the outward unit normal (world)."""
    rotation = d.geom_rot[env, geom]
    local = rotation.transpose() @ (point - d.geom_vec3[env, geom, GEOM_POS])
    size = d.geom_model_vec3[geom, SIZE]
    geom_type = d.geom_model_int[geom, GEOM_TYPE]
    distance = local[2]
    normal = ti.Vector([0.0, 0.0, 1.0])
    if geom_type == GeomType.SPHERE:
        length = local.norm()
        distance = length - size[0]
        if length > 1e-12:
            normal = local / length
    elif geom_type == GeomType.BOX:
        excess = ti.abs(local) - size
        outside = ti.max(excess, 0.0)
        if outside.max() > 0:
            distance = outside.norm()
            normal = ti.math.sign(local) * outside / distance
        else:
            axis = 0
            if excess[1] > excess[axis]:
                axis = 1
            if excess[2] > excess[axis]:
                axis = 2
            distance = excess[axis]
            normal = ti.Vector([0.0, 0.0, 0.0])
            normal[axis] = 1.0 if local[axis] >= 0 else -1.0
    elif geom_type == GeomType.CAPSULE:
        offset = local - ti.Vector([0.0, 0.0, ti.math.clamp(local[2], -size[1], size[1])])
        length = offset.norm()
        distance = length - size[0]
        normal = ti.Vector([1.0, 0.0, 0.0])
        if length > 1e-12:
            normal = offset / length
    elif geom_type == GeomType.CYLINDER:
        radial = ti.Vector([local[0], local[1], 0.0])
        radius = radial.norm()
        radial_dir = ti.Vector([1.0, 0.0, 0.0])
        if radius > 1e-12:
            radial_dir = radial / radius
        axial_dir = ti.Vector([0.0, 0.0, 1.0 if local[2] >= 0 else -1.0])
        radial_excess = radius - size[0]
        axial_excess = ti.abs(local[2]) - size[1]
        if radial_excess > 0 and axial_excess > 0:
            distance = ti.sqrt(radial_excess**2 + axial_excess**2)
            normal = (radial_dir * radial_excess + axial_dir * axial_excess) / distance
        elif radial_excess > axial_excess:
            distance = radial_excess
            normal = radial_dir
        else:
            distance = axial_excess
            normal = axial_dir
    elif geom_type == GeomType.CONVEX:
        # The farthest face plane: exact inside and over faces, a slight underestimate near edges outside.
        start = d.geom_model_int[geom, PLANE_START]
        distance = -1e30
        for k in range(d.geom_model_int[geom, PLANE_COUNT]):
            plane = d.planes[start + k]
            plane_normal = ti.Vector([plane[0], plane[1], plane[2]])
            plane_distance = plane_normal.dot(local) - plane[3]
            if plane_distance > distance:
                distance = plane_distance
                normal = plane_normal
    return distance, rotation @ normal


@ti.func
def emit_contact(d: ti.template(), env, geom_a, geom_b, slot, position, normal, separation):
    index = d.counters[env, CONTACT_COUNT]
    d.counters[env, CONTACTS_WANTED] += 1
    if index < d.contact_int.shape[1]:
        d.counters[env, CONTACT_COUNT] = index + 1
        d.contact_int[env, index, CONTACT_GEOM_A] = geom_a
        d.contact_int[env, index, CONTACT_GEOM_B] = geom_b
        d.contact_int[env, index, CONTACT_SLOT] = slot
        d.contact_vec3[env, index, CONTACT_POS] = position
        d.contact_vec3[env, index, CONTACT_NORMAL] = normal
        d.contact_scalar[env, index, SEPARATION] = separation
        d.contact_scalar[env, index, CONTACT_FRICTION] = ti.max(d.geom_model_scalar[geom_a, FRICTION],
                                                              d.geom_model_scalar[geom_b, FRICTION])
        d.contact_scalar[env, index, CONTACT_RESTITUTION] = ti.max(d.geom_model_scalar[geom_a, RESTITUTION],
                                                                 d.geom_model_scalar[geom_b, RESTITUTION])


@ti.func
def points_against_surface(d: ti.template(), env, geom_a, geom_b, pair_normal, pair_support, use_pair_normal,
                           same_from, same_to):
    """Contacts of geom a's collider points with geom b's surface.

    With ``use_pair_normal`` (polytope pairs) every contact takes the pair's separating-axis normal and
    its depth along it (``pair_support`` is b's extent along that normal): a corner resting exactly on
    another box's corner has no unique surface normal of its own, and a sideways one would shove it off.
    The signed distance still decides which points are near enough to touch. Returns the smallest
    separation among the points near enough (1e30: none).

    Contacts ``same_from`` to ``same_to`` are the other side's along the same normal: a point closer than
    a tenth of the contact margin to one of them is that contact again and is not emitted. (Two stacked
    boxes' coincident corners would otherwise make every corner two constraints: twice the work, and a
    solve whose impulses cycle between the twins instead of converging.)
    """
    rotation = d.geom_rot[env, geom_a]
    origin = d.geom_vec3[env, geom_a, GEOM_POS]
    radius = d.geom_model_scalar[geom_a, POINT_RADIUS]
    margin = d.geom_margin[env, geom_a] + d.geom_margin[env, geom_b]
    start = d.geom_model_int[geom_a, POINT_START]
    # A box's signed distance is exact, so it is at least a point's height over the box's support plane along
    # the pair normal: a point that far beyond the margin cannot touch, and needs no distance (the far corners).
    exact_b = use_pair_normal and d.geom_model_int[geom_b, GEOM_TYPE] == GeomType.BOX
    deepest = 1e30
    for k in range(d.geom_model_int[geom_a, POINT_COUNT]):
        center = origin + rotation @ d.points[start + k]
        along = pair_normal.dot(center) - radius - pair_support
        if exact_b and along >= margin:
            continue
        distance, normal = signed_distance(d, env, geom_b, center)
        separation = distance - radius
        if separation < margin:
            if use_pair_normal:
                normal = pair_normal
                separation = along
            # Midway between the two surfaces.
            position = center - (radius + 0.5 * separation) * normal
            coincident = False
            for other in range(same_from, same_to):
                if (d.contact_vec3[env, other, CONTACT_POS] - position).norm_sqr() < (0.1 * d.params[MARGIN])**2:
                    coincident = True
            if not coincident:
                emit_contact(d, env, geom_a, geom_b, start + k, position, normal, separation)
            deepest = ti.min(deepest, separation)
    return deepest


@ti.func
def face_axis(d: ti.template(), env, geom, k):
    """The k-th face normal (world) of a box (its 3 axes) or a convex mesh (its face planes)."""
    axis = ti.Vector([0.0, 0.0, 0.0])
    if d.geom_model_int[geom, GEOM_TYPE] == GeomType.BOX:
        axis[k] = 1.0
    else:
        plane = d.planes[d.geom_model_int[geom, PLANE_START] + k]
        axis = ti.Vector([plane[0], plane[1], plane[2]])
    return d.geom_rot[env, geom] @ axis


@ti.func
def extent_along(d: ti.template(), env, geom, axis):
    """Lowest and highest projection of a geom's collider onto an axis, m."""
    # The axis goes into the geom's frame once, so each point costs one dot product.
    local_axis = d.geom_rot[env, geom].transpose() @ axis
    offset = axis.dot(d.geom_vec3[env, geom, GEOM_POS])
    radius = d.geom_model_scalar[geom, POINT_RADIUS]
    start = d.geom_model_int[geom, POINT_START]
    low, high = 1e30, -1e30
    if d.geom_model_int[geom, GEOM_TYPE] == GeomType.BOX:  # its corners' extreme: half sizes along the axis
        reach = ti.abs(local_axis).dot(d.geom_model_vec3[geom, SIZE])
        low, high = offset - reach, offset + reach
    else:
        for k in range(d.geom_model_int[geom, POINT_COUNT]):
            projection = offset + local_axis.dot(d.points[start + k])
            low = ti.min(low, projection)
            high = ti.max(high, projection)
    return low - radius, high + radius


@ti.func
def separating_axis(d: ti.template(), env, geom_a, geom_b, enough, hint):
    """The face normal of either polytope along which they are most separated (least overlapping), oriented
    from b towards a, b's highest extent along it, a's lowest, the separation along it (m), and the index of
    that face among a's then b's faces. Face axes only: edge-edge axes are left to the point tests. The search
    stops at the first axis separating them by more than ``enough`` (m): they cannot touch, and which axis
    shows it does not matter. Two probes come first, as they separate most pairs that are apart: the face
    ``hint`` (the one that served last substep; -1: none) and the line between their centres. Probes may prove
    the pair apart but never choose the normal, so the hint changes the cost, not the contacts."""
    best_normal = ti.Vector([0.0, 0.0, 1.0])
    best_separation = -1e30
    best_support = 0.0
    best_low_a = 0.0
    best_face = hint
    between = d.geom_vec3[env, geom_a, GEOM_POS] - d.geom_vec3[env, geom_b, GEOM_POS]
    n_axes_a = 3
    if d.geom_model_int[geom_a, GEOM_TYPE] == GeomType.CONVEX:
        n_axes_a = d.geom_model_int[geom_a, PLANE_COUNT]
    n_axes_b = 3
    if d.geom_model_int[geom_b, GEOM_TYPE] == GeomType.CONVEX:
        n_axes_b = d.geom_model_int[geom_b, PLANE_COUNT]
    for index in range(n_axes_a + n_axes_b + 2):
        if best_separation <= enough and (index != 0 or 0 <= hint < n_axes_a + n_axes_b):
            probe = index <= 1
            face = index - 2
            if index == 0:
                face = hint
            axis = between / ti.max(between.norm(), 1e-12)
            if index != 1:
                axis = face_axis(d, env, geom_a if face < n_axes_a else geom_b,
                                 face if face < n_axes_a else face - n_axes_a)
            low_a, high_a, low_b, high_b = 0.0, 0.0, 0.0, 0.0
            for which in range(2):  # one call site: the extent code is compiled once
                low, high = extent_along(d, env, geom_a if which == 0 else geom_b, axis)
                if which == 0:
                    low_a, high_a = low, high
                else:
                    low_b, high_b = low, high
            if probe:
                if ti.max(low_a - high_b, low_b - high_a) > enough:
                    best_separation = ti.max(low_a - high_b, low_b - high_a)
            else:
                if low_a - high_b > best_separation:  # a lies on the +axis side of b
                    best_separation, best_normal, best_support, best_low_a = low_a - high_b, axis, high_b, low_a
                    best_face = face
                if low_b - high_a > best_separation:  # a lies on the -axis side of b
                    best_separation, best_normal = low_b - high_a, -axis
                    best_support, best_low_a = -low_b, -high_a
                    best_face = face
    return best_normal, best_support, best_low_a, best_separation, best_face


@ti.func
def _axis_hint_slot(d: ti.template(), geom_a):
    """The warm-start slot that keeps geom a's separating-axis hints, one way per partner geom (after the
    points', the capsule crossings' and the edge crossings' slots)."""
    return d.warm_geom.shape[1] - d.geom_vec3.shape[1] + geom_a


@ti.func
def capsule_crossing(d: ti.template(), env, geom_a, geom_b, slot):
    """Two capsules crossing between their ends touch where their segments are closest: a contact that
    end points alone would miss."""
    pa = d.geom_vec3[env, geom_a, GEOM_POS]
    pb = d.geom_vec3[env, geom_b, GEOM_POS]
    ua = d.geom_rot[env, geom_a] @ ti.Vector([0.0, 0.0, 1.0])
    ub = d.geom_rot[env, geom_b] @ ti.Vector([0.0, 0.0, 1.0])
    ha = d.geom_model_vec3[geom_a, SIZE][1]
    hb = d.geom_model_vec3[geom_b, SIZE][1]
    w = pa - pb
    b = ua.dot(ub)
    denom = 1.0 - b * b
    if denom > 1e-6:
        s = (b * ub.dot(w) - ua.dot(w)) / denom
        t = (ub.dot(w) - b * ua.dot(w)) / denom
        if ti.abs(s) < ha and ti.abs(t) < hb:
            ca = pa + s * ua
            cb = pb + t * ub
            gap = ca - cb
            length = gap.norm()
            radius_a = d.geom_model_scalar[geom_a, POINT_RADIUS]
            radius_b = d.geom_model_scalar[geom_b, POINT_RADIUS]
            separation = length - radius_a - radius_b
            if separation < d.geom_margin[env, geom_a] + d.geom_margin[env, geom_b] and length > 1e-9:
                normal = gap / length
                emit_contact(d, env, geom_a, geom_b, slot, ca - (radius_a + 0.5 * separation) * normal, normal,
                             separation)


@ti.func
def _feature_mask(d: ti.template(), env, geom, direction, tolerance):
    """Bit mask of a polytope's collider points within ``tolerance`` (m) of its support plane along a world
    direction: one point (a vertex), two (an edge) or more (a face). The first 32 points only."""
    local = d.geom_rot[env, geom].transpose() @ direction
    start = d.geom_model_int[geom, POINT_START]
    count = ti.min(d.geom_model_int[geom, POINT_COUNT], 32)
    best = -1e30
    for k in range(count):
        best = ti.max(best, local.dot(d.points[start + k]))
    mask = 0
    for k in range(count):
        if local.dot(d.points[start + k]) >= best - tolerance:
            mask |= 1 << k
    return mask


@ti.func
def _boundary_edge(d: ti.template(), start, mask, i, j, normal_local):
    """Whether points i and j of a feature (bit mask) bound it: every other point of it lies on one side of
    the line through them, seen along the normal (a face's diagonal has points on both sides)."""
    pi, pj = d.points[start + i], d.points[start + j]
    axis = (pj - pi).cross(normal_local)
    low, high = 0.0, 0.0
    for k in range(32):
        if (mask >> k) & 1 and k != i and k != j:
            side = axis.dot(d.points[start + k] - pi)
            low, high = ti.min(low, side), ti.max(high, side)
    scale = 1e-6 * (pj - pi).norm_sqr()
    return low > -scale or high < scale


@ti.func
def edge_crossings(d: ti.template(), env, geom_a, geom_b, normal, reach):
    """Contacts where boundary edges of a's feature facing b cross those of b's feature facing a, seen along
    ``normal`` (unit, out of b towards a), that are within ``reach`` (m). Crossings at segment ends are
    vertices, left to the point tests. The point tests see every vertex inside the other geom, but not an
    edge crossing an edge: a box lying across another's ridge, two edges crossed, two equal boxes stacked
    at 45 degrees."""
    # The world end points of each side's boundary edges, side a's in rows 0.., b's from FEATURE_EDGES on.
    ends = ti.Matrix.zero(float, 2 * FEATURE_EDGES, 6)
    n_edges = ti.Vector([0, 0])
    for side in range(2):  # one call site: the feature code is compiled once
        geom = geom_a if side == 0 else geom_b
        facing = -normal if side == 0 else normal
        mask = _feature_mask(d, env, geom, facing, FEATURE_TOLERANCE)
        rotation, origin = d.geom_rot[env, geom], d.geom_vec3[env, geom, GEOM_POS]
        start = d.geom_model_int[geom, POINT_START]
        count = ti.min(d.geom_model_int[geom, POINT_COUNT], 32)
        for i, j in ti.ndrange(count, count):
            if j > i and (mask >> i) & 1 and (mask >> j) & 1 and n_edges[side] < FEATURE_EDGES and _boundary_edge(
                    d, start, mask, i, j, rotation.transpose() @ facing):
                row = side * FEATURE_EDGES + n_edges[side]
                p0, p1 = origin + rotation @ d.points[start + i], origin + rotation @ d.points[start + j]
                for c in ti.static(range(3)):
                    ends[row, c], ends[row, 3 + c] = p0[c], p1[c]
                n_edges[side] += 1
    first_slot = d.points.shape[0] + d.geom_vec3.shape[1] + geom_a * MAX_EDGE_CONTACTS
    tangent1 = any_perpendicular(normal)
    tangent2 = normal.cross(tangent1)
    found = 0
    for ea, eb in ti.ndrange(n_edges[0], n_edges[1]):
        p0 = ti.Vector([ends[ea, c] for c in range(3)])
        p1 = ti.Vector([ends[ea, 3 + c] for c in range(3)])
        q0 = ti.Vector([ends[FEATURE_EDGES + eb, c] for c in range(3)])
        q1 = ti.Vector([ends[FEATURE_EDGES + eb, 3 + c] for c in range(3)])
        # Seen along the normal: p0 + s (p1 - p0) meets q0 + t (q1 - q0).
        r = ti.Vector([(p1 - p0).dot(tangent1), (p1 - p0).dot(tangent2)])
        e = ti.Vector([(q1 - q0).dot(tangent1), (q1 - q0).dot(tangent2)])
        g = ti.Vector([(q0 - p0).dot(tangent1), (q0 - p0).dot(tangent2)])
        denominator = r[0] * e[1] - r[1] * e[0]
        if ti.abs(denominator) > 1e-6 * r.norm() * e.norm():  # parallel edges cross nowhere
            s = (g[0] * e[1] - g[1] * e[0]) / denominator
            t = (g[0] * r[1] - g[1] * r[0]) / denominator
            if 1e-4 < s < 1 - 1e-4 and 1e-4 < t < 1 - 1e-4:
                on_a = p0 + s * (p1 - p0)
                on_b = q0 + t * (q1 - q0)
                separation = (on_a - on_b).dot(normal)
                if separation < reach:
                    emit_contact(d, env, geom_a, geom_b, first_slot + ti.min(found, MAX_EDGE_CONTACTS - 1),
                                 0.5 * (on_a + on_b), normal, separation)
                    found += 1


@ti.func
def collide_pair(d: ti.template(), env, geom_a, geom_b):
    """Narrow phase of one pair. Each side's points are tested against the other's surface, except where
    one side is exact alone: a plane has no points, and a sphere's centre against any surface is exact."""
    if d.geom_model_int[geom_a, GEOM_TYPE] == GeomType.PLANE:
        geom_a, geom_b = geom_b, geom_a
    type_a = d.geom_model_int[geom_a, GEOM_TYPE]
    type_b = d.geom_model_int[geom_b, GEOM_TYPE]
    a_in_b = True
    b_in_a = type_b != GeomType.PLANE
    if type_a == GeomType.SPHERE:
        b_in_a = False
    elif type_b == GeomType.SPHERE:
        a_in_b = False
    polytopes = (type_a == GeomType.BOX or type_a == GeomType.CONVEX) and (
        type_b == GeomType.BOX or type_b == GeomType.CONVEX)
    pair_normal = ti.Vector([0.0, 0.0, 1.0])
    support_b = 0.0
    low_a = 0.0
    separation = 0.0
    reach = d.geom_margin[env, geom_a] + d.geom_margin[env, geom_b]
    if polytopes:
        # The face that served this pair last substep: bodies move little, so it usually settles the test.
        slot = _axis_hint_slot(d, geom_a)
        way, hint = -1, -1
        for w in range(WARM_WAYS):
            if d.warm_geom[env, slot, w] == geom_b:
                way = w
        if way >= 0:
            hint = ti.cast(d.warm_impulse[env, slot, way][0], ti.i32)
        else:  # a free way, else the last one
            way = WARM_WAYS - 1
            for back in range(WARM_WAYS):
                if d.warm_geom[env, slot, WARM_WAYS - 1 - back] == -1:
                    way = WARM_WAYS - 1 - back
        face = -1
        pair_normal, support_b, low_a, separation, face = separating_axis(d, env, geom_a, geom_b, reach, hint)
        d.warm_geom[env, slot, way] = geom_b
        d.warm_impulse[env, slot, way] = ti.Vector([face * 1.0, 0.0, 0.0])  # small ints are exact in floats
        if separation > reach:
            a_in_b, b_in_a = False, False  # a separating plane farther than the margins: no contact
    # One call site, so the signed-distance code is compiled once.
    deepest = 1e30
    first = d.counters[env, CONTACT_COUNT]
    for side in range(2):
        if (side == 0 and a_in_b) or (side == 1 and b_in_a):
            surface_normal = pair_normal
            support = support_b
            same_to = first  # side 0 has no twins to skip
            if side == 1:  # b's points against a: the normal flips and a's extent along it bounds the overlap
                surface_normal = -pair_normal
                support = -low_a
                if polytopes:  # a's contacts lie along the same normal: b's corners may repeat them
                    same_to = d.counters[env, CONTACT_COUNT]
            deepest = ti.min(deepest, points_against_surface(
                d, env, geom_a if side == 0 else geom_b, geom_b if side == 0 else geom_a, surface_normal, support,
                polytopes, first, same_to))
    # Within reach along every face axis, yet no vertex at the deepest point along the best of them: an edge
    # crossing an edge is. The edge pass (GJK/EPA) looks for it.
    if polytopes and separation <= reach and deepest > separation + GAP_TOLERANCE:
        queue_edge_pair(d, env, geom_a, geom_b)
    if type_a == GeomType.CAPSULE and type_b == GeomType.CAPSULE:
        capsule_crossing(d, env, geom_a, geom_b, d.points.shape[0] + geom_a)


@ti.func
def queue_edge_pair(d: ti.template(), env, geom_a, geom_b):
    """List a polytope pair for the edge pass. A pair the list has no room for counts as a wanted contact, so
    the buffers grow for the next step."""
    index = d.counters[env, EDGE_PAIRS]
    if index < d.edge_pairs.shape[1]:
        d.edge_pairs[env, index, 0] = geom_a
        d.edge_pairs[env, index, 1] = geom_b
        d.counters[env, EDGE_PAIRS] = index + 1
    else:
        d.counters[env, CONTACTS_WANTED] += 1


@ti.func
def edge_pass(d: ti.template(), env):
    """The edge-crossing contacts of the pairs the narrow phase listed: GJK/EPA finds the normal along which
    each pair is least overlapping, then the crossings of their facing edges along it. It runs in a kernel of
    its own, compiled the first time a scene needs it (GJK/EPA is most of the narrow phase's compile time),
    and only over the listed pairs."""
    for k in range(d.counters[env, EDGE_PAIRS]):
        geom_a, geom_b = d.edge_pairs[env, k, 0], d.edge_pairs[env, k, 1]
        reach = d.geom_margin[env, geom_a] + d.geom_margin[env, geom_b]
        touching, normal, gap = penetration(d, env, geom_a, geom_b, reach)
        if touching and gap < reach:
            edge_crossings(d, env, geom_a, geom_b, normal, reach)
    d.counters[env, EDGE_PAIRS] = 0
    d.counters[env, MAX_CONTACTS_WANTED] = ti.max(d.counters[env, MAX_CONTACTS_WANTED],
                                                  d.counters[env, CONTACTS_WANTED])


@ti.func
def _may_collide(d: ti.template(), geom_a, geom_b):
    """Filter bits allow it, the bodies differ, one of them moves, and they are not a link and its parent
    (joined links overlap at the joint by design, as MuJoCo assumes)."""
    body_a = d.geom_model_int[geom_a, GEOM_BODY]
    body_b = d.geom_model_int[geom_b, GEOM_BODY]
    filtered_in = (d.geom_model_int[geom_a, CONTYPE] & d.geom_model_int[geom_b, CONAFFINITY]) != 0 or (
        d.geom_model_int[geom_b, CONTYPE] & d.geom_model_int[geom_a, CONAFFINITY]) != 0
    adjacent = d.body_model_int[body_a, BODY_PARENT] == body_b or d.body_model_int[body_b, BODY_PARENT] == body_a
    moving = d.body_model_int[body_a, BODY_MOVABLE] != 0 or d.body_model_int[body_b, BODY_MOVABLE] != 0
    excluded = False
    if ti.static(d.articulated):
        tree = d.body_model_int[body_a, BODY_TREE]
        if tree >= 0 and tree == d.body_model_int[body_b, BODY_TREE]:  # two links of one tree: its filter masks
            local = d.body_model_int[body_b, BODY_LOCAL]
            if local < 2 * EXCLUDE_BITS:
                word = d.body_model_int[body_a, EXCLUDE_LO + local // EXCLUDE_BITS]
                excluded = (word >> (local % EXCLUDE_BITS)) & 1 != 0
    return body_a != body_b and filtered_in and moving and not adjacent and not excluded


@ti.func
def sort_along_x(d: ti.template(), env):
    """Keep the env's bounded geoms sorted by the low x of their boxes. Insertion sort on last substep's
    order: bodies move little per substep, so this is close to linear in their number."""
    for i in range(1, d.int_params[N_BOUNDED_GEOMS]):
        geom = d.sweep_order[env, i]
        key = d.geom_vec3[env, geom, AABB_MIN][0]
        j = i - 1
        while j >= 0 and d.geom_vec3[env, d.sweep_order[env, j], AABB_MIN][0] > key:
            d.sweep_order[env, j + 1] = d.sweep_order[env, j]
            j -= 1
        d.sweep_order[env, j + 1] = geom


@ti.func
def detect_collisions(d: ti.template(), env):
    """All contacts of one env. Broad phase: sweep and prune along x over the sorted bounding boxes of
    the bounded geoms (every pair of different bodies, at least one movable, whose speculative boxes
    overlap); unbounded geoms (planes) pair with every bounded geom. Then the narrow phase per pair."""
    d.counters[env, CONTACT_COUNT] = 0
    d.counters[env, CONTACTS_WANTED] = 0
    d.counters[env, EDGE_PAIRS] = 0
    sort_along_x(d, env)
    n_bounded = d.int_params[N_BOUNDED_GEOMS]
    n_candidates = n_bounded + d.int_params[N_UNBOUNDED_GEOMS]
    for i in range(n_bounded):
        geom_a = d.sweep_order[env, i]
        low_a = d.geom_vec3[env, geom_a, AABB_MIN]
        high_a = d.geom_vec3[env, geom_a, AABB_MAX]
        # Later geoms in x order, then every unbounded one; one narrow-phase call site keeps compiles short.
        k = i + 1
        while k < n_candidates:
            geom_b = d.broadphase_geoms[k]
            candidate = True
            if k < n_bounded:
                geom_b = d.sweep_order[env, k]
                low_b = d.geom_vec3[env, geom_b, AABB_MIN]
                high_b = d.geom_vec3[env, geom_b, AABB_MAX]
                if low_b[0] > high_a[0]:
                    k = n_bounded  # no later box along x can overlap: on to the unbounded geoms
                    continue
                candidate = (low_b[1] <= high_a[1] and low_a[1] <= high_b[1] and low_b[2] <= high_a[2]
                             and low_a[2] <= high_b[2])
            else:  # a plane: a's (margin-inflated) box must reach below it
                normal = d.geom_rot[env, geom_b] @ ti.Vector([0.0, 0.0, 1.0])
                centre, half = 0.5 * (low_a + high_a), 0.5 * (high_a - low_a)
                candidate = normal.dot(centre - d.geom_vec3[env, geom_b, GEOM_POS]) - ti.abs(normal).dot(half) <= 0
            if candidate and _may_collide(d, geom_a, geom_b):
                collide_pair(d, env, ti.min(geom_a, geom_b), ti.max(geom_a, geom_b))
            k += 1
    d.counters[env, MAX_CONTACTS_WANTED] = ti.max(d.counters[env, MAX_CONTACTS_WANTED],
                                                  d.counters[env, CONTACTS_WANTED])
