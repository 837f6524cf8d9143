#version 330 core
// physim sphere impostors: one point per particle, drawn as a square point sprite that just covers the
// sphere's projection; the fragment shaders (impostor.glsl) ray-trace the sphere inside it. Used by every
// pass (colour, depth, segmentation, normals, shadow map), with perspective or orthographic projection.
layout(location = 0) in vec3 position;
layout(location = INST_M_LOC) in mat4 inst_m;

uniform mat4 P;
uniform mat4 V;
uniform mat4 M;
uniform vec2 viewport_size;  // pixels of the target being drawn (camera image or shadow map)
uniform float sprite_radius;  // m

flat out vec3 sprite_center;  // view space, m

// Bounds of x/z over a sphere of centre (x, z), z > r, radius r: the slopes of the two planes through
// the eye that contain the other image axis and touch the sphere, |x - s z| = r sqrt(1 + s^2). Exact:
// the sphere's projection is an ellipse, and this is its extent along one image axis.
vec2 tangent_slopes(float x, float z, float r)
{
    float root = r * sqrt(max(x * x + z * z - r * r, 0.0));
    return vec2(x * z - root, x * z + root) / (z * z - r * r);
}

void main()
{
    vec4 center = V * M * inst_m * vec4(position, 1.0);
    sprite_center = center.xyz;
    float r = sprite_radius;
    if (P[3][3] == 1.0) {
        // Orthographic (a directional light's shadow map): a disc of diameter 2r, centred on the centre.
        gl_Position = P * vec4(center.xy, center.z + r, 1.0);  // at the sphere's front, like the perspective case
        gl_PointSize = 2.0 * r * max(P[0][0] * viewport_size.x, P[1][1] * viewport_size.y) * 0.5 + 2.0;
        return;
    }
    float depth = -center.z;  // along the view direction
    // The front of the sphere, in normalised device z: the point is clipped (the whole sphere skipped)
    // when the front is nearer than the near plane, so a sphere around the eye is never traced.
    float front = depth - r;
    float front_ndc = (P[2][2] * -front + P[3][2]) / front;
    if (front <= 0.0) {
        gl_Position = vec4(0.0, 0.0, 2.0, 1.0);  // outside the clip volume: dropped
        gl_PointSize = 1.0;
        return;
    }
    // Image-plane extent (x/depth, y/depth) of the sphere, then normalised device coordinates:
    // ndc.x = P00 * x/depth - P20 (P20: an off-centre principal point).
    vec2 xs = tangent_slopes(center.x, depth, r);
    vec2 ys = tangent_slopes(center.y, depth, r);
    vec2 lo = vec2(P[0][0] * xs.x - P[2][0], P[1][1] * ys.x - P[2][1]);
    vec2 hi = vec2(P[0][0] * xs.y - P[2][0], P[1][1] * ys.y - P[2][1]);
    // Points are clipped by their centre: a sphere partly in the image whose sprite centre lies outside
    // would vanish. So the sprite is centred inside the image, as near as it can be to the centre of
    // the ellipse's bounding box, and made large enough to still cover the box (one pixel of margin, so
    // pixel centres on the silhouette are never cut off). Spheres wholly outside are dropped.
    if (any(lessThan(hi, vec2(-1.0))) || any(greaterThan(lo, vec2(1.0)))) {
        gl_Position = vec4(0.0, 0.0, 2.0, 1.0);
        gl_PointSize = 1.0;
        return;
    }
    vec2 center_ndc = clamp(0.5 * (lo + hi), vec2(-0.999), vec2(0.999));
    vec2 half_extent_px = 0.5 * max(center_ndc - lo, hi - center_ndc) * viewport_size;
    gl_Position = vec4(center_ndc, front_ndc, 1.0);
    gl_PointSize = 2.0 * max(half_extent_px.x, half_extent_px.y) + 2.0;
}
