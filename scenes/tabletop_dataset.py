"""Tabletop dataset: 3 to 8 household objects (trimesh-made meshes) dropped on a table, filmed by 3 cameras.

    physim generate scenes/tabletop_dataset.py --episodes 100 --out data/tabletop --workers 2
    physim inspect data/tabletop

Every episode builds a fresh scene from its own random stream: which objects, their poses (apart, above
the table), colours or procedural textures (each object, the table and the floor is textured with
probability ``texture_probability``), masses, friction and restitution, the lights, and the cameras (on a
sphere around the table, aimed with some jitter). The objects fall, bounce and settle while each camera records
``frames`` frames, ``steps_per_frame`` simulation steps apart. Parameters (``--param KEY=VALUE``) are
in PARAMS; see docs/DATASET.md for what is written.
"""

import dataclasses
import math

import physim as ps

CLASSES = ["can", "carton", "bottle", "cone", "ball", "wedge"]
# The largest distance of each mesh's vertices from its origin (assets/make_tabletop_meshes.py), m: a sphere
# that holds the object in any orientation, so objects placed this far apart start without overlap.
BOUNDING_RADIUS = {"can": 0.069, "carton": 0.0827, "bottle": 0.1064, "cone": 0.0607, "ball": 0.0405,
                   "wedge": 0.0571}
PARAMS = {
    "width": 640, "height": 480,  # image size, pixels
    "frames": 20,  # frames per camera and episode
    "cameras": 3,
    "steps_per_frame": 4,  # 0.04 s between frames
    "min_objects": 3, "max_objects": 8,
    "normals": True,  # write world-normal images too
    "depth_float": False,  # also write float32 depth in metres (.npy) beside the 16-bit millimetre PNGs
    "texture_probability": 0.5,  # chance that an object, the table or the floor gets a procedural texture
}
TABLE_TOP = 0.4  # m, height of the table's surface
TABLE_SIZE = (1.0, 0.7, 0.04)  # m


def look(rng, name, probability, surface=ps.surfaces.Default, **color_ranges):
    """A surface with a procedural texture (with the given probability) or a plain random colour.

    The log holds ``<name>.textured`` and then either ``<name>.texture`` (its parameters) or ``<name>.color``.
    Primitives' and the tabletop meshes' UVs are in metres and in wraps around the object, so a texture's
    periods are a few centimetres to tens of centimetres.
    """
    if rng.chance(f"{name}.textured", probability):
        return surface(texture=rng.texture(f"{name}.texture"))
    return surface(color=rng.color(f"{name}.color", **color_ranges))


def episode(rng, writer):
    p = writer.params
    vis = rng.lights("lights")
    scene = ps.Scene(sim_options=ps.options.SimOptions(dt=0.01, substeps=2), vis_options=vis)
    floor_look = look(rng, "floor", p["texture_probability"], ps.surfaces.Rough)
    scene.add_entity(ps.morphs.Plane(plane_size=(6.0, 6.0)), surface=floor_look, name="floor")
    table_look = look(rng, "table", p["texture_probability"], saturation=(0.1, 0.5), value=(0.3, 0.8))
    scene.add_entity(ps.morphs.Box(size=TABLE_SIZE, pos=(0.0, 0.0, TABLE_TOP - TABLE_SIZE[2] / 2), fixed=True),
                     material=ps.materials.Rigid(friction=rng.uniform("table_friction", 0.4, 0.9)),
                     surface=table_look, name="table")
    for i, (x, y) in enumerate([(1, 1), (1, -1), (-1, 1), (-1, -1)]):
        height = TABLE_TOP - TABLE_SIZE[2]
        scene.add_entity(ps.morphs.Box(size=(0.04, 0.04, height), pos=(x * 0.44, y * 0.29, height / 2), fixed=True,
                                       collision=False),
                         surface=table_look, name=f"table_leg{i}")

    count = rng.integer("object_count", p["min_objects"], p["max_objects"])
    kinds = [rng.choice(f"object{i}.class", CLASSES) for i in range(count)]
    radii = [BOUNDING_RADIUS[kind] for kind in kinds]
    # Drop heights: each object's lowest point starts 2-20 cm above the table; placement keeps them apart.
    spots = rng.positions_on_surface("object_xy", [r + 0.005 for r in radii], center=(0.0, 0.0),
                                     half_extents=(TABLE_SIZE[0] / 2 - 0.05, TABLE_SIZE[1] / 2 - 0.05),
                                     height=TABLE_TOP)
    objects = []
    for i, (kind, radius, spot) in enumerate(zip(kinds, radii, spots)):
        drop = rng.uniform(f"object{i}.drop_height", 0.02, 0.2)
        morph = ps.morphs.Mesh(file=f"tabletop/{kind}.obj", pos=(spot[0], spot[1], spot[2] + radius + drop),
                               quat=rng.random_quat(f"object{i}.quat"))
        surface = look(rng, f"object{i}", p["texture_probability"])
        surface = dataclasses.replace(surface, roughness=rng.uniform(f"object{i}.roughness", 0.2, 0.9))
        entity = scene.add_entity(morph, material=rng.rigid_material(f"object{i}.material"), surface=surface,
                                  name=f"{kind}_{i}")
        objects.append((entity, kind))

    cameras = []
    sector = 360.0 / p["cameras"]
    offset = rng.uniform("camera_azimuth_offset", 0.0, 360.0)
    for c in range(p["cameras"]):
        start = offset + c * sector
        pos, lookat = rng.camera_on_sphere(f"camera{c}", center=(0.0, 0.0, TABLE_TOP), radius=(0.9, 1.3),
                                           elevation_deg=(25.0, 65.0), azimuth_deg=(start, start + 0.5 * sector),
                                           lookat_jitter=0.05)
        fov = rng.uniform(f"camera{c}.fov", 40.0, 50.0)
        cameras.append(scene.add_camera(res=(p["width"], p["height"]), pos=pos, lookat=lookat, fov=fov,
                                        near=0.05, far=10.0))
    scene.build()

    for camera in cameras:
        writer.add_camera(camera, normal=p["normals"], depth_float=p["depth_float"])
    for entity, kind in objects:
        writer.add_object(entity, kind)
    writer.metadata(table_top_m=TABLE_TOP, table_size_m=list(TABLE_SIZE), drop_time_s=round(math.sqrt(0.4 / 9.81), 3))
    writer.record_state()
    for _ in range(p["frames"]):
        writer.step(scene, p["steps_per_frame"])
        writer.record_frame()
