// Window/level display of a single-channel image (8- or 16-bit values stored as f32 in an R32Float
// texture). Same function as `src/imaging/window.rs` (DICOM linear VOI LUT); tests/it validates this file with naga.

struct WindowUniforms {
    center: f32,
    width: f32,
    invert: f32,   // 0.0 or 1.0
    _pad: f32,
};

@group(0) @binding(0) var image: texture_2d<f32>;
@group(0) @binding(1) var<uniform> wl: WindowUniforms;

struct VsOut {
    @builtin(position) pos: vec4<f32>,
    @location(0) uv: vec2<f32>,
};

// A full-screen triangle; the image rect is set by the viewport.
@vertex
fn vs_main(@builtin(vertex_index) i: u32) -> VsOut {
    let uv = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
    var out: VsOut;
    out.pos = vec4<f32>(uv * 2.0 - 1.0, 0.0, 1.0);
    out.uv = vec2<f32>(uv.x, 1.0 - uv.y);
    return out;
}

fn window_level(v: f32, center: f32, width: f32) -> f32 {
    let w = max(width, 1.0);
    if (v <= center - 0.5 - (w - 1.0) / 2.0) {
        return 0.0;
    }
    if (v > center - 0.5 + (w - 1.0) / 2.0) {
        return 1.0;
    }
    return clamp((v - (center - 0.5)) / (w - 1.0) + 0.5, 0.0, 1.0);
}

@fragment
fn fs_main(in: VsOut) -> @location(0) vec4<f32> {
    let dims = vec2<f32>(textureDimensions(image));
    let texel = vec2<i32>(clamp(in.uv * dims, vec2<f32>(0.0), dims - 1.0));
    let v = textureLoad(image, texel, 0).r;
    var y = window_level(v, wl.center, wl.width);
    if (wl.invert > 0.5) {
        y = 1.0 - y;
    }
    return vec4<f32>(y, y, y, 1.0);
}
