//! The window/level image view on the GPU (`shaders/window_level.wgsl`): the pipeline, a
//! single-channel image uploaded once as an R32Float texture with its VOI LUT table (if any) as a
//! second one, and the uniforms (window, level, VOI function, invert, flip, placement) rewritten
//! per frame. Plain wgpu: the egui paint callback (`ui::gpu_view`) and the shader-vs-CPU test
//! both draw with it.

use std::sync::Arc;

use super::window::{VoiFunction, VoiLut, WindowLevel};

/// Entries per row of the VOI LUT texture (a 65536-entry table is 32 rows; within every
/// adapter's 2-D texture limit).
pub const LUT_ROW: usize = 2048;

/// The WGSL source.
pub const SHADER: &str = include_str!("../../shaders/window_level.wgsl");

/// A single-channel image in its stored units (8-bit 0–255, 16-bit 0–65535, or Hounsfield units).
#[derive(Debug, Clone, PartialEq)]
pub struct GreyImage {
    /// `[width, height]`.
    pub size: [usize; 2],
    /// Row-major values.
    pub values: Vec<f32>,
    /// The largest value (0 for an empty image), found once.
    pub max: f32,
    /// The VOI LUT table of the file the image comes from, for a [`VoiFunction::Table`] window.
    pub lut: Option<Arc<VoiLut>>,
}

impl GreyImage {
    /// An image of `size` from its row-major `values`.
    pub fn new(size: [usize; 2], values: Vec<f32>) -> Self {
        let max = values.iter().copied().fold(0.0f32, f32::max);
        Self { size, values, max, lut: None }
    }

    /// True when the values go beyond 8 bits.
    pub fn is_16_bit(&self) -> bool {
        self.max > 255.0
    }
}

/// Where and how the image is drawn, in framebuffer pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// Top-left corner of the image.
    pub origin: [f32; 2],
    /// Size of the image on screen.
    pub size: [f32; 2],
    /// Mirror left-right.
    pub flip: bool,
    /// Invert the grey values after windowing.
    pub invert: bool,
}

/// The uniform block of the shader (48 bytes). A table window without a table (`lut`) is
/// applied linearly, as on the CPU.
pub fn uniforms(w: WindowLevel, p: Placement, srgb_target: bool, lut: Option<&VoiLut>) -> [f32; 12] {
    let b = |x: bool| if x { 1.0 } else { 0.0 };
    let (function, first, len) = match (w.function, lut) {
        (VoiFunction::Table, Some(t)) => (VoiFunction::Table.code(), t.first as f32, t.table.len() as f32),
        (VoiFunction::Table, None) => (VoiFunction::Linear.code(), 0.0, 0.0),
        (f, _) => (f.code(), 0.0, 0.0),
    };
    [
        w.center,
        w.width,
        b(p.invert),
        b(p.flip),
        p.origin[0],
        p.origin[1],
        p.size[0],
        p.size[1],
        b(srgb_target),
        function,
        first,
        len,
    ]
}

/// A 2-D R32Float texture of `width × height` texels holding `values` (row-major).
fn float_texture(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    label: &str,
    [width, height]: [usize; 2],
    values: &[f32],
) -> wgpu::TextureView {
    let extent = wgpu::Extent3d { width: width as u32, height: height as u32, depth_or_array_layers: 1 };
    let texture = device.create_texture(&wgpu::TextureDescriptor {
        label: Some(label),
        size: extent,
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: wgpu::TextureFormat::R32Float,
        usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        view_formats: &[],
    });
    queue.write_texture(
        wgpu::TexelCopyTextureInfo {
            texture: &texture,
            mip_level: 0,
            origin: wgpu::Origin3d::ZERO,
            aspect: wgpu::TextureAspect::All,
        },
        &bytes(values),
        wgpu::TexelCopyBufferLayout {
            offset: 0,
            bytes_per_row: Some(4 * width as u32),
            rows_per_image: Some(height as u32),
        },
        extent,
    );
    texture.create_view(&wgpu::TextureViewDescriptor::default())
}

/// A fragment-stage binding of an unfilterable 2-D float texture (the image, the VOI LUT).
fn float_texture_entry(binding: u32) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::FRAGMENT,
        ty: wgpu::BindingType::Texture {
            sample_type: wgpu::TextureSampleType::Float { filterable: false },
            view_dimension: wgpu::TextureViewDimension::D2,
            multisampled: false,
        },
        count: None,
    }
}

/// The VOI LUT as texels: rows of [`LUT_ROW`] entries, the last row padded with the last entry
/// (a 1×1 zero texture when there is none).
fn lut_texels(lut: Option<&VoiLut>) -> ([usize; 2], Vec<f32>) {
    match lut.filter(|t| !t.table.is_empty()) {
        Some(t) => {
            let rows = t.table.len().div_ceil(LUT_ROW);
            let last = t.table.last().copied().unwrap_or(0.0);
            let mut texels = t.table.clone();
            texels.resize(rows * LUT_ROW, last);
            ([LUT_ROW, rows], texels)
        }
        None => ([1, 1], vec![0.0]),
    }
}

fn bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The pipeline.
pub struct WindowPipeline {
    /// The render pipeline (one triangle, no vertex buffers).
    pub pipeline: wgpu::RenderPipeline,
    layout: wgpu::BindGroupLayout,
    /// Whether the target is sRGB.
    pub srgb_target: bool,
}

/// An uploaded image: its texture and uniforms (one set per image, so two views of different
/// images in one frame keep their own), with the key it was uploaded under.
pub struct Uploaded {
    /// The caller's key (an item id and image hash).
    pub key: u64,
    /// The uniforms.
    pub uniforms: wgpu::Buffer,
    /// Texture + uniforms + VOI LUT.
    pub bind_group: wgpu::BindGroup,
    /// The VOI LUT uploaded with the image (its first input and length go in the uniforms).
    lut: Option<Arc<VoiLut>>,
}

impl WindowPipeline {
    /// Builds the pipeline for a colour target of `format`.
    pub fn new(device: &wgpu::Device, format: wgpu::TextureFormat) -> Self {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("window_level"),
            source: wgpu::ShaderSource::Wgsl(SHADER.into()),
        });
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("window_level"),
            entries: &[
                float_texture_entry(0),
                wgpu::BindGroupLayoutEntry {
                    binding: 1,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                },
                float_texture_entry(2),
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("window_level"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("window_level"),
            layout: Some(&pipeline_layout),
            vertex: wgpu::VertexState {
                module: &module,
                entry_point: Some("vs_main"),
                buffers: &[],
                compilation_options: wgpu::PipelineCompilationOptions::default(),
            },
            primitive: wgpu::PrimitiveState::default(),
            depth_stencil: None,
            multisample: wgpu::MultisampleState::default(),
            fragment: Some(wgpu::FragmentState {
                module: &module,
                entry_point: Some("fs_main"),
                targets: &[Some(wgpu::ColorTargetState { format, blend: None, write_mask: wgpu::ColorWrites::ALL })],
                compilation_options: wgpu::PipelineCompilationOptions::default(),
            }),
            multiview_mask: None,
            cache: None,
        });
        Self { pipeline, layout, srgb_target: format.is_srgb() }
    }

    /// Uploads `image` once as an R32Float texture, and its VOI LUT (if any) as another.
    pub fn upload(&self, device: &wgpu::Device, queue: &wgpu::Queue, key: u64, image: &Arc<GreyImage>) -> Uploaded {
        let view = float_texture(device, queue, "window_level image", image.size, &image.values);
        let (lut_size, lut_values) = lut_texels(image.lut.as_deref());
        let lut_view = float_texture(device, queue, "window_level VOI LUT", lut_size, &lut_values);
        let uniforms = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("window_level uniforms"),
            size: 48,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("window_level"),
            layout: &self.layout,
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: wgpu::BindingResource::TextureView(&view) },
                wgpu::BindGroupEntry { binding: 1, resource: uniforms.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 2, resource: wgpu::BindingResource::TextureView(&lut_view) },
            ],
        });
        Uploaded { key, uniforms, bind_group, lut: image.lut.clone() }
    }

    /// Writes the uniforms of `image` for its next draw.
    pub fn set(&self, queue: &wgpu::Queue, image: &Uploaded, w: WindowLevel, p: Placement) {
        queue.write_buffer(&image.uniforms, 0, &bytes(&uniforms(w, p, self.srgb_target, image.lut.as_deref())));
    }

    /// Draws into `pass` (its viewport covers at least the visible part of the image).
    pub fn draw(&self, pass: &mut wgpu::RenderPass<'_>, image: &Uploaded) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &image.bind_group, &[]);
        pass.draw(0..3, 0..1);
    }
}
