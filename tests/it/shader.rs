//! The WGSL shaders parse and validate (naga, the compiler wgpu uses), without needing a GPU.

#[test]
fn window_level_shader_validates() {
    use wgpu::naga;
    let src = std::fs::read_to_string(super::common::root().join("shaders/window_level.wgsl")).unwrap();
    let module = naga::front::wgsl::parse_str(&src).unwrap_or_else(|e| panic!("{}", e.emit_to_string(&src)));
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::empty())
        .validate(&module)
        .unwrap();
    let entry: Vec<_> = module.entry_points.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(entry, ["vs_main", "fs_main"]);
}

/// A wgpu device on whatever adapter exists (lavapipe in CI), or `None` with a note.
fn device() -> Option<(wgpu::Device, wgpu::Queue)> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = match pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default())) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("skipping the shader-vs-CPU test: no wgpu adapter ({e})");
            return None;
        }
    };
    eprintln!("adapter: {:?}", adapter.get_info().name);
    pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor::default())).ok()
}

/// Renders `image` through the shader into a `w x h` Rgba8Unorm target and reads the red channel back.
fn render(
    dev: &wgpu::Device,
    queue: &wgpu::Queue,
    image: &std::sync::Arc<medvlm::imaging::gpu::GreyImage>,
    wl: medvlm::imaging::WindowLevel,
    p: medvlm::imaging::gpu::Placement,
    [w, h]: [u32; 2],
) -> Vec<u8> {
    use medvlm::imaging::gpu::WindowPipeline;
    let format = wgpu::TextureFormat::Rgba8Unorm;
    let pipe = WindowPipeline::new(dev, format);
    let up = pipe.upload(dev, queue, 1, image);
    pipe.set(queue, &up, wl, p);
    let extent = wgpu::Extent3d { width: w, height: h, depth_or_array_layers: 1 };
    let target = dev.create_texture(&wgpu::TextureDescriptor {
        label: None,
        size: extent,
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format,
        usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
        view_formats: &[],
    });
    let view = target.create_view(&wgpu::TextureViewDescriptor::default());
    let out = dev.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: u64::from(4 * w * h),
        usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
        mapped_at_creation: false,
    });
    let mut enc = dev.create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
    {
        let mut pass = enc.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: None,
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: &view,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations { load: wgpu::LoadOp::Clear(wgpu::Color::RED), store: wgpu::StoreOp::Store },
            })],
            depth_stencil_attachment: None,
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        pipe.draw(&mut pass, &up);
    }
    enc.copy_texture_to_buffer(
        wgpu::TexelCopyTextureInfo {
            texture: &target,
            mip_level: 0,
            origin: wgpu::Origin3d::ZERO,
            aspect: wgpu::TextureAspect::All,
        },
        wgpu::TexelCopyBufferInfo {
            buffer: &out,
            layout: wgpu::TexelCopyBufferLayout { offset: 0, bytes_per_row: Some(4 * w), rows_per_image: Some(h) },
        },
        extent,
    );
    queue.submit([enc.finish()]);
    out.map_async(wgpu::MapMode::Read, .., |r| r.unwrap());
    dev.poll(wgpu::PollType::wait_indefinitely()).unwrap();
    let bytes = out.get_mapped_range(..).unwrap().to_vec();
    bytes.chunks(4).map(|px| px[0]).collect()
}

/// The shader and `imaging::window` give the same grey levels (within one step of 255) on a
/// 16-bit gradient under a window, inverted and flipped, and leave pixels outside the image alone.
#[test]
fn window_level_shader_matches_the_cpu_on_a_16_bit_gradient() {
    use medvlm::imaging::WindowLevel;
    use medvlm::imaging::gpu::{GreyImage, Placement};
    let _gpu = super::common::gpu_lock();
    let Some((dev, queue)) = device() else { return };
    let (w, h) = (256usize, 4usize);
    let values: Vec<f32> = (0..w * h).map(|i| ((i % w) * 257 + (i / w) * 13) as f32).collect();
    let image = std::sync::Arc::new(GreyImage::new([w, h], values.clone()));
    let wl = WindowLevel::linear(30_000.0, 20_000.0);
    for (invert, flip) in [(false, false), (true, false), (false, true)] {
        let p = Placement { origin: [0.0, 0.0], size: [w as f32, h as f32], flip, invert };
        let got = render(&dev, &queue, &image, wl, p, [w as u32, h as u32]);
        let mut worst = 0i32;
        for y in 0..h {
            for x in 0..w {
                let sx = if flip { w - 1 - x } else { x };
                let mut v = wl.apply(values[y * w + sx]);
                if invert {
                    v = 1.0 - v;
                }
                let cpu = (v * 255.0).round() as i32;
                worst = worst.max((i32::from(got[y * w + x]) - cpu).abs());
            }
        }
        assert!(worst <= 1, "invert {invert} flip {flip}: shader and CPU differ by {worst} levels");
        let levels: std::collections::BTreeSet<u8> = got.iter().copied().collect();
        assert!(levels.len() > 60 && levels.contains(&0) && levels.contains(&255), "{} levels", levels.len());
    }
    // Placed in the right half: the left half keeps the clear colour (red channel 255).
    let p = Placement { origin: [128.0, 0.0], size: [128.0, h as f32], flip: false, invert: true };
    let got = render(&dev, &queue, &image, WindowLevel::linear(0.0, 1.0), p, [w as u32, h as u32]);
    assert!(got[..128].iter().all(|&r| r == 255), "outside the image");
    assert!(got[128..256].iter().all(|&r| r == 0), "inverted white");
}

/// The shader applies the other VOI functions as `imaging::window` does: a VOI LUT table (4000
/// entries, two texture rows, first mapped at 100), SIGMOID and LINEAR_EXACT, on a mammogram.
#[test]
fn window_level_shader_applies_a_voi_lut_table_and_sigmoid_as_the_cpu_does() {
    use medvlm::imaging::gpu::{GreyImage, Placement};
    use medvlm::imaging::{VoiFunction, WindowLevel};
    let _gpu = super::common::gpu_lock();
    let Some((dev, queue)) = device() else { return };
    let img = medvlm::io::dicom::read(&super::common::fixture("dicom/voi/mg_voi_lut.dcm")).unwrap();
    let (w, h) = (img.cols, img.rows);
    let image =
        std::sync::Arc::new(GreyImage { lut: img.voi_lut.clone(), ..GreyImage::new([w, h], img.grey[0].clone()) });
    let p = Placement { origin: [0.0, 0.0], size: [w as f32, h as f32], flip: false, invert: false };
    for function in [VoiFunction::Table, VoiFunction::Sigmoid, VoiFunction::LinearExact] {
        let wl = WindowLevel { center: 1500.0, width: 1200.0, function };
        let got = render(&dev, &queue, &image, wl, p, [w as u32, h as u32]);
        let worst = (0..w * h)
            .map(|i| {
                let cpu = (wl.apply_lut(image.values[i], image.lut.as_deref()) * 255.0).round() as i32;
                (i32::from(got[i]) - cpu).abs()
            })
            .max()
            .unwrap();
        assert!(worst <= 1, "{function:?}: shader and CPU differ by {worst} levels");
    }
}
