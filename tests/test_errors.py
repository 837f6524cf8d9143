"""Bad input gets a PhysimError that names the file, field or entity; never a Taichi trace or a NaN."""

import numpy as np
import pytest
from conftest import make_scene

import physim as ps
from physim.errors import AssetError, InvalidValueError, PhysimError, SceneStateError, SimulationDivergedError


@pytest.mark.parametrize("make, field", [
    (lambda: ps.morphs.Box(size=(0.1, -1.0, 0.1)), "Box.size"),
    (lambda: ps.morphs.Box(size=(0.1, 0.1)), "Box.size"),
    (lambda: ps.morphs.Box(lower=(0, 0, 0), upper=(1, -1, 1)), "Box.upper"),
    (lambda: ps.morphs.Box(pos=(0.0, float("nan"), 1.0)), "Box.pos"),
    (lambda: ps.morphs.Box(quat=(0, 0, 0, 0)), "Box.quat"),
    (lambda: ps.morphs.Sphere(radius=0.0), "Sphere.radius"),
    (lambda: ps.morphs.Capsule(radius=0.1, height=float("inf")), "Capsule.height"),
    (lambda: ps.morphs.Cylinder(radius=-0.1), "Cylinder.radius"),
    (lambda: ps.morphs.Sphere(euler=(0, "x", 0)), "Sphere.euler"),
    (lambda: ps.morphs.Plane(normal=(0, 0, 0)), "Plane.normal"),
    (lambda: ps.morphs.Mesh(file="meshes/rock.ply", scale=0), "Mesh.scale"),
    (lambda: ps.materials.Rigid(rho=0), "Rigid.rho"),
    (lambda: ps.materials.Rigid(rho=-5), "Rigid.rho"),
    (lambda: ps.materials.Rigid(friction=-0.1), "Rigid.friction"),
    (lambda: ps.materials.Rigid(restitution=1.5), "Rigid.restitution"),
    (lambda: ps.surfaces.Default(color=(1.2, 0, 0)), "Default.color"),
    (lambda: ps.surfaces.Default(opacity=-1), "Default.opacity"),
    (lambda: ps.surfaces.Metal(roughness=float("nan")), "Metal.roughness"),
    (lambda: ps.surfaces.Default(vis_mode="mesh"), "Default.vis_mode"),
    (lambda: ps.morphs.open_box((0.1, 0.1), height=0.01, wall=0.02), "open_box.height"),
    (lambda: ps.morphs.open_box((0.1, 0.0), height=0.1, wall=0.01), "open_box.inner"),
    (lambda: ps.options.SimOptions(dt=0), "SimOptions.dt"),
    (lambda: ps.options.SimOptions(dt=-0.01), "SimOptions.dt"),
    (lambda: ps.options.SimOptions(substeps=0), "SimOptions.substeps"),
    (lambda: ps.options.SimOptions(gravity=(0, 0)), "SimOptions.gravity"),
    (lambda: ps.options.RigidOptions(iterations=-1), "RigidOptions.iterations"),
    (lambda: ps.options.RigidOptions(position_correction=2.0), "RigidOptions.position_correction"),
    (lambda: ps.options.VisOptions(ambient_light=(2, 0, 0)), "VisOptions.ambient_light"),
])
def test_invalid_values_name_the_field(make, field):
    with pytest.raises(InvalidValueError, match=field.replace(".", r"\.")):
        make()


def test_missing_mesh_file_names_the_path():
    with pytest.raises(AssetError, match="no_such_mesh.obj"):
        ps.morphs.Mesh(file="no_such_mesh.obj")


def test_unreadable_mesh_file_names_the_path(tmp_path):
    broken = tmp_path / "broken.obj"
    broken.write_bytes(b"\x00\x01 this is not a mesh \xff")
    scene = ps.Scene()
    with pytest.raises(AssetError, match="broken.obj"):
        scene.add_entity(ps.morphs.Mesh(file=str(broken)))


def test_flat_mesh_has_no_convex_volume(tmp_path):
    flat = tmp_path / "flat.obj"
    flat.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 1 0\nf 1 2 3\nf 2 4 3\n")
    scene = ps.Scene()
    with pytest.raises(AssetError, match="flat.obj"):
        scene.add_entity(ps.morphs.Mesh(file=str(flat)))


def test_step_before_build():
    scene = ps.Scene()
    scene.add_entity(ps.morphs.Sphere())
    with pytest.raises(SceneStateError, match="build"):
        scene.step()


def test_add_entity_after_build():
    scene, _ = make_scene()
    with pytest.raises(SceneStateError, match="already built"):
        scene.add_entity(ps.morphs.Sphere())


def test_getters_before_build():
    scene = ps.Scene()
    ball = scene.add_entity(ps.morphs.Sphere())
    with pytest.raises(SceneStateError):
        ball.get_pos()


def test_wrong_argument_types_to_add_entity():
    scene = ps.Scene()
    with pytest.raises(InvalidValueError, match="morph"):
        scene.add_entity("a box")
    with pytest.raises(InvalidValueError, match="material"):
        scene.add_entity(ps.morphs.Box(), material=ps.surfaces.Default())
    scene.add_entity(ps.morphs.Box(), name="crate")
    with pytest.raises(InvalidValueError, match="crate"):
        scene.add_entity(ps.morphs.Box(), name="crate")


@pytest.mark.parametrize("setter, value", [
    ("set_pos", (0.0, np.nan, 1.0)),
    ("set_vel", (np.inf, 0.0, 0.0)),
    ("set_ang", (0.0, 0.0, -np.inf)),
    ("set_quat", (np.nan, 0, 0, 1)),
])
def test_non_finite_setter_values_name_the_entity(setter, value):
    scene, (ball,) = make_scene((ps.morphs.Sphere(radius=0.1, pos=(0, 0, 1)), ps.materials.Rigid()))
    with pytest.raises(InvalidValueError, match=rf"{ball.name}\.{setter}"):
        getattr(ball, setter)(value)


def test_setter_shape_and_envs_idx_are_checked():
    scene, (ball,) = make_scene((ps.morphs.Sphere(radius=0.1, pos=(0, 0, 1)), ps.materials.Rigid()), n_envs=2)
    with pytest.raises(InvalidValueError, match="shape"):
        ball.set_pos(np.zeros((3, 3)))
    with pytest.raises(InvalidValueError, match="envs_idx"):
        ball.set_pos((0, 0, 1), envs_idx=[2])
    single, (other,) = make_scene((ps.morphs.Sphere(radius=0.1, pos=(0, 0, 1)), ps.materials.Rigid()))
    with pytest.raises(InvalidValueError, match="batched"):
        other.get_pos(envs_idx=[0])


def test_diverging_simulation_is_reported_with_step_and_entity():
    # Nothing stops a body falling under absurd gravity: its position overflows to infinity.
    scene = ps.Scene(sim_options=ps.options.SimOptions(dt=1.0, gravity=(0.0, 0.0, -1e37)))
    scene.add_entity(ps.morphs.Sphere(radius=0.1), name="ball")
    scene.build(n_envs=2)
    with pytest.raises(SimulationDivergedError, match=r"step \d+: entity 'ball' in env 0"):
        for _ in range(20):
            scene.step()
    assert scene.cur_step < 20


def test_show_viewer_says_there_is_no_viewer():
    with pytest.raises(PhysimError, match="viewer"):
        ps.Scene(show_viewer=True)


def test_reinit_with_other_arguments_is_refused():
    with pytest.raises(PhysimError, match="already initialised"):
        ps.init(backend="cpu", precision="64")
    ps.init(backend="cpu", precision="32", seed=0)  # the same arguments are fine


def test_bad_backend_names_the_argument():
    with pytest.raises(InvalidValueError, match="init.backend"):
        ps.init(backend="tpu")
