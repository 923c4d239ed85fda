// Window/level display of a single-channel image (8- or 16-bit values stored as f32 in an R32Float
// texture, uploaded once). Same functions as `src/imaging/window.rs` (the DICOM VOI functions
// LINEAR, LINEAR_EXACT and SIGMOID, or the file's VOI LUT table, a second R32Float texture). The
// image's placement (zoom, pan, flip) comes in as uniforms in framebuffer pixels: the pass draws
// one triangle over the viewport and each fragment looks up the texel under it, so the window,
// level and placement change with a uniform write and nothing is re-uploaded.
// tests/it validates this file with naga and compares its output with the CPU path.

struct WindowUniforms {
    center: f32,
    width: f32,
    invert: f32,   // 0.0 or 1.0
    flip: f32,     // 0.0 or 1.0: mirror left-right
    origin: vec2<f32>, // top-left of the image, framebuffer pixels
    size: vec2<f32>,   // image size on screen, framebuffer pixels
    srgb_target: f32,  // 1.0 when the framebuffer is sRGB (egui's gamma output is then linearised)
    function: f32,     // 0 linear, 1 linear exact, 2 sigmoid, 3 the VOI LUT table
    lut_first: f32,    // the input of the table's entry 0
    lut_len: f32,      // entries in the table
};

// Entries per row of the VOI LUT texture (`imaging::gpu::LUT_ROW`).
const LUT_ROW: i32 = 2048;

@group(0) @binding(0) var image: texture_2d<f32>;
@group(0) @binding(1) var<uniform> wl: WindowUniforms;
@group(0) @binding(2) var lut: texture_2d<f32>;

struct VsOut {
    @builtin(position) pos: vec4<f32>,
};

// One triangle covering the viewport.
@vertex
fn vs_main(@builtin(vertex_index) i: u32) -> VsOut {
    let uv = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
    var out: VsOut;
    out.pos = vec4<f32>(uv * 2.0 - 1.0, 0.0, 1.0);
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

// The window's VOI function (PS3.3 C.11.2), in [0, 1].
fn voi(v: f32) -> f32 {
    if (wl.function > 2.5) {
        // The table: inputs below and above it take its first and last entry.
        let i = clamp(i32(floor(v - wl.lut_first)), 0, i32(wl.lut_len) - 1);
        return textureLoad(lut, vec2<i32>(i % LUT_ROW, i / LUT_ROW), 0).r;
    }
    let w = max(wl.width, 1e-20);
    if (wl.function > 1.5) {
        return 1.0 / (1.0 + exp(clamp(-4.0 * (v - wl.center) / w, -80.0, 80.0)));
    }
    if (wl.function > 0.5) {
        return clamp((v - wl.center) / w + 0.5, 0.0, 1.0);
    }
    return window_level(v, wl.center, wl.width);
}

@fragment
fn fs_main(in: VsOut) -> @location(0) vec4<f32> {
    var uv = (in.pos.xy - wl.origin) / wl.size;
    if (uv.x < 0.0 || uv.y < 0.0 || uv.x >= 1.0 || uv.y >= 1.0) {
        discard;
    }
    if (wl.flip > 0.5) {
        uv.x = 1.0 - uv.x;
    }
    // Bilinear interpolation of the stored values (then the window, as the CPU path's linear
    // texture does it for 8-bit); exact at texel centres.
    let dims = vec2<f32>(textureDimensions(image));
    let pos = uv * dims - 0.5;
    let p0 = floor(pos);
    let f = pos - p0;
    let hi = dims - 1.0;
    let a = vec2<i32>(clamp(p0, vec2<f32>(0.0), hi));
    let b = vec2<i32>(clamp(p0 + vec2<f32>(1.0, 0.0), vec2<f32>(0.0), hi));
    let c = vec2<i32>(clamp(p0 + vec2<f32>(0.0, 1.0), vec2<f32>(0.0), hi));
    let d = vec2<i32>(clamp(p0 + vec2<f32>(1.0, 1.0), vec2<f32>(0.0), hi));
    let top = mix(textureLoad(image, a, 0).r, textureLoad(image, b, 0).r, f.x);
    let bottom = mix(textureLoad(image, c, 0).r, textureLoad(image, d, 0).r, f.x);
    let v = mix(top, bottom, f.y);
    var y = voi(v);
    if (wl.invert > 0.5) {
        y = 1.0 - y;
    }
    // 8-bit quantisation as the CPU path does it, then the framebuffer's transfer function.
    y = round(y * 255.0) / 255.0;
    if (wl.srgb_target > 0.5) {
        y = select(pow((y + 0.055) / 1.055, 2.4), y / 12.92, y <= 0.04045);
    }
    return vec4<f32>(y, y, y, 1.0);
}
