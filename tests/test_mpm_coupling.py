"""Two-way coupling of rigid bodies and MPM material: buoyancy, sinking, pushing."""

import numpy as np
import pytest

import physim as ps

DX = 1.0 / 48  # grid cell, m
RADIUS = 0.05
WATER_DEPTH = 0.15


@pytest.fixture(scope="module")
def tank():
    """A 0.5 x 0.2 m tank with 15 cm of water; a light ball (300 kg/m^3) and a heavy one (3000 kg/m^3)
    dropped in side by side; 1.2 s later."""
    scene = ps.Scene(sim_options=ps.options.SimOptions(dt=2e-3, substeps=4),
                     mpm_options=ps.options.MPMOptions(lower_bound=(-0.25, -0.1, 0.0), upper_bound=(0.25, 0.1, 0.35),
                                                       grid_density=1 / DX))
    water = scene.add_entity(ps.morphs.Box(lower=(-0.25, -0.1, 0.0), upper=(0.25, 0.1, WATER_DEPTH)),
                             material=ps.materials.MPM.Liquid())
    light = scene.add_entity(ps.morphs.Sphere(radius=RADIUS, pos=(-0.12, 0, 0.22)),
                             material=ps.materials.Rigid(rho=300))
    heavy = scene.add_entity(ps.morphs.Sphere(radius=RADIUS, pos=(0.12, 0, 0.22)),
                             material=ps.materials.Rigid(rho=3000))
    scene.build()
    for _ in range(600):
        scene.step()
    return scene, water, light, heavy


def test_a_light_ball_floats_at_its_archimedes_depth(tank):
    scene, water, light, heavy = tank
    # Archimedes: the submerged cap holds 0.3 of the ball's volume, pi h^2 (3 r - h) / 3 = 0.3 * 4/3 pi r^3.
    depths = np.linspace(0, 2 * RADIUS, 20001)
    cap = np.pi * depths**2 * (3 * RADIUS - depths) / 3
    submerged = depths[np.argmin(np.abs(cap - 0.3 * 4 / 3 * np.pi * RADIUS**3))]
    # The water level (raised by both balls) from the volume it holds over the tank's floor area.
    level = WATER_DEPTH + (0.3 + 1.0) * 4 / 3 * np.pi * RADIUS**3 / (0.5 * 0.2)
    expected_centre = level - submerged + RADIUS
    # Grid-based boundaries stop liquid within about one cell of a surface, so the ball rides up to one
    # cell high; it must not sink nor leave the water.
    assert expected_centre - 0.25 * DX < light.get_pos()[2] < expected_centre + 1.25 * DX
    assert np.linalg.norm(light.get_vel()) < 0.05  # at rest on the water


def test_a_heavy_ball_sinks_to_the_bottom(tank):
    scene, water, light, heavy = tank
    assert heavy.get_pos()[2] < RADIUS + 2 * DX  # on the floor, under at most a cell or two of trapped water
    assert heavy.get_pos()[2] + RADIUS < WATER_DEPTH  # fully under water


def test_the_water_stays_in_the_tank_and_keeps_its_mass(tank):
    scene, water, light, heavy = tank
    x = water.get_particles_pos()
    assert np.all(np.isfinite(x))
    inside_balls = [np.linalg.norm(x - ball.get_pos(), axis=1) < RADIUS - DX for ball in (light, heavy)]
    assert not np.any(inside_balls[0] | inside_balls[1])  # no water through the balls' surfaces
    assert water.mass == pytest.approx(1000 * water.n_particles * scene.mpm_options.particle_size**3)


def test_a_blade_ploughs_sand_and_is_slowed_by_it():
    """A 2.3 kg blade slid at 1 m/s over a frictionless floor into a bed of sand: without the sand it would
    keep its speed; with it, it hands momentum to the sand and pushes it ahead."""
    scene = ps.Scene(sim_options=ps.options.SimOptions(dt=2e-3, substeps=4),
                     mpm_options=ps.options.MPMOptions(lower_bound=(-0.2, -0.15, 0.0), upper_bound=(0.2, 0.15, 0.2),
                                                       grid_density=50))
    scene.add_entity(ps.morphs.Plane(), material=ps.materials.Rigid(friction=0.0))
    sand = scene.add_entity(ps.morphs.Box(lower=(-0.05, -0.08, 0.0), upper=(0.15, 0.08, 0.05)),
                            material=ps.materials.MPM.Sand())
    blade = scene.add_entity(ps.morphs.Box(size=(0.04, 0.12, 0.08), pos=(-0.1, 0, 0.041)),
                             material=ps.materials.Rigid(rho=6000, friction=0.0))
    scene.build()
    blade.set_vel((1.0, 0, 0))
    start = sand.get_particles_pos()
    for _ in range(60):
        scene.step()
    assert blade.get_vel()[0] < 0.6  # it met resistance
    assert blade.get_pos()[0] > -0.05  # and still went into the sand
    assert (sand.get_particles_pos() - start)[:, 0].max() > 0.03  # the sand ahead was pushed
    assert sand.get_particles_vel()[:, 0].sum() > 0  # and carries forward momentum
