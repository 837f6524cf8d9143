"""Particles push robots: MPM liquid hands its impulses to articulated links through the rigid solver's
impulse accumulator, which answers through the tree (dqvel = M^-1 J^T [J; L])."""

import numpy as np
import pytest

import physim as ps
from physim.scene.robot_entity import RobotEntity
from physim.solvers.rigid import GeomSpec, Shape
from physim.solvers.rigid.articulation_model import ArticulationSpec, JointSpec, JointType, LinkGeom, LinkSpec

DX = 1.0 / 40  # grid cell, m
RADIUS, DENSITY = 0.05, 300.0  # m, kg/m^3
WATER_DEPTH = 0.15  # m


@pytest.mark.slow
def test_a_floating_base_robot_floats_at_its_archimedes_depth():
    """A one-link robot on a free joint (a light ball) dropped into 15 cm of MPM water: links have no inverse
    mass of their own, so only the accumulator can hold it up."""
    scene = ps.Scene(sim_options=ps.options.SimOptions(dt=2e-3, substeps=4),
                     mpm_options=ps.options.MPMOptions(lower_bound=(-0.15, -0.1, 0.0), upper_bound=(0.15, 0.1, 0.35),
                                                       grid_density=1 / DX))
    scene.add_entity(ps.morphs.Box(lower=(-0.15, -0.1, 0.0), upper=(0.15, 0.1, WATER_DEPTH)),
                     material=ps.materials.MPM.Liquid())
    mass = DENSITY * 4 / 3 * np.pi * RADIUS**3
    free = JointSpec("root", JointType.FREE, qpos0=np.array([0.0, 0.0, 0.22, 1.0, 0.0, 0.0, 0.0]))
    ball = LinkSpec("ball", -1, np.zeros(3), np.array([1.0, 0, 0, 0]), (free,), mass, np.zeros(3),
                    np.eye(3) * 0.4 * mass * RADIUS**2, geoms=(LinkGeom(GeomSpec(Shape.sphere(RADIUS))),))
    robot = RobotEntity(scene, len(scene.entities), "buoy", ps.morphs.Box(size=(0.1,) * 3, pos=(0, 0, 0)),
                        ps.materials.Rigid(), ps.surfaces.Default(), ArticulationSpec("buoy", (ball,)))
    scene.entities.append(robot)
    scene.build()
    for _ in range(500):
        scene.step()
    # Archimedes: the submerged cap holds DENSITY / 1000 of the ball's volume, pi h^2 (3 r - h) / 3.
    depths = np.linspace(0, 2 * RADIUS, 20001)
    cap = np.pi * depths**2 * (3 * RADIUS - depths) / 3
    submerged = depths[np.argmin(np.abs(cap - DENSITY / 1000 * 4 / 3 * np.pi * RADIUS**3))]
    level = WATER_DEPTH + DENSITY / 1000 * 4 / 3 * np.pi * RADIUS**3 / (0.3 * 0.2)  # raised by the ball
    expected_centre = level - submerged + RADIUS
    # As for free bodies (test_mpm_coupling): grid boundaries stop liquid within about a cell of a surface,
    # so the ball rides up to a cell high; it must neither sink nor leave the water.
    height = robot.get_pos()[2]
    assert expected_centre - 0.25 * DX < height < expected_centre + 1.25 * DX
    assert np.linalg.norm(robot.get_dofs_velocity()[:3]) < 0.05  # at rest on the water
