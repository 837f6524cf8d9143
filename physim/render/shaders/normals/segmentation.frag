#version 330 core
// Writes the unit world normal, octahedron-encoded with 16 bits per coordinate across the four 8-bit
// channels (high byte, low byte of u; high byte, low byte of v): about 1e-4 rad of error, where
// writing xyz into 8-bit channels would lose half a degree. Decoded in physim/render/rasterizer.py.
in vec3 world_normal;
out vec4 frag_color;

vec2 sign_not_zero(vec2 v)
{
    return vec2(v.x >= 0.0 ? 1.0 : -1.0, v.y >= 0.0 ? 1.0 : -1.0);
}

void main()
{
    vec3 n = world_normal;
    float l1 = abs(n.x) + abs(n.y) + abs(n.z);
    // Every physim mesh carries normals; guard the division anyway. Background is told apart by depth.
    n = l1 > 1e-20 ? n / l1 : vec3(0.0, 0.0, 1.0);
    vec2 e = n.z >= 0.0 ? n.xy : (1.0 - abs(n.yx)) * sign_not_zero(n.xy);
    uvec2 q = uvec2(round(clamp(e * 0.5 + 0.5, 0.0, 1.0) * 65535.0));
    frag_color = vec4(float(q.x >> 8u), float(q.x & 255u), float(q.y >> 8u), float(q.y & 255u)) / 255.0;
}
