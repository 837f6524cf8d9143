#version 330 core
// physim sphere impostors: the world-normal pass (float32 unit normals, as shaders/normals/).
#include "sprites/impostor.glsl"

uniform mat4 V;
out vec4 frag_color;

void main()
{
    vec3 hit;
    vec3 view_normal;
    if (!impostor_hit(hit, view_normal)) {
        discard;
    }
    // V is a rigid transform: its rotation's transpose takes view directions back to the world.
    frag_color = vec4(normalize(transpose(mat3(V)) * view_normal), 1.0);
}
