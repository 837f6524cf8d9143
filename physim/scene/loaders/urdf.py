"""URDF files into :class:`ArticulationSpec`, through the maintained parser ``yourdfpy``.

URDF places each child link's frame at its joint's origin, so every joint's anchor is the link origin.
Inertials are given in their own frame (``<inertial><origin>``): their inertia is rotated into the link
frame here. A floating base gets a free joint; ``merge_fixed_links`` folds welded links into their parents.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import yourdfpy
from lxml import etree

from physim.errors import AssetError
from physim.scene import morphs
from physim.scene.loaders.common import (
    BodyDraft,
    MassProperties,
    assemble,
    cached,
    convex_shape,
    free_joint,
    load_mesh_file,
    primitive_shape,
    primitive_visual,
    resolve_resource,
    split_transform,
)
from physim.solvers.rigid.articulation_model import (
    ArticulationSpec,
    EqualitySpec,
    JointSpec,
    JointType,
    LinkGeom,
    LinkVisual,
)
from physim.solvers.rigid.model import GeomSpec

JOINT_TYPES = {"revolute": JointType.REVOLUTE, "continuous": JointType.REVOLUTE, "prismatic": JointType.PRISMATIC,
               "spherical": JointType.BALL}
"""URDF joint types with a physim counterpart besides fixed and floating ("spherical" is Bullet's extension)."""

XML_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*\?>")

DEFAULT_FRICTION = 1.0
"""URDF states no contact friction; links get MuJoCo's default sliding friction."""


def load_urdf(morph: morphs.URDF) -> ArticulationSpec:
    """Read ``morph.file`` into an ArticulationSpec (SI units, scaled by ``morph.scale``). The spec is
    cached by morph and file time, and shared: treat it as read-only."""
    return cached(morph, lambda: _UrdfReader(morph).read())


class _UrdfReader:
    def __init__(self, morph: morphs.URDF) -> None:
        self.morph = morph
        self.path = Path(morph.file)
        self.source = str(self.path)
        self.scale = float(morph.scale)
        self.meshes: dict[tuple[str, tuple[float, ...]], object] = {}  # (path, scale) -> trimesh mesh
        self.hulls: dict[tuple[str, tuple[float, ...]], object] = {}  # (path, scale) -> convex Shape or None

    def fail(self, element: str, why: str) -> AssetError:
        return AssetError(f"{self.source}: {element}: {why}")

    # ------------------------------------------------------------------------------------ parsing

    def parse(self) -> yourdfpy.URDF:
        # yourdfpy silently "recovers" broken XML; read it strictly first so a typo is reported, with its line.
        # The XML declaration is dropped: many published URDFs state version="0.0", which lxml refuses.
        try:
            text = XML_DECLARATION.sub(b"", self.path.read_bytes(), count=1)
            root = etree.fromstring(text)
        except etree.XMLSyntaxError as error:
            raise self.fail("XML", f"malformed: {error}") from None
        if root.tag != "robot":
            raise self.fail(f"<{root.tag}>", "the root element of a URDF file must be <robot>")
        for element in root.iter("joint"):
            if element.getparent() is not root:
                continue  # <joint> inside <transmission> names a joint, it is not one
            name = element.get("name")
            kind = element.get("type")
            if name is None:
                raise self.fail("<joint>", "has no 'name' attribute")
            if kind not in (*JOINT_TYPES, "fixed", "floating"):
                raise self.fail(f"<joint name={name!r}>",
                                f"unsupported type {kind!r} (physim knows revolute, continuous, prismatic, "
                                f"spherical, fixed, floating)")
            for child in ("parent", "child"):
                if element.find(child) is None or not element.find(child).get("link"):
                    raise self.fail(f"<joint name={name!r}>", f"has no <{child} link=...>")
        for element in root.findall("link"):
            if not element.get("name"):
                raise self.fail("<link>", "has no 'name' attribute")
        try:
            return yourdfpy.URDF.load(io.BytesIO(text), build_scene_graph=False, load_meshes=False,
                                      build_collision_scene_graph=False, load_collision_meshes=False)
        except Exception as error:  # yourdfpy raises bare KeyError/AttributeError/ValueError on bad content
            raise self.fail("<robot>", f"cannot be parsed: {type(error).__name__}: {error}") from None

    # ------------------------------------------------------------------------------------ reading

    def read(self) -> ArticulationSpec:
        urdf = self.parse()
        robot = urdf.robot
        links = {link.name: link for link in robot.links}
        materials = {m.name: m for m in robot.materials if m.name}
        children: dict[str, list[yourdfpy.Joint]] = {}
        parent_joint: dict[str, yourdfpy.Joint] = {}
        for joint in robot.joints:
            for end in (joint.parent, joint.child):
                if end not in links:
                    raise self.fail(f"<joint name={joint.name!r}>",
                                    f"names link {end!r}, which the file does not define")
            if joint.child in parent_joint:
                raise self.fail(f"<joint name={joint.name!r}>", f"link {joint.child!r} has two parent joints")
            parent_joint[joint.child] = joint
            children.setdefault(joint.parent, []).append(joint)
        roots = [link.name for link in robot.links if link.name not in parent_joint]
        if len(roots) != 1:
            raise self.fail("<robot>", f"must form one tree of links, found roots {roots!r}")
        keep = set(self.morph.links_to_keep)
        unknown = keep - set(links)
        if unknown:
            raise AssetError(f"URDF.links_to_keep: {sorted(unknown)!r} are not links of {self.source!r}")

        drafts: list[BodyDraft] = []
        root, root_joint = roots[0], None
        below = children.get(root, [])
        if len(below) == 1 and below[0].type == "floating" and _is_empty(links[root]):
            # <link name="world"/> + a floating joint: the child is the real, free-floating base.
            root, root_joint = below[0].child, below[0]
            children.pop(roots[0])
        stack: list[tuple[str, int, yourdfpy.Joint | None]] = [(root, -1, root_joint)]
        visited: set[str] = set()
        while stack:  # depth first, parents before children, children in file order
            name, parent, joint = stack.pop()
            if name in visited:
                raise self.fail(f"<link name={name!r}>", "is part of a cycle of joints")
            visited.add(name)
            drafts.append(self.body(links[name], parent, joint, materials, keep))
            index = len(drafts) - 1
            stack += [(j.child, index, j) for j in reversed(children.get(name, []))]
        spec = assemble(robot.name or self.path.stem, drafts, self.source)
        return replace(spec, equalities=self.mimics(robot))

    def mimics(self, robot: yourdfpy.Robot) -> tuple[EqualitySpec, ...]:
        """``<mimic joint= multiplier= offset=>``: the joint follows another, q = multiplier q_other + offset
        (offset in m for prismatic joints, so scaled with the file)."""
        kinds = {joint.name: joint.type for joint in robot.joints}
        equalities = []
        for joint in robot.joints:
            if joint.mimic is None:
                continue
            label = f"<joint name={joint.name!r}><mimic>"
            if joint.mimic.joint not in kinds:
                raise self.fail(label, f"names joint {joint.mimic.joint!r}, which the file does not define")
            for name in (joint.name, joint.mimic.joint):
                if kinds[name] not in ("revolute", "continuous", "prismatic"):
                    raise self.fail(label, f"joint {name!r} is {kinds[name]}; only revolute, continuous and "
                                           f"prismatic joints can mimic or be mimicked")
            multiplier = 1.0 if joint.mimic.multiplier is None else float(joint.mimic.multiplier)
            offset = 0.0 if joint.mimic.offset is None else float(joint.mimic.offset)
            if joint.type == "prismatic":
                offset *= self.scale
            equalities.append(EqualitySpec(f"{joint.name} mimics {joint.mimic.joint}", joint.name, joint.mimic.joint,
                                           multiplier, offset))
        return tuple(equalities)

    def body(self, link: yourdfpy.Link, parent: int, joint: yourdfpy.Joint | None, materials: dict,
             keep: set[str]) -> BodyDraft:
        s = self.scale
        pose = np.eye(4) if joint is None or joint.origin is None else np.array(joint.origin, dtype=np.float64)
        pose[:3, 3] *= s
        draft = BodyDraft(name=link.name, parent=parent, pose=pose)
        if parent < 0:  # the root: floating unless the morph welds it (a stated floating joint names it)
            if not self.morph.fixed:
                name = joint.name if joint is not None else f"{link.name}_free"
                draft.joints.append(free_joint(name, pose))
                draft.pose = np.eye(4)
        elif joint.type == "floating":
            raise self.fail(f"<joint name={joint.name!r}>",
                            "a floating joint is only supported between an empty root link (e.g. 'world') and "
                            "the base; give the robot a floating base with URDF(fixed=False) instead")
        elif joint.type == "fixed":
            draft.mergeable = self.morph.merge_fixed_links and link.name not in keep
        else:
            draft.joints.append(self.joint(joint))
        draft.inertial = self.inertial(link)
        if self.morph.collision:
            draft.geoms = [g for c in link.collisions for g in self.collision(link.name, c)]
        if self.morph.visualization:
            draft.visuals = [v for vis in link.visuals for v in self.visual(link.name, vis, materials)]
        return draft

    def joint(self, joint: yourdfpy.Joint) -> JointSpec:
        kind = JOINT_TYPES[joint.type]
        element = f"<joint name={joint.name!r}>"
        axis = np.array([1.0, 0.0, 0.0]) if joint.axis is None else np.asarray(joint.axis, dtype=np.float64)
        norm = np.linalg.norm(axis)
        if not np.all(np.isfinite(axis)) or norm < 1e-9:
            raise self.fail(element, f"<axis xyz> must be a non-zero direction, got {joint.axis!r}")
        limit = effort = velocity = None
        if joint.limit is not None:
            effort = _positive_or_none(joint.limit.effort)
            velocity = _positive_or_none(joint.limit.velocity)
            bounds = (joint.limit.lower, joint.limit.upper)
            if joint.type in ("revolute", "prismatic") and None not in bounds:
                lower, upper = float(joint.limit.lower), float(joint.limit.upper)
                if kind == JointType.PRISMATIC:
                    lower, upper = lower * self.scale, upper * self.scale
                # ROS writes lower = upper = 0, and Bullet lower > upper, for a joint without limits.
                limit = None if lower == upper == 0 or lower > upper else (lower, upper)
        elif joint.type in ("revolute", "prismatic"):
            warnings.warn(f"{self.source}: {element}: a {joint.type} joint without <limit>; simulated unlimited",
                          stacklevel=4)
        damping = friction = 0.0
        if joint.dynamics is not None:
            damping = float(joint.dynamics.damping or 0.0)
            friction = float(joint.dynamics.friction or 0.0)
        if damping < 0 or friction < 0:
            raise self.fail(element, f"<dynamics> damping and friction must be >= 0, got {damping}, {friction}")
        if kind == JointType.BALL:  # Bullet's cone limits have no counterpart here
            limit, qpos0 = None, np.array([1.0, 0.0, 0.0, 0.0])
        else:
            qpos0 = np.zeros(1)
        return JointSpec(name=joint.name, type=kind, axis=axis / norm, anchor=np.zeros(3), limit=limit,
                         damping=damping, frictionloss=friction, armature=self.morph.default_armature,
                         effort_limit=effort, velocity_limit=velocity, qpos0=qpos0)

    def inertial(self, link: yourdfpy.Link) -> MassProperties:
        inertial = link.inertial
        if inertial is None or not inertial.mass:
            return MassProperties()
        element = f"<link name={link.name!r}><inertial>"
        mass = float(inertial.mass)
        inertia = np.zeros((3, 3)) if inertial.inertia is None else np.asarray(inertial.inertia, dtype=np.float64)
        if mass < 0 or not np.all(np.isfinite(inertia)):
            raise self.fail(element, f"mass must be >= 0 and inertia finite, got {mass}, {inertia.tolist()}")
        origin = np.eye(4) if inertial.origin is None else np.asarray(inertial.origin, dtype=np.float64)
        s = self.scale
        # The file states the inertia in the inertial frame; the spec wants it in the link frame.
        return MassProperties(mass * s**3, np.zeros(3), inertia * s**5).moved(_scaled(origin, s))

    def geometry(self, geometry: yourdfpy.Geometry, element: str, collider: bool):
        """(collider shape, visual mesh) of a URDF <geometry>, in its own frame (scaled). A mesh collides by
        its convex hull (None when it has none), computed once per file and scale."""
        s = self.scale
        if geometry is None:
            raise self.fail(element, "has no <geometry>")
        primitive = None
        if geometry.box is not None:
            primitive = "box", np.asarray(geometry.box.size, dtype=np.float64) * s / 2
        elif geometry.sphere is not None:
            primitive = "sphere", np.array([float(geometry.sphere.radius) * s, 1.0, 1.0])
        elif geometry.cylinder is not None:
            primitive = "cylinder", np.array([float(geometry.cylinder.radius) * s,
                                              float(geometry.cylinder.length) * s / 2, 1.0])
        if primitive is not None:
            kind, size = primitive
            if size.shape != (3,) or not np.all(np.isfinite(size)) or np.any(size < 0):
                raise self.fail(element, f"<{kind}> sizes must be finite and >= 0")
            if np.any(size == 0):  # a placeholder some files carry: nothing to draw or to collide
                return None, None
            return primitive_shape(kind, size), primitive_visual(kind, size)
        if geometry.mesh is not None:
            scale = np.atleast_1d(np.asarray(1.0 if geometry.mesh.scale is None else geometry.mesh.scale,
                                             dtype=np.float64))
            if scale.shape not in ((1,), (3,)) or not np.all(np.isfinite(scale)) or np.any(scale == 0):
                raise self.fail(f"{element}<mesh filename={geometry.mesh.filename!r}>",
                                f"scale must be 1 or 3 non-zero numbers, got {scale.tolist()}")
            scale = tuple(np.broadcast_to(scale * s, (3,)).tolist())
            path = resolve_resource(geometry.mesh.filename, self.path, [self.path.parent])
            key = (str(path), scale)
            if key not in self.meshes:
                self.meshes[key] = load_mesh_file(path, self.source,
                                                  f"{element}<mesh filename={geometry.mesh.filename!r}>", scale)
            if collider and key not in self.hulls:
                self.hulls[key] = convex_shape(self.meshes[key], self.source, element)
            return self.hulls.get(key), self.meshes[key]
        raise self.fail(element, "<geometry> holds no box, sphere, cylinder or mesh")

    def collision(self, link_name: str, collision: yourdfpy.Collision) -> list[LinkGeom]:
        element = f"<link name={link_name!r}><collision>"
        shape, _ = self.geometry(collision.geometry, element, collider=True)
        if shape is None:
            return []
        origin = _scaled(np.eye(4) if collision.origin is None else np.asarray(collision.origin), self.scale)
        pos, quat = split_transform(origin)
        return [LinkGeom(GeomSpec(shape, pos, quat), friction=DEFAULT_FRICTION)]

    def visual(self, link_name: str, visual: yourdfpy.Visual, materials: dict) -> list[LinkVisual]:
        element = f"<link name={link_name!r}><visual>"
        _, mesh = self.geometry(visual.geometry, element, collider=False)
        if mesh is None:
            return []
        mesh = mesh.copy()
        mesh.apply_transform(_scaled(np.eye(4) if visual.origin is None else np.asarray(visual.origin), self.scale))
        rgba = None
        material = visual.material
        if material is not None:
            if material.color is None and material.name in materials:
                material = materials[material.name]
            if material.color is not None:
                rgba = tuple(float(x) for x in np.clip(material.color.rgba, 0.0, 1.0))
        return [LinkVisual(mesh, rgba)]


def _is_empty(link: yourdfpy.Link) -> bool:
    """A link with no mass and no geometry: a named frame such as ROS's "world"."""
    return not (link.inertial is not None and link.inertial.mass) and not link.visuals and not link.collisions


def _scaled(pose: np.ndarray, scale: float) -> np.ndarray:
    pose = np.array(pose, dtype=np.float64)
    pose[:3, 3] *= scale
    return pose


def _positive_or_none(value) -> float | None:
    return float(value) if value is not None and float(value) > 0 else None
