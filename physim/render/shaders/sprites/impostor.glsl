// physim sphere impostors, fragment side (included by the sprite_*.frag shaders): the ray through this
// pixel centre meets the sphere or not; where it does, the depth written is the sphere's own, so depth
// images are exact and spheres intersect meshes and each other correctly.

flat in vec3 sprite_center;  // view space, m

uniform mat4 P;
uniform vec2 viewport_size;  // pixels
uniform float sprite_radius;  // m

// The nearest surface point of the sphere seen through this fragment and its unit normal, both in view
// space; writes gl_FragDepth. False where the ray misses (the caller discards).
bool impostor_hit(out vec3 hit, out vec3 view_normal)
{
    vec2 ndc = 2.0 * gl_FragCoord.xy / viewport_size - 1.0;
    vec3 origin;
    vec3 direction;
    if (P[3][3] == 1.0) {  // orthographic: parallel rays along -z
        origin = vec3((ndc.x - P[3][0]) / P[0][0], (ndc.y - P[3][1]) / P[1][1], 0.0);
        direction = vec3(0.0, 0.0, -1.0);
    } else {  // perspective: rays from the eye
        origin = vec3(0.0);
        direction = normalize(vec3((ndc.x + P[2][0]) / P[0][0], (ndc.y + P[2][1]) / P[1][1], -1.0));
    }
    vec3 offset = origin - sprite_center;
    float b = dot(offset, direction);
    float c = dot(offset, offset) - sprite_radius * sprite_radius;
    float discriminant = b * b - c;
    if (discriminant < 0.0) {
        return false;
    }
    hit = origin + (-b - sqrt(discriminant)) * direction;
    view_normal = (hit - sprite_center) / sprite_radius;
    vec4 clip = P * vec4(hit, 1.0);
    gl_FragDepth = 0.5 * clip.z / clip.w + 0.5;  // glDepthRange(0, 1)
    return true;
}
