"""Every example scene builds, steps and films (slow): built small and coarse, run a few steps, rendered. The
scenes' physics is specified elsewhere (test_sph, test_mpm, test_pbd, test_robot_slow...); this keeps the
README's runnable examples from drifting away from the API."""

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scenes"))

pytestmark = pytest.mark.slow

RES = (96, 64)
# scene module -> build's keyword arguments (coarse versions of the scene)
SCENES = {
    "hello": dict(res=RES),
    "cloth_drape": dict(res=RES),
    "mpm_materials": dict(grid_density=24, res=RES),
    "mpm_shovel": dict(grid_density=24, res=RES),
    "pour": dict(particle_size=0.016, res=RES),
    "sph_dam_break": dict(particle_size=0.025, res=RES),
}
STEPS = 20


@pytest.mark.parametrize("name", SCENES)
def test_example_scene_builds_steps_and_films(name: str) -> None:
    module = importlib.import_module(name)
    built = module.build(**SCENES[name])
    scene = built[0]
    camera = next(item for item in built if hasattr(item, "render"))
    emitters = [entity for entity in scene.entities if getattr(entity, "is_emitter", False)]
    for _ in range(STEPS):
        for emitter in emitters:
            emitter.emit()
        scene.step()
    assert scene.cur_step == STEPS
    for entity in scene.entities:
        if hasattr(entity, "get_particles_pos"):
            assert np.isfinite(entity.get_particles_pos()).all(), f"{name}: {entity.name} went non-finite"
    rgb, _, segmentation, _ = camera.render(rgb=True, segmentation=True)
    assert rgb.shape[:2] == (RES[1], RES[0])
    assert rgb.std() > 5.0, f"{name}: a blank picture"
    assert len(np.unique(segmentation)) >= 2, f"{name}: no entity in view"
