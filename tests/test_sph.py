"""The SPH liquid solver against what physics says: a still tank, mass, a dam break against Martin & Moyce's
experiment, a floating and a sinking body, an emitter, and parameter validation."""

import numpy as np
import pytest
from conftest import GRAVITY

import physim as ps
from physim.errors import InvalidValueError
from physim.scene.robot_entity import RobotEntity
from physim.solvers.rigid import GeomSpec, Shape
from physim.solvers.rigid.articulation_model import ArticulationSpec, JointSpec, JointType, LinkGeom, LinkSpec
from physim.solvers.sph.layout import N_LIQUID_NEIGHBOURS, N_NEIGHBOURS, SEARCH_BATCH
from physim.utils.arrays import read

SIZE = 0.02  # particle_size of the fast tests: coarse, so each scene is a few thousand particles at most


def sph_scene(*entities, dt=0.005, substeps=2, lower=(-0.1, -0.1, 0.0), upper=(0.1, 0.1, 0.4), n_envs=0,
              gravity=(0.0, 0.0, -GRAVITY), **options):
    scene = ps.Scene(sim_options=ps.options.SimOptions(dt=dt, substeps=substeps, gravity=gravity),
                     sph_options=ps.options.SPHOptions(lower_bound=lower, upper_bound=upper,
                                                       **{"particle_size": SIZE, **options}))
    handles = [scene.add_entity(morph, material=material) for morph, material in entities]
    scene.build(n_envs=n_envs)
    return scene, handles


def steps(scene, n):
    for _ in range(n):
        scene.step()


@pytest.fixture(scope="module")
def tank():
    """A 0.2 m x 0.2 m tank filled 0.16 m deep (800 particles), run for 0.5 s (its particles' velocities
    then kept), then to 1 s."""
    scene, (water,) = sph_scene((ps.morphs.Box(lower=(-0.1, -0.1, 0.0), upper=(0.1, 0.1, 0.16)),
                                 ps.materials.SPH.Liquid()))
    start = water.get_particles_pos()
    steps(scene, 100)
    half_second_velocities = water.get_particles_vel()
    steps(scene, 100)
    return scene, water, start, half_second_velocities


def test_particles_add_up_to_rho_times_sampled_volume_and_keep_it(tank):
    scene, water, _, _ = tank
    assert water.n_particles == 10 * 10 * 8
    assert water.mass == pytest.approx(1000.0 * 0.2 * 0.2 * 0.16, rel=1e-9)
    solver = scene._particle_solvers["SPH"]
    assert solver.particle_mass.astype(np.float64).sum() == pytest.approx(water.mass, rel=1e-6)
    assert water.get_n_active() == water.n_particles  # nothing lost after 1 s


def test_liquid_at_rest_stays_level_still_and_at_rest_density(tank):
    scene, water, start, half_second_velocities = tank
    x = water.get_particles_pos()
    assert np.all(np.isfinite(x))
    rho = scene._particle_solvers["SPH"].densities()[0]
    # Particles deeper than one support radius have full neighbourhoods: their density is the solver's
    # business, and DFSPH holds the mean error under max_density_error (0.01 %; measured 0.008 %, at most
    # 0.04 %); 1 % is the bound, for the mean and for every deep particle.
    deep = x[:, 2] < x[:, 2].max() - 2 * SIZE
    assert abs(rho[deep].mean() / 1000.0 - 1.0) < 0.01
    assert np.abs(rho[deep] / 1000.0 - 1.0).max() < 0.01
    # Level: the surface layer's heights spread by less than half a particle. The liquid sampled at rest
    # density holds its pressure without compressing or settling into the walls (they mirror it), so its
    # centre of mass stays within a tenth of a particle (2 mm; measured 0.05 mm) of where it started.
    surface = x[:, 2] > np.percentile(x[:, 2], 90)
    assert x[surface, 2].std() < 0.5 * SIZE
    assert abs(start[:, 2].mean() - x[:, 2].mean()) < 0.1 * SIZE
    assert np.abs(x[:, :2].mean(axis=0)).max() < 0.1 * SIZE  # no drift sideways
    # Still: hydrostatic balance from the first step, no flow and no more than a faint trembling. The issue's
    # "still" read as an RMS speed under 5 mm/s (a particle moving that fast would cross its own size in 4 s);
    # measured 3.9 mm/s at 0.5 s (the solve only ever adds pressure, as SPlisHSPlasH's, so where its warm
    # start left a little too much, the particles tremble it away). Later the sampling lattice rearranges (see
    # the slow test below), so at 1 s only the flow of the whole liquid must stay near 0 (mean velocity;
    # measured 0.5 mm/s).
    assert np.sqrt((half_second_velocities**2).sum(axis=1).mean()) < 0.005
    v = water.get_particles_vel()
    assert np.linalg.norm(v.mean(axis=0)) < 0.005


@pytest.mark.slow
def test_liquid_at_rest_settles_still_after_its_lattice_rearranges():
    """A liquid sampled on a cubic lattice holds still at first, but the lattice is not SPH's stable packing
    under pressure: within the first second round-off grows into a rearrangement, whose released energy the
    velocity smoothing must damp (measured RMS speeds: 8.6 mm/s at 1 s, 5.1 mm/s at 2 s, 1.2 mm/s at 5 s)."""
    scene, (water,) = sph_scene((ps.morphs.Box(lower=(-0.1, -0.1, 0.0), upper=(0.1, 0.1, 0.16)),
                                 ps.materials.SPH.Liquid()))
    start = water.get_particles_pos()
    steps(scene, 1000)  # 5 s
    x, v = water.get_particles_pos(), water.get_particles_vel()
    assert np.sqrt((v**2).sum(axis=1).mean()) < 0.005
    rho = scene._particle_solvers["SPH"].densities()[0]
    deep = x[:, 2] < x[:, 2].max() - 2 * SIZE
    assert abs(rho[deep].mean() / 1000.0 - 1.0) < 0.01
    # The rearranged packing is a little looser: the centre of mass has sunk by no more than a tenth of a
    # particle (measured 0.29 mm).
    assert abs(start[:, 2].mean() - x[:, 2].mean()) < 0.1 * SIZE


def tank_with_a_box(size, pos, rho):
    """The 0.3 m square tank filled 0.16 m deep, a box of density rho (kg/m^3) dropped in from above."""
    return sph_scene(
        (ps.morphs.Plane(), None),  # the rigid bodies' floor (the liquid's is the domain's)
        (ps.morphs.Box(lower=(-0.15, -0.15, 0.0), upper=(0.15, 0.15, 0.16)), ps.materials.SPH.Liquid()),
        (ps.morphs.Box(size=size, pos=pos), ps.materials.Rigid(rho=rho)),
        lower=(-0.15, -0.15, 0.0), upper=(0.15, 0.15, 0.4))


def test_a_light_body_floats_at_its_archimedes_draft():
    scene, (_, water, light) = tank_with_a_box((0.1, 0.1, 0.06), (-0.06, 0.0, 0.22), rho=500)
    heights = []
    for step in range(300):  # 1.5 s
        scene.step()
        if step >= 200:
            heights.append(light.get_pos()[2])
    # Archimedes: at half water's density the box floats half immersed, its centre at the surface, which
    # the displaced volume lifts from 0.16 m by about 4 mm. The liquid meets the box where its own volume
    # ends (half a particle off its particles' centres), so the box takes that draft; the free surface is
    # only defined to within a particle layer, and a quarter of a particle (5 mm) bounds what the body's
    # bobbing (2.4 Hz, still decaying) and the surface layer leave (measured: 2.9 to 3.3 mm low over 16
    # runs). Akinci et al.'s boundary layer as first built held the liquid 1.1 particles off and the box rode
    # 26 mm high.
    surface = 0.16 + 0.1 * 0.1 * 0.03 / (0.3 * 0.3)
    assert np.mean(heights) == pytest.approx(surface, abs=0.25 * SIZE)
    assert np.all(np.isfinite(water.get_particles_pos()))


def test_a_heavy_body_sinks_to_the_floor():
    """A box three times water's density goes down and ends on the floor, held off it by the liquid's boundary
    layer no more than about a particle (and not below it: the floor holds it). It has its own tank: where it
    strikes the floor through the last particle layer at 1.1 m/s, the trapped particles can leave at 34 m/s
    (see the solver's known limits), and once in about sixteen runs that kick threw a floating box sharing
    the tank out of it (measured)."""
    scene, (_, water, heavy) = tank_with_a_box((0.06, 0.06, 0.06), (0.08, 0.0, 0.22), rho=3000)
    steps(scene, 240)  # 1.2 s
    assert 0.03 - 0.1 * SIZE < heavy.get_pos()[2] < 0.03 + 1.5 * SIZE
    assert np.all(np.isfinite(water.get_particles_pos()))


def test_a_long_light_stick_tips_over_and_floats_lying_flat():
    """A stick (0.06 x 0.06 x 0.24 m, half water's density) let go upright (5 degrees off) on the water of a
    tank: upright its centre of mass stands above its centre of buoyancy and it is unstable, so the liquid's
    pressure turns it over (the coupling's torques) until it floats lying flat, half immersed. The tank is
    five fixed boxes whose inner faces are the domain's walls: the liquid meets the walls' images there, and
    the boxes' boundary particles beyond them are left out (counted too, they doubled the walls and blew the
    water 20 cm up on the first step, throwing the stick out; measured)."""
    scene, (*_, water, stick) = sph_scene(
        *[(box, None) for box in ps.morphs.open_box((0.3, 0.3), 0.3, 0.02, pos=(0.0, 0.0, -0.02))],
        (ps.morphs.Box(lower=(-0.15, -0.15, 0.0), upper=(0.15, 0.15, 0.16)), ps.materials.SPH.Liquid()),
        (ps.morphs.Box(size=(0.06, 0.06, 0.24), pos=(0.0, 0.0, 0.29), euler=(5, 0, 0)), ps.materials.Rigid(rho=500)),
        lower=(-0.15, -0.15, 0.0), upper=(0.15, 0.15, 0.5))
    highest = 0.0
    for _ in range(8):  # 2 s
        steps(scene, 50)
        highest = max(highest, np.percentile(water.get_particles_pos()[:, 2], 99))
    assert highest < 0.16 + 2 * SIZE  # no burst (measured 0.16 m; 0.4 m with the walls doubled)
    w, x, y, z = stick.get_quat()
    axis_up = 1.0 - 2.0 * (x * x + y * y)  # the vertical component of the stick's long axis
    assert abs(axis_up) < np.sin(np.radians(10))  # lying flat (measured within 0.5 degrees)
    # Archimedes: half immersed, its centre on the surface, which the stick lifts by 2.4 mm; like the floating
    # box it rides 3-4 mm low (see test_a_light_body_floats_at_its_archimedes_draft).
    surface = 0.16 + 0.5 * 0.06 * 0.06 * 0.24 / (0.3 * 0.3)
    assert stick.get_pos()[2] == pytest.approx(surface, abs=0.25 * SIZE)
    assert np.linalg.norm(stick.get_ang()) < 0.5


def assert_lists_in_order(solver):
    """Each particle's neighbour list holds its liquid neighbours first (the solves' loop over them has no
    branch), then rigid boundary particles, then wall images; this scene has all three."""
    n, nb = solver.n_particles, solver.n_boundary
    p_int = read(solver._work["p_int"])[0, :n]
    first, neighbours = read(solver._work["list_start"])[0, :n], read(solver._work["neighbours"])
    kinds = set()
    for i in range(n):
        entries = neighbours[first[i]:first[i] + p_int[i, N_NEIGHBOURS]]
        kind = np.where(entries < n, 0, np.where(entries < n + nb, 1, 2))
        assert np.all(np.diff(kind) >= 0), f"particle {i}: {kind}"
        assert np.sum(kind == 0) == p_int[i, N_LIQUID_NEIGHBOURS]
        kinds.update(kind.tolist())
    assert kinds == {0, 1, 2}


def test_a_box_placed_in_the_water_displaces_it_from_the_start():
    """A light box placed half in the water of a tank at build: the liquid sampled where the box stands (and
    within half a particle of it, where the liquid's own volume would overlap the box) is left out, so the
    box starts in a hollow of its shape and floats on, the liquid calm. With that water left inside it, it
    burst out at 5 m/s and threw the box to the tank's ceiling (measured)."""
    scene, (_, water, box) = tank_with_a_box((0.1, 0.1, 0.06), (0.0, 0.0, 0.16), rho=500)
    full = 15 * 15 * 8  # the liquid box's lattice
    excess = np.abs(water.get_particles_pos() - box.get_pos()) - np.array([0.05, 0.05, 0.03])
    distance = np.linalg.norm(np.maximum(excess, 0.0), axis=1)  # to the box's surface, from outside
    assert np.all(excess.max(axis=1) > 0) and distance.min() >= 0.5 * SIZE - 1e-6
    assert water.n_particles < full and water.mass == pytest.approx(water.n_particles * 1000.0 * SIZE**3)
    fastest = 0.0
    for _ in range(6):  # 0.3 s
        steps(scene, 10)
        fastest = max(fastest, np.linalg.norm(water.get_particles_vel(), axis=1).max())
    assert fastest < 0.5  # measured 0.15 m/s
    assert_lists_in_order(scene._particle_solvers["SPH"])
    assert box.get_pos()[2] == pytest.approx(0.16, abs=0.75 * SIZE)  # measured 1 cm low at most


def test_water_in_a_cup_of_thin_fixed_boxes_stays_in_it_level_and_still():
    """A cup built of five fixed boxes (floor and walls 1.2 cm thick, thinner than two boundary insets, so
    each is sampled as one mid-plane layer) holding 6 cm of water, 1 cm particles: none leaks through a
    wall or a joint, the density stays within 1 % of rest, and the liquid comes to rest level. Before thin
    boxes' layers merged, each face's layer sat 2 mm too near the liquid and the water leapt 5 cm on the
    first step (measured)."""
    size, wall, inner, height = 0.01, 0.012, 0.1, 0.12
    scene, (*_, water) = sph_scene(
        *[(box, None) for box in ps.morphs.open_box((inner, inner), height, wall)],
        (ps.morphs.Box(lower=(-inner / 2, -inner / 2, wall), upper=(inner / 2, inner / 2, wall + 0.06)),
         ps.materials.SPH.Liquid()),
        lower=(-0.1, -0.1, 0.0), upper=(0.1, 0.1, 0.2), particle_size=size)
    solver = scene._particle_solvers["SPH"]
    for _ in range(3):  # 0.75 s, checked every 0.25 s
        steps(scene, 50)
        x = water.get_particles_pos()
        # Inside: particle centres within half a particle of the cup's inner faces.
        assert np.abs(x[:, :2]).max() < inner / 2 + 0.5 * size
        assert x[:, 2].min() > wall - 0.5 * size
        assert solver.densities()[0].max() < 1.01 * 1000.0
    v = water.get_particles_vel()
    assert np.sqrt((v**2).sum(axis=1).mean()) < 0.01  # measured 6 mm/s at 0.75 s, 3.7 mm/s at 1 s
    surface = x[:, 2] > np.percentile(x[:, 2], 90)
    assert x[surface, 2].std() < 0.5 * size


SERVO_KP = 50.0  # N m / rad: the ball sags 1.5 mm in air


def lever_holding_torque(with_water: bool) -> float:
    """The torque a stiff position servo needs to hold a fixed-base one-link robot level: a hinge about y at
    x = -0.12 m, 0.1 m up, and a ball (radius 4 cm, twice water's density) on the link's end at x = 0, held
    under 16 cm of water or in air. Mean over the last 0.2 s of 0.5 s, N m."""
    radius, arm = 0.04, 0.12
    mass = 2000.0 * 4 / 3 * np.pi * radius**3
    hinge = JointSpec("hinge", JointType.REVOLUTE, axis=np.array([0.0, 1.0, 0.0]))
    lever = LinkSpec("lever", -1, np.zeros(3), np.array([1.0, 0, 0, 0]), (hinge,), mass, np.array([arm, 0.0, 0.0]),
                     np.eye(3) * 0.4 * mass * radius**2,
                     geoms=(LinkGeom(GeomSpec(Shape.sphere(radius), pos=np.array([arm, 0.0, 0.0]))),))
    scene = ps.Scene(sim_options=ps.options.SimOptions(dt=0.005, substeps=2),
                     sph_options=ps.options.SPHOptions(lower_bound=(-0.1, -0.1, 0.0), upper_bound=(0.1, 0.1, 0.3),
                                                       particle_size=SIZE))
    if with_water:  # 16 cm of water with an 8 cm hole where the ball is (liquid sampled inside it would stay)
        for lower, upper in [((-0.1, -0.1, 0.0), (-0.04, 0.1, 0.16)), ((0.04, -0.1, 0.0), (0.1, 0.1, 0.16)),
                             ((-0.04, -0.1, 0.0), (0.04, -0.04, 0.16)), ((-0.04, 0.04, 0.0), (0.04, 0.1, 0.16)),
                             ((-0.04, -0.04, 0.0), (0.04, 0.04, 0.06)), ((-0.04, -0.04, 0.14), (0.04, 0.04, 0.16))]:
            scene.add_entity(ps.morphs.Box(lower=lower, upper=upper), material=ps.materials.SPH.Liquid())
    robot = RobotEntity(scene, len(scene.entities), "lever", ps.morphs.Box(size=(0.1,) * 3, pos=(-arm, 0.0, 0.1)),
                        ps.materials.Rigid(), ps.surfaces.Default(), ArticulationSpec("lever", (lever,)))
    scene.entities.append(robot)
    scene.build()
    robot.set_dofs_kp(np.array([SERVO_KP]))
    robot.set_dofs_kv(np.array([1.0]))
    robot.control_dofs_position(np.zeros(1))
    # The servo's spring carries the load: torque = kp times the mean deflection. (The servo's reported force
    # is sampled at the step's last substep, while the liquid's impulse arrives at its first: its damping
    # term would read the kick's phase, not the mean.)
    angles = []
    for step in range(100):
        scene.step()
        if step >= 60:
            angles.append(float(robot.get_dofs_position()[0]))
    return SERVO_KP * float(np.mean(angles))


def test_a_robot_link_under_water_feels_buoyancy_on_its_joint():
    """Robot links carry boundary particles as free bodies do: the liquid pushes the link and the push reaches
    the joint through the tree. Archimedes: the ball displaces half its own weight of water, so the servo
    holding the lever level needs half the torque it needs in air. Within 10 % of the dry torque (measured:
    0.57 of it): the ball is only two particles across, its boundary layer a sphere of 1.5 particles, and the
    liquid around it still settles."""
    dry, wet = lever_holding_torque(False), lever_holding_torque(True)
    assert abs(dry) == pytest.approx(2000.0 * 4 / 3 * np.pi * 0.04**3 * GRAVITY * 0.12, rel=0.02)
    assert wet / dry == pytest.approx(0.5, abs=0.1)


def test_dam_break_front_follows_martin_and_moyce():
    """Martin & Moyce 1952 (Phil. Trans. A 244, 312), the column of width a and height 2 a (n^2 = 2): the
    surge front's distance Z = x / a from the back wall against T = t sqrt(2 g / a). Their measured points
    (as tabulated by Koshizuka & Oka 1996, Fig. 7) between T = 1 and 2.5; SPH at 10 particles across the
    column runs a little ahead of the experiment, whose early front was slowed by the gate: within 20 %."""
    a = 0.1
    scene, (water,) = sph_scene((ps.morphs.Box(lower=(0.0, 0.0, 0.0), upper=(a, 0.04, 2 * a)),
                                 ps.materials.SPH.Liquid()),
                                dt=0.004, substeps=2, lower=(0.0, 0.0, 0.0), upper=(5 * a, 0.04, 3 * a),
                                particle_size=0.01)
    measured = {1.19: 1.44, 1.43: 1.67, 1.63: 1.89, 1.83: 2.11, 1.98: 2.33, 2.20: 2.56, 2.51: 3.00}
    time_scale = np.sqrt(a / (2 * GRAVITY))
    fronts = {}
    for T in sorted(measured):
        while scene.t < T * time_scale - 1e-9:
            scene.step()
        fronts[T] = water.get_particles_pos()[:, 0].max() / a
    for T, Z in measured.items():
        assert fronts[T] == pytest.approx(Z, rel=0.2), (T, fronts)


@pytest.mark.parametrize("surface_tension", [0.0, 0.05])
def test_cohesion_pulls_a_weightless_cube_of_liquid_into_a_ball(surface_tension):
    """Weightless, a cube of liquid (0.12 m, 216 particles) feels only its own pressure and cohesion. Without
    cohesion nothing acts on it and it keeps its corners; with it (Akinci et al. 2013) the surface pulls in
    and the cube rounds into a ball of its volume: the farthest particle centre comes in from the corner's
    0.087 m to about the ball's radius less half a particle (0.075 - 0.01 m; measured 0.068 m at 0.4 s), while
    the pressure solve keeps the pulled-in liquid from compressing."""
    side = 6 * SIZE
    scene, (drop,) = sph_scene((ps.morphs.Box(lower=(-side / 2,) * 3, upper=(side / 2,) * 3),
                                ps.materials.SPH.Liquid(surface_tension=surface_tension)),
                               lower=(-0.3,) * 3, upper=(0.3,) * 3, gravity=(0.0, 0.0, 0.0))

    def farthest(x):
        return np.linalg.norm(x - x.mean(axis=0), axis=1).max()

    corner = farthest(drop.get_particles_pos())
    assert corner == pytest.approx(np.sqrt(3) * (side - SIZE) / 2, rel=1e-5)
    steps(scene, 80)
    x = drop.get_particles_pos()
    rho = scene._particle_solvers["SPH"].densities()[0]
    assert np.all(np.isfinite(x)) and rho.max() < 1.01 * 1000.0
    if surface_tension == 0.0:
        assert farthest(x) == pytest.approx(corner, abs=1e-4 * SIZE)
    else:
        ball = (3 * side**3 / (4 * np.pi)) ** (1 / 3) - SIZE / 2
        assert abs(farthest(x) / ball - 1.0) < 0.1
        assert np.abs(x.mean(axis=0)).max() < 1e-3 * SIZE  # cohesion is internal: the centre of mass stays


@pytest.mark.parametrize("surface_tension", [0.0, 0.1])
def test_two_liquids_colliding_weightless_keep_their_momentum(surface_tension):
    """Water (0.12 m block at 1 m/s) meets a liquid half as dense (at -0.5 m/s) with no gravity and far from
    the walls: only forces between particles act, so the total momentum stays what it was. Every pair force
    (pressure, viscosity, XSPH smoothing, cohesion) is symmetric in its two particles; with each particle's
    own density and coefficients in them, the momentum was 7 % off by 0.3 s, 8 % with cohesion (measured)."""
    scene, (water, light) = sph_scene(
        (ps.morphs.Box(lower=(-0.2, -0.06, -0.06), upper=(-0.08, 0.06, 0.06)),
         ps.materials.SPH.Liquid(surface_tension=surface_tension)),
        (ps.morphs.Box(lower=(0.04, -0.03, -0.05), upper=(0.16, 0.09, 0.07)),
         ps.materials.SPH.Liquid(rho=500.0, surface_tension=surface_tension)),
        lower=(-0.6,) * 3, upper=(0.6,) * 3, gravity=(0.0, 0.0, 0.0))
    water.set_particles_vel(np.tile([1.0, 0.0, 0.0], (water.n_particles, 1)))
    light.set_particles_vel(np.tile([-0.5, 0.0, 0.0], (light.n_particles, 1)))

    def momentum():
        return sum(body.mass / body.n_particles * body.get_particles_vel().astype(np.float64).sum(axis=0)
                   for body in (water, light))

    start = momentum()
    steps(scene, 60)
    assert light.get_particles_vel()[:, 0].mean() > 0.0  # they met: the light liquid was thrown back
    assert np.linalg.norm(momentum() - start) < 1e-4 * np.linalg.norm(start)


def test_batched_envs_are_independent():
    """Two envs of one tank: env 1's liquid set sloshing at 0.5 m/s leaves env 0's at rest, where it stays as
    in a scene of its own. (Not bit for bit: the solves iterate until the worst env meets the tolerance, so
    env 0 takes env 1's iteration counts; measured 0.3 mm apart after 0.3 s.)"""
    tank = (ps.morphs.Box(lower=(-0.1, -0.1, 0.0), upper=(0.1, 0.1, 0.12)), ps.materials.SPH.Liquid())
    batched, (water,) = sph_scene(tank, n_envs=2)
    alone, (reference,) = sph_scene(tank)
    velocities = water.get_particles_vel()
    velocities[1, :, 0] = 0.5
    water.set_particles_vel(velocities)
    steps(batched, 60)
    steps(alone, 60)
    speeds = np.linalg.norm(water.get_particles_vel(), axis=2)
    assert np.sqrt(np.mean(speeds[1] ** 2)) > 0.1  # env 1 sloshes
    assert np.sqrt(np.mean(speeds[0] ** 2)) < 5e-3  # env 0 rests (measured 1.1 mm/s; alone 0.8 mm/s)
    assert np.abs(water.get_particles_pos()[0] - reference.get_particles_pos()).max() < 0.1 * SIZE


def test_emitter_pours_the_flow_its_nozzle_lets_out():
    nozzle = ps.morphs.Nozzle(pos=(0.0, 0.0, 0.3), radius=0.03, direction=(0, 0, -1), speed=1.0, max_particles=2000)
    scene, (jet,) = sph_scene((nozzle, ps.materials.SPH.Liquid()))
    assert jet.get_n_active() == 0
    released = 0
    for _ in range(40):  # 0.2 s at 1 m/s: 0.2 m of jet, ten layers of 9 particles
        released += jet.emit()
        scene.step()
    assert released == jet.get_n_active()
    layer = 9  # the 3 x 3 lattice points within 3 cm of the axis at 2 cm spacing (centre, 4 sides, 4 diagonals)
    assert released == pytest.approx(1.0 * 0.2 / SIZE * layer, abs=layer)
    x = jet.get_particles_pos()[:released]
    assert np.all(np.isfinite(x)) and x[:, 2].min() < 0.2  # released liquid falls
    scene.reset()
    assert jet.get_n_active() == 0


def test_state_round_trip_replays_exactly():
    scene, (water,) = sph_scene((ps.morphs.Box(lower=(-0.1, -0.1, 0.0), upper=(0.1, 0.1, 0.08)),
                                 ps.materials.SPH.Liquid()))
    steps(scene, 5)
    state = scene.get_state()
    assert set(state["sph"]) >= {"x", "v", "active"}
    steps(scene, 5)
    after = water.get_particles_pos()
    scene.set_state(state)
    steps(scene, 5)
    # The same arithmetic from the same state: equal up to the parallel sums' rounding order.
    assert np.allclose(water.get_particles_pos(), after, atol=1e-4)


def test_neighbour_lists_grow_to_fit_and_drop_no_pair():
    """Lists started far too short (8 entries for about 30 neighbours) are laid out again and enlarged on the
    first search, and the run is the one a roomy start gives, bit for bit."""
    column = (ps.morphs.Box(lower=(-0.1, -0.1, 0.0), upper=(0.0, 0.1, 0.12)), ps.materials.SPH.Liquid())
    runs = []
    for room in (8, 64):
        scene, (water,) = sph_scene(column, max_neighbours=room)
        steps(scene, 10)
        solver = scene._particle_solvers["SPH"]
        runs.append((solver.list_capacity / water.n_particles, solver.search_repeats, water.get_particles_pos()))
    (grown, repeats, x_grown), (roomy, _, x_roomy) = runs
    assert grown > 8 and repeats >= 1 and roomy == 64
    np.testing.assert_array_equal(x_grown, x_roomy)


def test_the_search_lists_exactly_the_pairs_in_reach_however_many():
    """The search gathers a particle's candidates in reach in a batch of SEARCH_BATCH and, where more are in
    reach, gathers them again a batch at a time; the particles of a cell gather together (up to SEARCH_GROUP of
    them). At 3.1 particle sizes of support the sampled block sums to rest density in its bulk; shaken by up to
    a fifth of a particle size, its particles have from about 25 to 130 neighbours, on both sides of a batch and
    some exactly a full batch with themselves. In each of two envs, shaken differently, each particle lists
    exactly the particles a brute-force search finds in reach, each once."""
    from scipy.spatial import cKDTree

    support_ratio = 3.1  # off the lattice's distances (3 sizes is one), where rounding would pick the side
    reach = support_ratio * SIZE
    block = (ps.morphs.Box(lower=(-0.12, -0.12, 0.1), upper=(0.12, 0.12, 0.34)), ps.materials.SPH.Liquid())
    scene, (water,) = sph_scene(block, substeps=1, support_ratio=support_ratio, lower=(-0.2, -0.2, 0.0),
                                upper=(0.2, 0.2, 0.5), n_envs=2)
    solver = scene._particle_solvers["SPH"]
    sampled = water.get_particles_pos()[0]
    scene.step()  # its one substep searches at the positions it starts from
    bulk = np.all(np.abs(sampled - sampled.mean(axis=0)) < 0.12 - reach, axis=1)
    assert bulk.any()
    np.testing.assert_allclose(solver.densities()[:, bulk], 1000.0, rtol=1e-3)

    shaken = np.stack([sampled + np.random.default_rng(seed).uniform(-0.2 * SIZE, 0.2 * SIZE, sampled.shape)
                       for seed in (7, 8)])
    water.set_particles_pos(shaken)
    scene.step()
    n = water.n_particles
    p_int, list_start = read(solver._work["p_int"]), read(solver._work["list_start"])
    neighbours = read(solver._work["neighbours"])
    for env in range(2):
        counts = p_int[env, :n, N_NEIGHBOURS]
        first = list_start[env, :n]
        in_reach = [sorted(set(near) - {i})
                    for i, near in enumerate(cKDTree(shaken[env]).query_ball_point(shaken[env], reach))]
        sizes = np.array([len(near) for near in in_reach])
        assert sizes.min() < SEARCH_BATCH - 1 < sizes.max()
        assert (sizes == SEARCH_BATCH - 1).any()  # the batch full to its last slot
        # no wall or rigid body within reach: all liquid
        np.testing.assert_array_equal(p_int[env, :n, N_LIQUID_NEIGHBOURS], counts)
        for i in range(n):
            assert sorted(neighbours[first[i]:first[i] + counts[i]]) == in_reach[i], f"env {env}, particle {i}"


@pytest.mark.parametrize("make, field", [
    (lambda: ps.options.SPHOptions(particle_size=-0.01), "SPHOptions.particle_size"),
    (lambda: ps.options.SPHOptions(pressure_solver="pcisph"), "SPHOptions.pressure_solver"),
    (lambda: ps.options.SPHOptions(max_density_error=0.5), "SPHOptions.max_density_error"),
    (lambda: ps.options.SPHOptions(lower_bound=(0, 0, 0), upper_bound=(1, 1, 0)), "SPHOptions.upper_bound"),
    (lambda: ps.options.SPHOptions(max_iterations=0), "SPHOptions.max_iterations"),
    (lambda: ps.options.SPHOptions(velocity_smoothing=0.6), "SPHOptions.velocity_smoothing"),
    (lambda: ps.materials.SPH.Liquid(rho=0), "Liquid.rho"),
    (lambda: ps.materials.SPH.Liquid(viscosity=-1), "Liquid.viscosity"),
    (lambda: ps.morphs.Nozzle(direction=(0, 0, 0)), "Nozzle.direction"),
    (lambda: ps.morphs.Nozzle(max_particles=0), "Nozzle.max_particles"),
])
def test_bad_parameters_name_their_field(make, field):
    with pytest.raises(InvalidValueError, match=field.replace(".", r"\.")):
        make()


def test_liquid_outside_the_domain_is_refused_by_name():
    scene = ps.Scene(sph_options=ps.options.SPHOptions(lower_bound=(0, 0, 0), upper_bound=(0.2, 0.2, 0.2)))
    scene.add_entity(ps.morphs.Box(size=(0.1, 0.1, 0.1), pos=(0.2, 0.1, 0.1)), material=ps.materials.SPH.Liquid(),
                     name="spill")
    with pytest.raises(InvalidValueError, match="spill"):
        scene.build()


def test_liquid_entirely_inside_a_rigid_body_is_refused_by_name():
    scene = ps.Scene(sph_options=ps.options.SPHOptions(lower_bound=(0, 0, 0), upper_bound=(0.4, 0.4, 0.4),
                                                       particle_size=SIZE))
    scene.add_entity(ps.morphs.Box(size=(0.3, 0.3, 0.3), pos=(0.2, 0.2, 0.2), fixed=True), name="vault")
    scene.add_entity(ps.morphs.Box(size=(0.1, 0.1, 0.1), pos=(0.2, 0.2, 0.2)), material=ps.materials.SPH.Liquid(),
                     name="sealed")
    with pytest.raises(InvalidValueError, match="'sealed' lies entirely inside rigid bodies"):
        scene.build()


def test_a_collapsing_column_throws_no_particle_faster_than_its_fall_allows():
    """A 0.2 m column collapsing for 0.6 s: the fall from its top gives sqrt(2 g H) = 2 m/s; splashes may
    gather somewhat more, but no particle reaches twice that (measured 3.1 m/s). A warm start that kept the
    pressure of particles that had since flown apart threw them at 11 m/s and blew up within 0.35 s."""
    height = 0.2
    scene, (water,) = sph_scene((ps.morphs.Box(lower=(-0.1, -0.1, 0.0), upper=(0.0, 0.1, height)),
                                 ps.materials.SPH.Liquid()))
    fastest = 0.0
    for _ in range(120):
        scene.step()
        fastest = max(fastest, np.linalg.norm(water.get_particles_vel(), axis=1).max())
    assert fastest < 2.0 * np.sqrt(2.0 * GRAVITY * height)


@pytest.mark.slow
def test_a_dam_break_front_meets_the_far_wall_without_blowing_up():
    """The front of a collapsing column (0.15 m wide, 0.3 m high) runs along the floor at 2.6 m/s and hits the
    far wall 0.6 m off, climbing it. The jet up the wall is the fastest liquid (measured 5.7-8.0 m/s from run
    to run, up to 3.3 times the column's fall speed sqrt(2 g H)); no particle gets five times that speed (the
    blow-up threw them at 23 m/s, then NaN). Particles
    the floor stopped on its mirror plane lay on top of their own images, which push only along it: the
    front met the wall flattened, and blew up at step 66 (measured before the walls stopped particles a
    quarter of a particle size short)."""
    height = 0.3
    scene, (water,) = sph_scene((ps.morphs.Box(lower=(0.0, 0.0, 0.0), upper=(0.15, 0.15, height)),
                                 ps.materials.SPH.Liquid(viscosity=1e-3)),
                                dt=0.004, substeps=2, lower=(0.0, 0.0, 0.0), upper=(0.6, 0.15, 0.4),
                                particle_size=0.01, auto_substeps=True)
    fastest = 0.0
    while scene.t < 0.4:  # the front reaches the wall at 0.25 s
        scene.step()
        fastest = max(fastest, np.linalg.norm(water.get_particles_vel(), axis=1).max())
    assert fastest < 5.0 * np.sqrt(2.0 * GRAVITY * height)
    assert water.get_particles_pos()[:, 2].max() > 0.2  # it climbed the wall


@pytest.mark.slow
def test_no_nan_over_a_long_sloshing_run():
    scene, (water,) = sph_scene((ps.morphs.Box(lower=(-0.1, -0.1, 0.0), upper=(0.0, 0.1, 0.2)),
                                 ps.materials.SPH.Liquid()), n_envs=2)
    steps(scene, 1000)  # 5 s of a collapsing, sloshing column in two envs; a blow-up raises
    x = water.get_particles_pos()
    assert np.all(np.isfinite(x))
    assert x.shape == (2, water.n_particles, 3)
