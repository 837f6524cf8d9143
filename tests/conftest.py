"""Test setup: physim initialised once per test process, on the CPU, seeded."""

import os

import pytest

os.environ.setdefault("TI_SKIP_VERSION_CHECK", "ON")

import physim as ps  # noqa: E402

ps.init(backend="cpu", precision="32", seed=0)

GRAVITY = 9.81


def make_scene(*entities, dt=0.01, substeps=1, gravity=(0.0, 0.0, -GRAVITY), n_envs=0, rigid_options=None,
               ground=None):
    """A built scene holding a ground plane (material ``ground``) and the given (morph, material) pairs;
    returns (scene, handles). A contact's friction is the larger of its two bodies' coefficients."""
    scene = ps.Scene(sim_options=ps.options.SimOptions(dt=dt, substeps=substeps, gravity=gravity),
                     rigid_options=rigid_options)
    scene.add_entity(ps.morphs.Plane(), material=ground)
    handles = [scene.add_entity(morph, material=material) for morph, material in entities]
    scene.build(n_envs=n_envs)
    return scene, handles


def run(scene, seconds):
    for _ in range(int(round(seconds / scene.dt))):
        scene.step()


@pytest.fixture
def tmp_out(tmp_path):
    return tmp_path
