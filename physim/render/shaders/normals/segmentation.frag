#version 330 core
// physim world-normal pass: the unit world normal as float32 RGB (drawn into a float colour buffer;
// the background stays at the clear colour, zero). Named segmentation.frag because pyrender's
// segmentation pass asks for this file name; physim swaps in a program cache that finds this one first.
in vec3 world_normal;
out vec4 frag_color;

void main()
{
    float len = length(world_normal);
    // Every physim mesh carries normals; guard the division anyway.
    frag_color = vec4(len > 1e-20 ? world_normal / len : vec3(0.0), 1.0);
}
