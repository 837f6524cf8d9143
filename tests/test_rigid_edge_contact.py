"""Polytopes touching edge to edge, where no vertex of either lies inside the other (GJK/EPA contacts)."""

import numpy as np
import pytest
import trimesh
from conftest import run

import physim as ps
from physim.utils.rotations import quat_to_matrix

Box, Mesh, Rigid = ps.morphs.Box, ps.morphs.Mesh, ps.materials.Rigid
RIDGE_HALF_DIAGONAL = 0.05 * np.sqrt(2)  # a 0.1 m square section turned 45 degrees: its ridge this far above centre
# Resting contacts settle within the solver's penetration slop (0.5 mm); the step may add a little more.
PENETRATION_TOLERANCE = 1e-3


def world_hull(scene, entity) -> trimesh.Trimesh:
    """The entity's collision hull placed at its current pose."""
    vertices = scene._visuals[entity.idx].vertices @ quat_to_matrix(entity.get_quat()).T + entity.get_pos()
    return trimesh.Trimesh(vertices=vertices).convex_hull


def separation(a: trimesh.Trimesh, b: trimesh.Trimesh) -> float:
    """Signed distance between two convex polytopes along the separating axis theorem's candidates (face
    normals of both and cross products of their edge directions), m: negative is the depth they overlap by."""
    def directions(hull):
        edges = hull.vertices[hull.edges_unique[:, 1]] - hull.vertices[hull.edges_unique[:, 0]]
        return edges / np.linalg.norm(edges, axis=1, keepdims=True)
    crossed = np.cross(directions(a)[:, None], directions(b)[None]).reshape(-1, 3)
    crossed = crossed[np.linalg.norm(crossed, axis=1) > 1e-6]
    axes = np.concatenate([a.face_normals, b.face_normals, crossed / np.linalg.norm(crossed, axis=1, keepdims=True)])
    pa, pb = a.vertices @ axes.T, b.vertices @ axes.T
    return float(np.max(np.maximum(pa.min(0) - pb.max(0), pb.min(0) - pa.max(0))))


def ridge_scene(upper_morph, lower_morph):
    scene = ps.Scene()
    scene.add_entity(ps.morphs.Plane())
    lower = scene.add_entity(lower_morph)
    upper = scene.add_entity(upper_morph, material=Rigid(friction=0.6))
    scene.build()
    return scene, lower, upper


def test_plank_lying_across_a_ridge_rests_on_it():
    # A 0.1 m square beam on its edge (turned 45 degrees about its long axis x): its top is a ridge along x,
    # at z = 2 RIDGE_HALF_DIAGONAL. A plank lies across it along y, its 4 cm middle on the ridge: no corner of
    # either is inside the other, only the ridge's edge crosses the plank's bottom face.
    ridge = 2 * RIDGE_HALF_DIAGONAL
    scene, lower, plank = ridge_scene(Box(size=(0.1, 0.4, 0.02), pos=(0, 0, ridge + 0.015)),
                                      Box(size=(0.4, 0.1, 0.1), pos=(0, 0, RIDGE_HALF_DIAGONAL), euler=(45, 0, 0),
                                          fixed=True))
    for _ in range(100):
        scene.step()
        assert separation(world_hull(scene, plank), world_hull(scene, lower)) > -PENETRATION_TOLERANCE
    assert plank.get_pos()[2] == pytest.approx(ridge + 0.01, abs=PENETRATION_TOLERANCE)  # on the ridge
    assert np.linalg.norm(plank.get_vel()) < 1e-3


def prism_file(path) -> str:
    """A triangular prism 0.4 m long along x, a right-angled 0.1 m high roof section: ridge at z = +0.05."""
    section = [(-0.1, -0.05), (0.1, -0.05), (0.0, 0.05)]  # (y, z)
    vertices = [(x, y, z) for x in (-0.2, 0.2) for y, z in section]
    trimesh.Trimesh(vertices=vertices).convex_hull.export(path)
    return str(path)


@pytest.mark.parametrize("kind", ["boxes", "meshes"])
def test_edge_dropped_on_a_crossing_ridge_is_stopped_by_it(kind, tmp_path):
    # Two ridges crossed at right angles: the upper body falls ridge down (along y) onto the fixed lower
    # ridge (along x). They meet at one point where neither has a vertex; without an edge-edge contact the
    # upper one would fall through. It lands there and, balanced on a point, stays for a while.
    if kind == "boxes":
        lower_morph = Box(size=(0.4, 0.1, 0.1), pos=(0, 0, RIDGE_HALF_DIAGONAL), euler=(45, 0, 0), fixed=True)
        ridge = 2 * RIDGE_HALF_DIAGONAL
        upper_morph = Box(size=(0.1, 0.4, 0.1), pos=(0, 0, ridge + RIDGE_HALF_DIAGONAL + 0.01), euler=(0, 45, 0))
        rest = ridge + RIDGE_HALF_DIAGONAL
    else:
        file = prism_file(tmp_path / "prism.obj")
        lower_morph = Mesh(file=file, pos=(0, 0, 0.05), fixed=True)
        ridge = 0.1
        upper_morph = Mesh(file=file, pos=(0, 0, ridge + 0.05 + 0.01), euler=(180, 0, 90))  # ridge down along y
        rest = ridge + 0.05
    scene, lower, upper = ridge_scene(upper_morph, lower_morph)
    for _ in range(40):
        scene.step()
        assert separation(world_hull(scene, upper), world_hull(scene, lower)) > -PENETRATION_TOLERANCE
    assert upper.get_pos()[2] == pytest.approx(rest, abs=PENETRATION_TOLERANCE)
    assert np.linalg.norm(upper.get_vel()) < 1e-2


def test_equal_boxes_stacked_at_45_degrees_stand():
    # Turned 45 degrees about z on an equal box, the upper box's corners overhang the lower one's sides and
    # the lower's corners poke out beyond the upper's: the contact is the octagon where their edges cross.
    scene = ps.Scene()
    scene.add_entity(ps.morphs.Plane())
    scene.add_entity(Box(size=(0.1, 0.1, 0.1), pos=(0, 0, 0.05)))
    upper = scene.add_entity(Box(size=(0.1, 0.1, 0.1), pos=(0, 0, 0.155), euler=(0, 0, 45)))
    scene.build()
    run(scene, 1.0)
    assert upper.get_pos()[2] == pytest.approx(0.15, abs=PENETRATION_TOLERANCE)
    assert np.linalg.norm(upper.get_vel()) < 1e-3
    assert abs(quat_to_matrix(upper.get_quat())[2, 2]) == pytest.approx(1.0, abs=1e-4)  # level, not tipped
