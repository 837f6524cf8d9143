#version 330 core
// physim sphere impostors: the colour pass, lit and shadowed exactly as meshes are. The lighting is
// shaders/color/mesh.frag itself, included with its inputs frag_position and frag_normal turned into
// globals and its main() renamed shade_surface() (see gl_programs.py); this main() fills them in from
// the ray-traced sphere.
#include "sprites/impostor.glsl"
#include_surface_shading "color/mesh.frag"

uniform mat4 V;

void main()
{
    vec3 hit;
    vec3 view_normal;
    if (!impostor_hit(hit, view_normal)) {
        discard;
    }
    mat3 view_to_world = transpose(mat3(V));  // V is rigid
    frag_position = view_to_world * (hit - V[3].xyz);
    frag_normal = view_to_world * view_normal;
    shade_surface();
}
