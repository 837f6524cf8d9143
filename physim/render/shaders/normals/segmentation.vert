#version 330 core
// physim world-normal pass. Named segmentation.vert because pyrender's segmentation pass asks for this
// file name; physim swaps in a program cache rooted at this folder to draw normals instead of ids.
layout(location = 0) in vec3 position;
#ifdef NORMAL_LOC
layout(location = NORMAL_LOC) in vec3 normal;
#endif
layout(location = INST_M_LOC) in mat4 inst_m;

uniform mat4 P;
uniform mat4 V;
uniform mat4 M;

out vec3 world_normal;

void main()
{
    mat4 model = M * inst_m;
    gl_Position = P * V * model * vec4(position, 1.0);
#ifdef NORMAL_LOC
    // Normals transform with the inverse transpose (exact for any affine model matrix).
    world_normal = mat3(transpose(inverse(model))) * normal;
#else
    world_normal = vec3(0.0);
#endif
}
