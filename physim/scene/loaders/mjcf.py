"""MuJoCo MJCF files into :class:`ArticulationSpec`, read with ``xml.etree.ElementTree``.

Read: ``<include>``, ``<compiler>`` (angle, eulerseq, meshdir, assetdir, autolimits, inertiafromgeom,
boundmass, boundinertia), nested ``<default>`` classes with ``childclass``, ``<asset>`` meshes and materials,
the ``<worldbody>`` tree of bodies (and ``<frame>``s) with hinge/slide/ball/free joints and
box/sphere/capsule/cylinder/ellipsoid/mesh/plane geoms (``fromto`` included), inertials or mass properties
from geoms (MuJoCo's ``inertiafromgeom``), and motor/position/velocity/general actuators on joints.
Joint equalities (``<equality><joint>``, linear) couple joints; fixed tendons are read so that an actuator on
a tendon whose joints are so coupled drives the first of them. Other tendons and equality constraints,
sites, sensors and contact pairs are skipped with one warning.

MJCF bodies map one to one onto links (a body without joints is welded to its parent). Geoms attached to
the worldbody itself go to a first, fixed link named ``world``. Geoms of groups 0-2 are drawn (MuJoCo's
default visible groups); geoms with non-zero contype or conaffinity collide.
"""

from __future__ import annotations

import math
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import trimesh

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
    mesh_unit_mass,
    primitive_shape,
    primitive_unit_mass,
    primitive_visual,
    split_transform,
)
from physim.solvers.rigid.articulation_model import (
    ActuatorSpec,
    ArticulationSpec,
    EqualitySpec,
    JointSpec,
    JointType,
    LinkGeom,
    LinkVisual,
)
from physim.solvers.rigid.model import GeomSpec
from physim.solvers.rigid.shapes import Shape
from physim.utils.rotations import quat_to_matrix

JOINT_TYPES = {"hinge": JointType.REVOLUTE, "slide": JointType.PRISMATIC, "ball": JointType.BALL,
               "free": JointType.FREE}
GEOM_TYPES = ("plane", "sphere", "capsule", "ellipsoid", "cylinder", "box", "mesh")
ACTUATOR_TAGS = ("motor", "position", "velocity", "general", "intvelocity", "damper", "cylinder", "muscle",
                 "adhesion")
UNSIMULATED_SECTIONS = ("contact",)
"""Sections that change the dynamics but that physim does not read: their presence is warned about. Others
(option, sensor, keyframe, visual, size, custom...) are ignored silently: they do not change the model."""
DEFAULT_DENSITY = 1000.0  # kg/m^3, MuJoCo's geom density
DEFAULT_RGBA = (0.5, 0.5, 0.5, 1.0)


def load_mjcf(morph: morphs.MJCF) -> ArticulationSpec:
    """Read ``morph.file`` into an ArticulationSpec (SI units, scaled by ``morph.scale``). The spec is
    cached by morph and file time, and shared: treat it as read-only."""
    return cached(morph, lambda: _MjcfReader(morph).read())


@dataclass
class _Compiler:
    degrees: bool = True
    eulerseq: str = "xyz"
    meshdir: Path | None = None
    autolimits: bool = True
    inertiafromgeom: str = "auto"
    boundmass: float = 0.0
    boundinertia: float = 0.0
    settotalmass: float = -1.0


class _MjcfReader:
    def __init__(self, morph: morphs.MJCF) -> None:
        self.morph = morph
        self.path = Path(morph.file)
        self.source = str(self.path)
        self.scale = float(morph.scale)
        self.compiler = _Compiler()
        self.defaults: dict[str, dict[str, dict[str, str]]] = {}  # class -> tag -> attributes
        self.meshes: dict[str, tuple[Path, np.ndarray]] = {}
        self.loaded_meshes: dict[str, object] = {}
        self.hulls: dict[str, Shape | None] = {}
        self.materials: dict[str, tuple[float, ...]] = {}
        self.skipped: set[str] = set()
        self.joint_index: dict[str, JointSpec] = {}
        self.tendons: dict[str, list[tuple[str, float]]] = {}  # fixed tendon -> (joint, coef) pairs
        self.equalities: list[EqualitySpec] = []
        self.include_dirs: dict[int, Path] = {}  # id of a <mesh> from an included file -> that file's folder
        # Per body (by id of its draft): the inertial the file states, and the mass properties of its geoms.
        self.stated_inertial: dict[int, MassProperties] = {}
        self.geom_mass: dict[int, MassProperties] = {}

    def fail(self, element: str, why: str) -> AssetError:
        return AssetError(f"{self.source}: {element}: {why}")

    # ---------------------------------------------------------------------------- XML and includes

    def parse(self, path: Path, element: str) -> ET.Element:
        if not path.is_file():
            raise AssetError(f"{self.source}: {element}: file not found: {str(path)!r}")
        try:
            return ET.parse(path).getroot()
        except ET.ParseError as error:
            raise AssetError(f"{path}: XML: malformed: {error}") from None

    def expand_includes(self, element: ET.Element, depth: int = 0) -> None:
        """Replace every ``<include file=...>`` by the children of the included file's root, in place."""
        for index, child in enumerate(list(element)):
            if child.tag == "include":
                if depth > 16:
                    raise self.fail("<include>", "includes nest more than 16 deep (a cycle?)")
                name = child.get("file")
                if not name:
                    raise self.fail("<include>", "has no 'file' attribute")
                included = self.parse(self.path.parent / name, f"<include file={name!r}>")
                for asset in included.iter("mesh"):  # its meshes may be named relative to the included file
                    self.include_dirs[id(asset)] = (self.path.parent / name).parent
                self.expand_includes(included, depth + 1)
                element.remove(child)
                for offset, grandchild in enumerate(list(included)):
                    element.insert(index + offset, grandchild)
                self.expand_includes(element, depth)  # positions shifted: start over on this element
                return
            self.expand_includes(child, depth)

    # ------------------------------------------------------------------------------- attributes

    def floats(self, element: ET.Element, name: str, tag: str, count: int | None = None,
               default=None, attrs: dict | None = None) -> np.ndarray | None:
        text = (attrs if attrs is not None else element.attrib).get(name)
        if text is None:
            return None if default is None else np.asarray(default, dtype=np.float64)
        try:
            values = np.array([float(x) for x in text.split()], dtype=np.float64)
        except ValueError:
            raise self.fail(self.describe(element, tag), f"{name}={text!r} is not a list of numbers") from None
        if count is not None and len(values) < count:
            raise self.fail(self.describe(element, tag), f"{name}={text!r} needs {count} numbers")
        if not np.all(np.isfinite(values)):
            raise self.fail(self.describe(element, tag), f"{name}={text!r} must be finite")
        return values

    @staticmethod
    def describe(element: ET.Element, tag: str | None = None) -> str:
        name = element.get("name")
        return f"<{tag or element.tag}{f' name={name!r}' if name else ''}>"

    def resolved(self, element: ET.Element, tag: str, childclass: str | None) -> dict[str, str]:
        """An element's attributes over its default class's (``class``, else the enclosing childclass,
        else ``main``)."""
        cls = element.get("class") or childclass or "main"
        if cls not in self.defaults:
            raise self.fail(self.describe(element), f"names default class {cls!r}, which the file does not define")
        attrs = dict(self.defaults[cls].get(tag, {}))
        attrs.update(element.attrib)
        return attrs

    def angle(self, value: float) -> float:
        return math.radians(value) if self.compiler.degrees else value

    def orientation(self, element: ET.Element, tag: str, attrs: dict) -> np.ndarray:
        """A rotation matrix from quat / axisangle / euler / xyaxes / zaxis (MuJoCo's precedence-free set:
        at most one may be given)."""
        given = [key for key in ("quat", "axisangle", "euler", "xyaxes", "zaxis") if key in attrs]
        if len(given) > 1:
            raise self.fail(self.describe(element, tag), f"gives several orientations: {given}")
        if not given:
            return np.eye(3)
        key = given[0]
        if key == "quat":
            quat = self.floats(element, "quat", tag, 4, attrs=attrs)[:4]
            if np.linalg.norm(quat) < 1e-12:
                raise self.fail(self.describe(element, tag), "quat must not be zero")
            return quat_to_matrix(quat / np.linalg.norm(quat))
        if key == "axisangle":
            values = self.floats(element, "axisangle", tag, 4, attrs=attrs)
            axis = values[:3] / max(np.linalg.norm(values[:3]), 1e-300)
            return _axis_angle(axis, self.angle(values[3]))
        if key == "euler":
            angles = [self.angle(a) for a in self.floats(element, "euler", tag, 3, attrs=attrs)[:3]]
            rotation = np.eye(3)
            for axis_name, angle in zip(self.compiler.eulerseq, angles):
                axis = np.eye(3)["xyz".index(axis_name.lower())]
                step = _axis_angle(axis, angle)
                # Lower case: axes move with the body (intrinsic); upper case: fixed axes (extrinsic).
                rotation = rotation @ step if axis_name.islower() else step @ rotation
            return rotation
        if key == "xyaxes":
            values = self.floats(element, "xyaxes", tag, 6, attrs=attrs)
            x = values[:3] / np.linalg.norm(values[:3])
            y = values[3:6] - x * (x @ values[3:6])
            y /= np.linalg.norm(y)
            return np.stack([x, y, np.cross(x, y)], axis=1)
        z = self.floats(element, "zaxis", tag, 3, attrs=attrs)[:3]
        return _rotation_between(np.array([0.0, 0.0, 1.0]), z / np.linalg.norm(z))

    def pose(self, element: ET.Element, tag: str, attrs: dict) -> np.ndarray:
        matrix = np.eye(4)
        matrix[:3, :3] = self.orientation(element, tag, attrs)
        matrix[:3, 3] = self.floats(element, "pos", tag, 3, default=(0, 0, 0), attrs=attrs)[:3] * self.scale
        return matrix

    # ----------------------------------------------------------------------------- top sections

    def read(self) -> ArticulationSpec:
        root = self.parse(self.path, "<mujoco>")
        if root.tag != "mujoco":
            raise self.fail(f"<{root.tag}>", "the root element of an MJCF file must be <mujoco>")
        self.expand_includes(root)
        for element in root.iter("compiler"):
            self.read_compiler(element)
        self.defaults["main"] = {}
        for element in root.findall("default"):
            self.read_defaults(element, parent=None)
        for element in root.findall("asset"):
            self.read_assets(element)
        worldbodies = root.findall("worldbody")
        if not worldbodies:
            raise self.fail("<mujoco>", "has no <worldbody>")
        drafts: list[BodyDraft] = []
        world = BodyDraft(name="world", parent=-1, pose=np.eye(4))
        for worldbody in worldbodies:
            self.read_children(worldbody, world, -1, np.eye(4), None, drafts, world_level=True)
        if world.geoms or world.visuals:
            drafts = [world] + [_shift_parents(d) for d in drafts]
        for section in root.findall("tendon"):
            self.read_tendons(section)
        self.equalities = [e for section in root.findall("equality") for e in self.read_equalities(section)]
        actuators = tuple(a for section in root.findall("actuator") for a in self.read_actuators(section))
        self.skipped.update(f"<{tag}>" for tag in UNSIMULATED_SECTIONS if root.find(tag) is not None)
        if self.skipped:
            warnings.warn(f"{self.source}: physim does not simulate {sorted(self.skipped)}; skipped", stacklevel=3)
        if not drafts:
            raise self.fail("<worldbody>", "holds no bodies or geoms")
        if self.compiler.settotalmass > 0:  # scale every body's mass and inertia to the stated total
            total = sum(d.inertial.mass for d in drafts)
            if total > 0:
                ratio = self.compiler.settotalmass * self.scale**3 / total
                for d in drafts:
                    d.inertial = MassProperties(d.inertial.mass * ratio, d.inertial.com, d.inertial.inertia * ratio)
        spec = assemble(root.get("model") or self.path.stem, drafts, self.source, actuators)
        return replace(spec, equalities=tuple(self.equalities))

    def read_compiler(self, element: ET.Element) -> None:
        attrs = element.attrib
        if "angle" in attrs:
            if attrs["angle"] not in ("degree", "radian"):
                raise self.fail("<compiler>", f"angle must be 'degree' or 'radian', got {attrs['angle']!r}")
            self.compiler.degrees = attrs["angle"] == "degree"
        if "eulerseq" in attrs:
            seq = attrs["eulerseq"]
            if len(seq) != 3 or any(c.lower() not in "xyz" for c in seq):
                raise self.fail("<compiler>", f"eulerseq must be 3 letters of xyzXYZ, got {seq!r}")
            self.compiler.eulerseq = seq
        if attrs.get("coordinate", "local") != "local":
            raise self.fail("<compiler>", "coordinate='global' is not supported (MuJoCo removed it too)")
        base = self.path.parent
        if "assetdir" in attrs and self.compiler.meshdir is None:
            self.compiler.meshdir = base / attrs["assetdir"]
        if "meshdir" in attrs:
            self.compiler.meshdir = base / attrs["meshdir"]
        if "autolimits" in attrs:
            self.compiler.autolimits = attrs["autolimits"] == "true"
        if "inertiafromgeom" in attrs:
            self.compiler.inertiafromgeom = attrs["inertiafromgeom"]
        for key in ("boundmass", "boundinertia", "settotalmass"):
            if key in attrs:
                setattr(self.compiler, key, float(attrs[key]))

    def read_defaults(self, element: ET.Element, parent: str | None) -> None:
        cls = element.get("class", "main")
        if parent is None and cls != "main" and "main" not in self.defaults:
            self.defaults["main"] = {}
        inherited = {tag: dict(attrs) for tag, attrs in self.defaults.get(parent or "main", {}).items()}
        if parent is None and cls == "main":
            inherited = {}
        for child in element:
            if child.tag == "default":
                continue
            inherited.setdefault(child.tag, {}).update(child.attrib)
        self.defaults[cls] = inherited
        for child in element.findall("default"):
            if "class" not in child.attrib:
                raise self.fail("<default>", f"a nested <default> inside class {cls!r} needs a 'class' attribute")
            self.read_defaults(child, parent=cls)

    def read_assets(self, asset: ET.Element) -> None:
        for element in asset:
            if element.tag == "mesh":
                attrs = self.resolved(element, "mesh", None)
                file = attrs.get("file")
                if file is None:
                    if "vertex" in attrs:  # an inline point cloud: its convex hull
                        vertices = self.floats(element, "vertex", "mesh", 3, attrs=attrs).reshape(-1, 3)
                        vertices = vertices * self.floats(element, "scale", "mesh", 3, default=(1, 1, 1),
                                                          attrs=attrs)[:3]
                        self.meshes[attrs.get("name", f"mesh{len(self.meshes)}")] = (None, vertices)
                        continue
                    raise self.fail(self.describe(element), "has neither 'file' nor 'vertex'")
                name = attrs.get("name") or Path(file).stem
                folder = self.compiler.meshdir or self.path.parent
                candidates = [Path(file)] if Path(file).is_absolute() else [folder / file]
                if id(element) in self.include_dirs:
                    candidates.append(self.include_dirs[id(element)] / file)
                path = next((c for c in candidates if c.is_file()), candidates[0])
                scale = self.floats(element, "scale", "mesh", 3, default=(1, 1, 1), attrs=attrs)[:3]
                self.meshes[name] = (path, scale)
            elif element.tag == "material":
                attrs = self.resolved(element, "material", None)
                rgba = self.floats(element, "rgba", "material", 4, default=DEFAULT_RGBA, attrs=attrs)[:4]
                self.materials[attrs.get("name", "")] = tuple(float(x) for x in np.clip(rgba, 0, 1))

    # ----------------------------------------------------------------------------------- bodies

    def read_children(self, element: ET.Element, draft: BodyDraft, index: int, frame: np.ndarray,
                      childclass: str | None, drafts: list[BodyDraft], world_level: bool = False) -> None:
        """Read an element's joints, geoms, inertial and child bodies into ``draft`` (whose index is
        ``index``); ``frame`` places a ``<frame>``'s contents in the body."""
        for child in element:
            if child.tag == "body":
                self.read_body(child, index, frame, childclass, drafts, world_level)
            elif child.tag == "frame":
                attrs = self.resolved(child, "frame", childclass)
                inner = child.get("childclass", childclass)
                self.read_children(child, draft, index, frame @ self.pose(child, "frame", attrs), inner, drafts,
                                   world_level)
            elif child.tag == "geom":
                self.read_geom(child, draft, frame, childclass)
            elif child.tag in ("joint", "freejoint"):
                if world_level:
                    raise self.fail(self.describe(child), "a joint must belong to a body, not to the worldbody")
                draft.joints.append(self.read_joint(child, childclass, frame))
            elif child.tag == "inertial":
                self.stated_inertial[id(draft)] = self.read_inertial(child, frame)
            elif child.tag in ("site", "camera", "light", "replicate", "composite", "flexcomp", "plugin",
                               "attach"):
                if child.tag in ("replicate", "composite", "flexcomp", "attach"):
                    raise self.fail(self.describe(child), "is not supported by physim's MJCF loader")
            else:
                raise self.fail(self.describe(child), f"unknown element inside <{element.tag}>")

    def read_body(self, element: ET.Element, parent: int, frame: np.ndarray, childclass: str | None,
                  drafts: list[BodyDraft], top_level: bool) -> None:
        name = element.get("name") or f"body{len(drafts)}"
        attrs = dict(element.attrib)  # bodies take no defaults
        childclass = element.get("childclass", childclass)
        if childclass is not None and childclass not in self.defaults:
            raise self.fail(self.describe(element), f"childclass {childclass!r} is not a default class of the file")
        draft = BodyDraft(name=name, parent=parent if not top_level else -1, pose=frame @ self.pose(element, "body",
                                                                                                     attrs))
        if self.compiler.inertiafromgeom == "true" or (self.compiler.inertiafromgeom == "auto"
                                                       and element.find("inertial") is None):
            self.geom_mass[id(draft)] = MassProperties()  # its geoms make its mass: add them up
        drafts.append(draft)
        index = len(drafts) - 1
        self.read_children(element, draft, index, np.eye(4), childclass, drafts)
        self.finish_body(element, draft)

    def finish_body(self, element: ET.Element, draft: BodyDraft) -> None:
        explicit = self.stated_inertial.get(id(draft))
        use_geoms = self.compiler.inertiafromgeom == "true" or (
            self.compiler.inertiafromgeom == "auto" and explicit is None)
        if use_geoms:
            draft.inertial = self.geom_mass.get(id(draft), MassProperties())
        elif explicit is not None:
            draft.inertial = explicit
        if draft.inertial.mass > 0 and self.compiler.boundmass > 0:
            draft.inertial.mass = max(draft.inertial.mass, self.compiler.boundmass)
        if draft.inertial.mass > 0 and self.compiler.boundinertia > 0:
            draft.inertial.inertia = draft.inertial.inertia + np.eye(3) * max(
                0.0, self.compiler.boundinertia - float(np.min(np.linalg.eigvalsh(draft.inertial.inertia))))
        joints = draft.joints
        if any(j.type == JointType.FREE for j in joints):
            if len(joints) != 1 or draft.parent != -1:
                raise self.fail(self.describe(element), "a free joint must be the only joint of a top-level body")
            if self.morph.fixed:  # the user welds a free-floating body where the file places it
                draft.joints = []
            else:
                draft.joints = [free_joint(joints[0].name, draft.pose)]
                draft.pose = np.eye(4)
        elif draft.joints:
            draft.pose = self.pose_at_zero(draft.pose, draft.joints)

    @staticmethod
    def pose_at_zero(pose: np.ndarray, joints: list[JointSpec]) -> np.ndarray:
        """MJCF places a body at its joints' reference positions (``ref``); the spec wants it at zero."""
        for joint in reversed(joints):
            ref = float(joint.qpos0[0]) if joint.qpos0 is not None and len(joint.qpos0) == 1 else 0.0
            if ref == 0.0:
                continue
            if joint.type == JointType.REVOLUTE:
                undo = np.eye(4)
                undo[:3, :3] = _axis_angle(joint.axis, -ref)
                undo[:3, 3] = joint.anchor - undo[:3, :3] @ joint.anchor
            else:
                undo = np.eye(4)
                undo[:3, 3] = -joint.axis * ref
            pose = pose @ undo
        return pose

    # ------------------------------------------------------------------------------------ joints

    def read_joint(self, element: ET.Element, childclass: str | None, frame: np.ndarray) -> JointSpec:
        if element.tag == "freejoint":
            name = element.get("name") or f"free{len(self.joint_index)}"
            joint = JointSpec(name=name, type=JointType.FREE)
            self.joint_index[name] = joint
            return joint
        attrs = self.resolved(element, "joint", childclass)
        kind_name = attrs.get("type", "hinge")
        if kind_name not in JOINT_TYPES:
            raise self.fail(self.describe(element), f"unsupported joint type {kind_name!r} (physim knows "
                                                    f"{', '.join(JOINT_TYPES)})")
        kind = JOINT_TYPES[kind_name]
        name = attrs.get("name") or f"joint{len(self.joint_index)}"
        tag = "joint"
        axis = self.floats(element, "axis", tag, 3, default=(0, 0, 1), attrs=attrs)[:3]
        if np.linalg.norm(axis) < 1e-9:
            raise self.fail(self.describe(element), "axis must not be zero")
        axis = frame[:3, :3] @ (axis / np.linalg.norm(axis))
        anchor = frame[:3, :3] @ (self.floats(element, "pos", tag, 3, default=(0, 0, 0), attrs=attrs)[:3]
                                  * self.scale) + frame[:3, 3]
        limit = None
        range_ = self.floats(element, "range", tag, 2, attrs=attrs)
        limited = attrs.get("limited", "auto")
        if limited == "true" or (limited == "auto" and self.compiler.autolimits and range_ is not None):
            if range_ is None and kind != JointType.BALL:  # MuJoCo refuses it too; a ball's limit is unused
                raise self.fail(self.describe(element), "limited='true' needs a range")
            low, high = range_[:2] if range_ is not None else (0.0, 0.0)
            if kind in (JointType.REVOLUTE, JointType.BALL):
                low, high = self.angle(low), self.angle(high)
            else:
                low, high = low * self.scale, high * self.scale
            if not low <= high:
                raise self.fail(self.describe(element), f"range lower {low} exceeds upper {high}")
            limit = (low, high) if kind != JointType.BALL else (0.0, high)
        elif limited == "auto" and not self.compiler.autolimits and range_ is not None:
            raise self.fail(self.describe(element), "has a range but no 'limited' and the compiler sets "
                                                    "autolimits='false'")
        if kind == JointType.BALL and limit is not None:
            self.skipped.add("ball joint limits")
            limit = None
        scalar = lambda key: float(self.floats(element, key, tag, 1, default=(0,), attrs=attrs)[0])  # noqa: E731
        if scalar("stiffness") != 0:
            self.skipped.add("joint stiffness (springs)")
        armature = scalar("armature") if "armature" in attrs else self.morph.default_armature
        ref = scalar("ref")
        if kind == JointType.REVOLUTE:
            ref = self.angle(ref)
        elif kind == JointType.PRISMATIC:
            ref *= self.scale
        qpos0 = np.array([ref]) if kind in (JointType.REVOLUTE, JointType.PRISMATIC) else np.array([1.0, 0, 0, 0])
        effort = None
        force_range = self.floats(element, "actuatorfrcrange", tag, 2, attrs=attrs)
        if force_range is not None and attrs.get("actuatorfrclimited", "auto") != "false":
            effort = float(max(abs(force_range[0]), abs(force_range[1])))
        joint = JointSpec(name=name, type=kind, axis=axis, anchor=anchor, limit=limit, damping=scalar("damping"),
                          frictionloss=scalar("frictionloss"), armature=armature, effort_limit=effort, qpos0=qpos0)
        if joint.damping < 0 or joint.frictionloss < 0 or joint.armature < 0:
            raise self.fail(self.describe(element), "damping, frictionloss and armature must be >= 0")
        self.joint_index[name] = joint
        return joint

    # ------------------------------------------------------------------------------------ inertia

    def read_inertial(self, element: ET.Element, frame: np.ndarray) -> MassProperties:
        tag = "inertial"
        attrs = element.attrib
        mass = float(self.floats(element, "mass", tag, 1, attrs=attrs)[0]) if "mass" in attrs else None
        if mass is None or mass < 0:
            raise self.fail(self.describe(element, tag), f"needs a mass >= 0, got {attrs.get('mass')!r}")
        if "fullinertia" in attrs:
            xx, yy, zz, xy, xz, yz = self.floats(element, "fullinertia", tag, 6, attrs=attrs)[:6]
            inertia = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
        elif "diaginertia" in attrs:
            inertia = np.diag(self.floats(element, "diaginertia", tag, 3, attrs=attrs)[:3])
        else:
            raise self.fail(self.describe(element, tag), "needs diaginertia or fullinertia")
        s = self.scale
        own = self.pose(element, tag, attrs)
        return MassProperties(mass * s**3, np.zeros(3), inertia * s**5).moved(frame @ own)

    # -------------------------------------------------------------------------------------- geoms

    def read_geom(self, element: ET.Element, draft: BodyDraft, frame: np.ndarray, childclass: str | None) -> None:
        attrs = self.resolved(element, "geom", childclass)
        label = self.describe(element, "geom")
        kind = attrs.get("type", "sphere")
        if kind in ("hfield", "sdf"):  # MuJoCo's, but not physim's: the rest of the model still loads
            self.skipped.add(f"{kind} geoms")
            return
        if kind not in GEOM_TYPES:
            raise self.fail(label, f"unknown geom type {kind!r} (physim knows {', '.join(GEOM_TYPES)})")
        s = self.scale
        size = self.floats(element, "size", "geom", default=(0, 0, 0), attrs=attrs)
        size = np.concatenate([size, np.zeros(3)])[:3] * s
        pose = self.pose(element, "geom", attrs)
        if "fromto" in attrs:
            if kind not in ("capsule", "cylinder", "box", "ellipsoid"):
                raise self.fail(label, f"fromto is only for capsule, cylinder, box and ellipsoid, not {kind!r}")
            ends = self.floats(element, "fromto", "geom", 6, attrs=attrs)[:6].reshape(2, 3) * s
            direction = ends[1] - ends[0]
            length = np.linalg.norm(direction)
            if length < 1e-12:
                raise self.fail(label, "fromto ends coincide")
            pose = np.eye(4)
            pose[:3, :3] = _rotation_between(np.array([0.0, 0.0, 1.0]), direction / length)
            pose[:3, 3] = ends.mean(0)
            if kind in ("capsule", "cylinder"):
                size[1] = length / 2
            else:  # a box or ellipsoid along the segment: size[0] is both of its cross half-widths
                size[1:] = size[0], length / 2
        pose = frame @ pose
        mesh = None
        if kind == "mesh":
            mesh_name = attrs.get("mesh")
            if mesh_name not in self.meshes:
                raise self.fail(label, f"names mesh {mesh_name!r}, which <asset> does not define")
            mesh = self.mesh(mesh_name, label)
        elif kind == "plane":
            if size[0] <= 0 or size[1] <= 0:
                size[:2] = 10.0 * s  # an infinite plane is drawn as a 20 m patch
        elif size[0] <= 0 or (kind in ("box", "ellipsoid") and np.any(size <= 0)) or (
                kind in ("capsule", "cylinder") and size[1] <= 0):
            raise self.fail(label, f"size {attrs.get('size')!r} is missing or not positive for a {kind}")
        contype = int(attrs.get("contype", "1"))
        conaffinity = int(attrs.get("conaffinity", "1"))
        group = int(attrs.get("group", "0"))
        friction = float(self.floats(element, "friction", "geom", 1, default=(1.0,), attrs=attrs)[0])
        # Mass: every geom counts, as in MuJoCo (visual-only geoms too), where the body's mass comes from geoms.
        if kind != "plane" and id(draft) in self.geom_mass:
            mass = self.floats(element, "mass", "geom", 1, attrs=attrs)
            density = float(self.floats(element, "density", "geom", 1, default=(DEFAULT_DENSITY,), attrs=attrs)[0])
            if mesh is not None:
                volume, center, unit_inertia = mesh_unit_mass(mesh)
            else:
                volume, unit_inertia = primitive_unit_mass(kind, size)
                center = np.zeros(3)
            if volume > 0:
                # The stated mass is that of the unscaled geom: scaling keeps the density, as for inertials.
                geom_mass = float(mass[0]) * s**3 if mass is not None else density * volume
                own = MassProperties(geom_mass, center, unit_inertia * geom_mass / volume)
                self.geom_mass[id(draft)] = self.geom_mass[id(draft)] + own.moved(pose)
        pos, quat = split_transform(pose)
        if self.morph.collision and (contype or conaffinity):
            if kind == "plane":
                shape = Shape.plane()
            elif mesh is not None:
                shape = self.hull(attrs["mesh"], mesh, label)
            else:
                shape = primitive_shape(kind, size)
            if shape is not None:
                draft.geoms.append(LinkGeom(GeomSpec(shape, pos, quat), friction=friction, contype=contype,
                                            conaffinity=conaffinity))
        if self.morph.visualization and group in (0, 1, 2):
            if kind == "plane":
                half_x, half_y = size[:2]
                visual = trimesh.Trimesh(vertices=[[-half_x, -half_y, 0], [half_x, -half_y, 0], [half_x, half_y, 0],
                                                   [-half_x, half_y, 0]], faces=[[0, 1, 2], [0, 2, 3]], process=False)
            else:
                visual = mesh.copy() if mesh is not None else primitive_visual(kind, size)
            visual.apply_transform(pose)
            draft.visuals.append(LinkVisual(visual, self.rgba(element, attrs)))

    def rgba(self, element: ET.Element, attrs: dict) -> tuple[float, ...]:
        # A material colours the geom unless the geom states its own rgba (MuJoCo's rule).
        if "rgba" not in element.attrib and attrs.get("material") in self.materials:
            return self.materials[attrs["material"]]
        rgba = self.floats(element, "rgba", "geom", 4, default=DEFAULT_RGBA, attrs=attrs)[:4]
        return tuple(float(x) for x in np.clip(rgba, 0, 1))

    def mesh(self, name: str, label: str):
        if name not in self.loaded_meshes:
            path, data = self.meshes[name]
            if path is None:
                mesh = trimesh.Trimesh(vertices=data * self.scale).convex_hull
            else:
                mesh = load_mesh_file(path, self.source, f"{label}<mesh name={name!r}>", data * self.scale)
            self.loaded_meshes[name] = mesh
        return self.loaded_meshes[name]

    def hull(self, name: str, mesh, label: str) -> Shape | None:
        if name not in self.hulls:
            self.hulls[name] = convex_shape(mesh, self.source, label)
        return self.hulls[name]

    # --------------------------------------------------------------------------------- actuators

    def read_actuators(self, section: ET.Element) -> list[ActuatorSpec]:
        actuators = []
        for element in section:
            if element.tag not in ACTUATOR_TAGS:
                raise self.fail(self.describe(element), "unknown actuator element")
            attrs = self.resolved(element, element.tag, None)
            label = self.describe(element)
            joint, lever = attrs.get("joint"), 1.0
            if joint is None and attrs.get("tendon") is not None:
                joint, lever = self.tendon_joint(attrs["tendon"], label)
            if joint is None:
                self.skipped.add(f"<{element.tag}> actuators on sites, bodies or uncoupled tendons")
                continue
            if joint not in self.joint_index:
                raise self.fail(label, f"drives joint {joint!r}, which the file does not define")
            if self.joint_index[joint].type.n_dofs != 1:
                self.skipped.add("actuators on ball or free joints")
                continue
            name = attrs.get("name") or f"{element.tag}_{joint}"
            gear = float(self.floats(element, "gear", element.tag, 1, default=(1.0,), attrs=attrs)[0])
            spec = self.actuator(element, attrs, label, name, joint, gear)
            if spec is not None and lever != 1.0:
                # The tendon's length moves lever times the joint's: joint force = lever x tendon force, and
                # stiffness and damping in joint space scale with lever^2.
                force = None if spec.forcerange is None else (lever * spec.forcerange[0], lever * spec.forcerange[1])
                low, high = sorted(force) if force is not None else (None, None)
                spec = replace(spec, kp=spec.kp * lever**2, kv=spec.kv * lever**2, gear=spec.gear * lever,
                               forcerange=None if force is None else (low, high))
            if spec is not None:
                actuators.append(spec)
        return actuators

    # ------------------------------------------------------------------------- tendons, equalities

    def read_tendons(self, section: ET.Element) -> None:
        for element in section:
            if element.tag != "fixed":
                self.skipped.add(f"<tendon><{element.tag}>")
                continue
            label = self.describe(element, "fixed")
            pairs = []
            for child in element.findall("joint"):
                joint = child.get("joint")
                if joint not in self.joint_index:
                    raise self.fail(label, f"names joint {joint!r}, which the file does not define")
                pairs.append((joint, float(self.floats(child, "coef", "joint", 1, default=(1.0,))[0])))
            if element.get("name"):
                self.tendons[element.get("name")] = pairs

    def read_equalities(self, section: ET.Element) -> list[EqualitySpec]:
        """``<joint joint1= joint2= polycoef=>``: q1 = c0 + c1 q2 (higher terms must be zero)."""
        equalities = []
        for element in section:
            if element.tag != "joint":
                self.skipped.add(f"<equality><{element.tag}>")
                continue
            attrs = self.resolved(element, "equality", None)  # MJCF defaults for equalities are <equality>
            if attrs.get("active", "true") == "false":
                continue
            label = self.describe(element, "joint")
            first, second = attrs.get("joint1"), attrs.get("joint2")
            for name in (first, second):
                if name is not None and name not in self.joint_index:
                    raise self.fail(label, f"names joint {name!r}, which the file does not define")
            coef = np.concatenate([self.floats(element, "polycoef", "joint", 1, default=(0.0, 1.0), attrs=attrs),
                                   np.zeros(5)])
            if first is None or second is None or np.any(coef[2:5] != 0):
                self.skipped.add("joint equalities fixing one joint or with polynomial terms")
                continue
            offset = coef[0] * (self.scale if self.joint_index[first].type == JointType.PRISMATIC else 1.0)
            equalities.append(EqualitySpec(element.get("name") or f"{first} = {second}", first, second,
                                           float(coef[1]), float(offset)))
        return equalities

    def tendon_joint(self, tendon: str, label: str) -> tuple[str | None, float]:
        """The joint an actuator on a fixed tendon drives, and the tendon's length per unit of that joint's
        coordinate: the one joint of the tendon that every other one follows by an equality (the Franka's
        two fingers). (None, 1) otherwise."""
        pairs = self.tendons.get(tendon, [])
        followers = {e.joint: e for e in self.equalities}
        drivers = [joint for joint, _ in pairs if joint not in followers]
        if len(drivers) != 1:
            return None, 1.0
        driven = drivers[0]
        lever = 0.0
        for joint, coef in pairs:
            if joint == driven:
                lever += coef
            elif followers[joint].follows == driven:
                lever += coef * followers[joint].multiplier
            else:
                return None, 1.0
        if lever == 0:
            raise self.fail(label, f"tendon {tendon!r} does not move with its joints (coefficients cancel)")
        return driven, lever

    def actuator(self, element: ET.Element, attrs: dict, label: str, name: str, joint: str, gear: float):
        tag = element.tag
        ranges = {}
        for key in ("ctrl", "force"):
            values = self.floats(element, f"{key}range", tag, 2, attrs=attrs)
            limited = attrs.get(f"{key}limited", "auto")
            use = limited == "true" or (limited == "auto" and self.compiler.autolimits and values is not None)
            ranges[key] = (float(values[0]), float(values[1])) if use and values is not None else None
        common = dict(name=name, joint=joint, forcerange=ranges["force"], ctrlrange=ranges["ctrl"])
        number = lambda key, default: float(self.floats(element, key, tag, 1, default=(default,),  # noqa: E731
                                                        attrs=attrs)[0])
        if tag == "motor":
            return ActuatorSpec(kind="motor", gear=gear, **common)
        if tag in ("position", "velocity") and gear != 1:
            self.skipped.add(f"{label}: servo with gear != 1")
            return None
        if tag == "position":
            kp = number("kp", 1.0)
            kv = number("kv", 0.0)
            if "dampratio" in attrs:
                self.skipped.add("position actuators' dampratio")
            return ActuatorSpec(kind="position", kp=kp, kv=kv, **common)
        if tag == "velocity":
            return ActuatorSpec(kind="velocity", kv=number("kv", 1.0), **common)
        if tag == "general":
            gain = self.floats(element, "gainprm", tag, 1, default=(1.0,), attrs=attrs)
            bias = np.concatenate([self.floats(element, "biasprm", tag, 1, default=(0.0,), attrs=attrs), np.zeros(3)])
            gaintype = attrs.get("gaintype", "fixed")
            biastype = attrs.get("biastype", "none")
            dyntype = attrs.get("dyntype", "none")
            kp = float(gain[0])
            if gaintype == "fixed" and dyntype == "none":
                if biastype == "none":
                    return ActuatorSpec(kind="motor", gear=gear * kp, **common)
                servo = biastype == "affine" and bias[0] == 0 and kp > 0 and gear == 1
                # force = kp ctrl + biasprm[1] q + biasprm[2] qdot: a position servo when biasprm[1] < 0, of
                # stiffness -biasprm[1] (physim's targets are joint positions: a control scaled by
                # gainprm / -biasprm != 1, as the Franka's gripper's 0..255, is not kept), a velocity servo
                # when biasprm[1] = 0 and biasprm[2] = -kp.
                if servo and bias[1] < 0:
                    return ActuatorSpec(kind="position", kp=float(-bias[1]), kv=float(-bias[2]), **common)
                if servo and bias[1] == 0 and np.isclose(-bias[2], kp, rtol=1e-6, atol=0.0):
                    return ActuatorSpec(kind="velocity", kv=kp, **common)
            self.skipped.add(f"{label}: general actuators other than motors and position/velocity servos")
            return None
        self.skipped.add(f"<{tag}> actuators")
        return None


def _shift_parents(draft: BodyDraft) -> BodyDraft:
    """A body's parent index after a ``world`` link is put first (top-level bodies stay top-level)."""
    if draft.parent >= 0:
        draft.parent += 1
    return draft


def _axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = np.asarray(axis, dtype=np.float64)
    x, y, z = axis / np.linalg.norm(axis)
    k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + math.sin(angle) * k + (1.0 - math.cos(angle)) * (k @ k)


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking unit vector ``a`` onto unit vector ``b``."""
    axis = np.cross(a, b)
    sin, cos = np.linalg.norm(axis), float(a @ b)
    if sin < 1e-12:
        if cos > 0:
            return np.eye(3)
        perpendicular = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
        return _axis_angle(perpendicular, math.pi)
    return _axis_angle(axis / sin, math.atan2(sin, cos))

