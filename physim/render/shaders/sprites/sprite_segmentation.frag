#version 330 core
// physim sphere impostors: the segmentation pass (the entity's flat id colour).
#include "sprites/impostor.glsl"

uniform vec3 color;
out vec4 frag_color;

void main()
{
    vec3 hit;
    vec3 view_normal;
    if (!impostor_hit(hit, view_normal)) {
        discard;
    }
    frag_color = vec4(color, 1.0);
}
