#version 330 core
// physim sphere impostors: depth only (depth pass and shadow maps).
#include "sprites/impostor.glsl"

out vec4 frag_color;

void main()
{
    vec3 hit;
    vec3 view_normal;
    if (!impostor_hit(hit, view_normal)) {
        discard;
    }
    frag_color = vec4(1.0);
}
