"""Regenerate the tabletop object meshes in assets/tabletop/ (committed; run this only to change them).

    python assets/make_tabletop_meshes.py

Six household-sized objects made with trimesh, each centred on its bounding box (so an object's frame
origin is the middle of its 3D box) and with z up. Sizes in metres.
"""

from pathlib import Path

import numpy as np
import trimesh

HERE = Path(__file__).resolve().parent / "tabletop"


def can() -> trimesh.Trimesh:
    """A drink can: 66 mm across, 120 mm tall."""
    return trimesh.creation.cylinder(radius=0.033, height=0.12, sections=24)


def carton() -> trimesh.Trimesh:
    """A juice carton: 70 x 50 x 140 mm."""
    return trimesh.creation.box(extents=(0.07, 0.05, 0.14))


def bottle() -> trimesh.Trimesh:
    """A bottle, 200 mm tall: a 70 mm body narrowing to a 24 mm neck (a surface of revolution)."""
    profile = np.array([[0.0, 0.0], [0.035, 0.0], [0.035, 0.12], [0.02, 0.15], [0.012, 0.17], [0.012, 0.2],
                        [0.0, 0.2]])
    return trimesh.creation.revolve(profile, sections=20)


def cone() -> trimesh.Trimesh:
    """A traffic-cone-like toy: 80 mm base, 90 mm tall."""
    return trimesh.creation.cone(radius=0.04, height=0.09, sections=24)


def ball() -> trimesh.Trimesh:
    """A ball of 80 mm diameter."""
    return trimesh.creation.icosphere(subdivisions=2, radius=0.04)


def wedge() -> trimesh.Trimesh:
    """A door-stop wedge: a right-triangle prism, 100 mm long, 40 mm wide, 35 mm tall."""
    triangle = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.035]])
    prism = trimesh.creation.extrude_polygon(trimesh.path.polygons.Polygon(triangle), height=0.04)
    prism.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, (1, 0, 0)))  # triangle upright
    return prism


MAKERS = {"can": can, "carton": carton, "bottle": bottle, "cone": cone, "ball": ball, "wedge": wedge}


def centred(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    mesh.apply_translation(-mesh.bounds.mean(axis=0))
    return mesh


if __name__ == "__main__":
    HERE.mkdir(exist_ok=True)
    for name, make in MAKERS.items():
        mesh = centred(make())
        assert mesh.is_watertight, name
        mesh.export(HERE / f"{name}.obj", digits=5)
    print("wrote", sorted(p.name for p in HERE.iterdir()))
