//! The image view's egui_wgpu paint callback: a grey image is uploaded once per item as an
//! R32Float texture (8- or 16-bit values as stored) and drawn by `shaders/window_level.wgsl`
//! with window, level, invert, flip and placement as uniforms, so dragging the window re-renders
//! nothing on the CPU. The glow renderer (and the tests' harness) use the CPU path instead.

use std::sync::Arc;

use eframe::egui;
use eframe::egui_wgpu::{self, CallbackResources, CallbackTrait, ScreenDescriptor};

use crate::imaging::WindowLevel;
use crate::imaging::gpu::{GreyImage, Placement, Uploaded, WindowPipeline};

/// Images kept uploaded (the Inspector's and a few recent ones).
const KEEP: usize = 4;

struct Resources {
    pipeline: WindowPipeline,
    images: Vec<Uploaded>,
}

/// Installs the pipeline in the renderer's callback resources; true when the shader path is on.
pub fn install(cc: &eframe::CreationContext<'_>) -> bool {
    let Some(rs) = cc.wgpu_render_state.as_ref() else { return false };
    let pipeline = WindowPipeline::new(&rs.device, rs.target_format);
    rs.renderer.write().callback_resources.insert(Resources { pipeline, images: Vec::new() });
    true
}

/// One draw of an image.
struct Draw {
    key: u64,
    image: Arc<GreyImage>,
    window: WindowLevel,
    /// Placement in points (converted to pixels in `prepare`).
    placement: Placement,
}

impl CallbackTrait for Draw {
    fn prepare(
        &self,
        device: &eframe::wgpu::Device,
        queue: &eframe::wgpu::Queue,
        screen: &ScreenDescriptor,
        _encoder: &mut eframe::wgpu::CommandEncoder,
        resources: &mut CallbackResources,
    ) -> Vec<eframe::wgpu::CommandBuffer> {
        let Some(r) = resources.get_mut::<Resources>() else { return Vec::new() };
        if !r.images.iter().any(|u| u.key == self.key) {
            let up = r.pipeline.upload(device, queue, self.key, &self.image);
            r.images.push(up);
            if r.images.len() > KEEP {
                r.images.remove(0);
            }
        }
        let ppp = screen.pixels_per_point;
        let p = self.placement;
        let px =
            Placement { origin: [p.origin[0] * ppp, p.origin[1] * ppp], size: [p.size[0] * ppp, p.size[1] * ppp], ..p };
        if let Some(up) = r.images.iter().find(|u| u.key == self.key) {
            r.pipeline.set(queue, up, self.window, px);
        }
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        pass: &mut eframe::wgpu::RenderPass<'static>,
        resources: &CallbackResources,
    ) {
        let Some(r) = resources.get::<Resources>() else { return };
        if let Some(up) = r.images.iter().find(|u| u.key == self.key) {
            r.pipeline.draw(pass, up);
        }
    }
}

/// The window a grey image is shown with when none is chosen: its full stored range.
pub fn as_stored(image: &GreyImage) -> WindowLevel {
    let top = if image.is_16_bit() { 65535.0 } else { 255.0 };
    WindowLevel::linear(top / 2.0, top + 1.0)
}

/// Paints `image` inside `clip` at `image_rect` (points) through the shader.
#[allow(clippy::too_many_arguments)]
pub fn paint(
    ui: &egui::Ui,
    clip: egui::Rect,
    image_rect: egui::Rect,
    key: u64,
    image: &Arc<GreyImage>,
    window: WindowLevel,
    invert: bool,
    flip: bool,
) {
    let placement = Placement {
        origin: [image_rect.min.x, image_rect.min.y],
        size: [image_rect.width(), image_rect.height()],
        flip,
        invert,
    };
    let draw = Draw { key, image: Arc::clone(image), window, placement };
    ui.painter().with_clip_rect(clip).add(egui_wgpu::Callback::new_paint_callback(clip, draw));
}
