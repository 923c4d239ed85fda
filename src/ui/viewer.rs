//! The image viewer of the Inspector and Review workspaces: fit / 1:1, zoom at the cursor (wheel),
//! pan (drag), window/level (right-drag, or presets on keys 1–5 while the pointer is over the
//! image), invert and flip. Window/level runs on the GPU shader or the CPU (`imaging::window`).
//! Items rendered from a DICOM or NIfTI scan show the scan itself: its values (HU for CT) under the
//! window, slices scrolled by wheel or arrow keys (ctrl + wheel zooms), NIfTI's three axes, and
//! the DICOM attributes with search ([`scan`]).

use eframe::egui;

use super::{scan, theme};
use crate::app::state::{Inspected, ViewState};
use crate::imaging::gpu::GreyImage;
use crate::imaging::scan::ScanStack;
use crate::imaging::window::{PRESETS, VoiFunction, WindowLevel, preset_for_key};

/// The grey image as shown: window/level applied to the stored values of a single-channel image
/// (`grey`, 8- or 16-bit) or to the luminance of a colour one, inverted when asked. Colour images
/// without window or inversion are returned unchanged. The CPU twin of `ui::gpu_view`.
pub fn render(
    img: &egui::ColorImage,
    grey: Option<&GreyImage>,
    window: Option<WindowLevel>,
    invert: bool,
) -> egui::ColorImage {
    if window.is_none() && !invert && grey.is_none_or(|g| !g.is_16_bit()) {
        return img.clone();
    }
    let window = window.or_else(|| grey.map(super::gpu_view::as_stored));
    let value = |i: usize, p: &egui::Color32| match grey {
        Some(g) if g.values.len() == img.pixels.len() => g.values[i],
        _ => (f32::from(p.r()) + f32::from(p.g()) + f32::from(p.b())) / 3.0,
    };
    let pixels = img
        .pixels
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let l = value(i, p);
            let mut v = window.map_or(l / 255.0, |w| w.apply_lut(l, grey.and_then(|g| g.lut.as_deref())));
            if invert {
                v = 1.0 - v;
            }
            let g = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
            egui::Color32::from_gray(g)
        })
        .collect();
    egui::ColorImage { size: img.size, pixels, source_size: img.source_size }
}

/// [`render`] of the stored rendering, or of a scan slice (all its values are in `grey`; a blank
/// image of its size stands in for the colours, made only when the texture is redrawn).
fn render_shown(
    color: Option<&egui::ColorImage>,
    size: [usize; 2],
    grey: Option<&GreyImage>,
    view: &ViewState,
) -> egui::ColorImage {
    match color {
        Some(c) => render(c, grey, view.window, view.invert),
        None => render(&egui::ColorImage::filled(size, egui::Color32::BLACK), grey, view.window, view.invert),
    }
}

/// A texture key for an item (and slice) under a window and inversion.
fn key(ins: &Inspected, view: &ViewState) -> i64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    ins.id.hash(&mut h);
    // The image itself: a black-out replaces it under the same item.
    ins.item.images.first().map(|i| (&i.path, &i.sha256)).hash(&mut h);
    (view.stack, view.slice).hash(&mut h);
    view.window.map(|w| (w.center.to_bits(), w.width.to_bits(), w.function)).hash(&mut h);
    view.invert.hash(&mut h);
    h.finish() as i64
}

/// The toolbar: fit, 1:1, invert, flip, presets, the scan's own windows (`file`: its window and
/// its VOI LUT table, by label), the window in force.
fn toolbar(ui: &mut egui::Ui, view: &mut ViewState, file: &[(&'static str, WindowLevel)]) {
    ui.horizontal_wrapped(|ui| {
        if ui.small_button("Fit").on_hover_text("Fit the view (double-click)").clicked() {
            view.zoom = None;
            view.pan = [0.0, 0.0];
        }
        if ui.small_button("1:1").on_hover_text("One image pixel per screen pixel").clicked() {
            view.zoom = Some(1.0);
            view.pan = [0.0, 0.0];
        }
        ui.toggle_value(&mut view.invert, "Invert");
        ui.toggle_value(&mut view.flip, "Flip");
        let label = view
            .preset
            .clone()
            .unwrap_or_else(|| if view.window.is_some() { "custom".into() } else { "as stored".into() });
        let name = ui.weak("Window");
        egui::ComboBox::from_id_salt("wl-preset")
            .selected_text(label)
            .show_ui(ui, |ui| {
                if ui.selectable_label(view.window.is_none(), "as stored").clicked() {
                    view.window = None;
                    view.preset = None;
                }
                for (i, (name, c, w)) in PRESETS.iter().enumerate() {
                    let text = if i < 5 { format!("{} {name} ({w}/{c})", i + 1) } else { (*name).to_string() };
                    if ui.selectable_label(view.preset.as_deref() == Some(*name), text).clicked() {
                        view.window = Some(WindowLevel::linear(*c, *w));
                        view.preset = Some((*name).to_string());
                    }
                }
                for &(label, w) in file {
                    let hover = match label {
                        FILE_LUT => "The VOI LUT table the file gives (PS3.3 C.11.2.1.1)",
                        AUTO_WINDOW => {
                            "The file gives no window: this one spans its values (1st-99th percentile for NIfTI)"
                        }
                        _ => "The window the file gives",
                    };
                    if ui.selectable_label(view.preset.as_deref() == Some(label), label).on_hover_text(hover).clicked()
                    {
                        view.window = Some(w);
                        view.preset = Some(label.into());
                    }
                }
            })
            .response
            .labelled_by(name.id);
        match view.window {
            Some(w) if w.function == VoiFunction::Table => {
                ui.weak("VOI LUT table");
            }
            Some(w) => {
                let f = w.function.label();
                ui.weak(format!("W {:.0} L {:.0}{}{f}", w.width, w.center, if f.is_empty() { "" } else { " · " }));
            }
            None => {}
        }
    });
}

/// The line under the image: size, depth, scale, where window/level runs, the gestures.
fn caption([w, h]: [usize; 2], grey: Option<&GreyImage>, scan: bool, scale: f32, gpu: bool) -> String {
    let depth = match grey {
        Some(_) if scan => "scan values (HU for CT)",
        Some(g) if g.is_16_bit() => "16-bit grey",
        Some(_) => "8-bit grey",
        None => "colour",
    };
    let wheel = if scan { "wheel or arrow keys: slices, ctrl + wheel zoom" } else { "wheel zoom" };
    format!(
        "{w} × {h} px {depth}, shown at {:.0}% · window/level on the {} · {wheel}, drag pan, right-drag \
         window/level, 1–5 presets, shift-drag a region",
        scale * 100.0,
        if gpu { "GPU (shader)" } else { "CPU" }
    )
}

/// The window label while a scan shows the window its file gives.
const FILE_WINDOW: &str = "file's window";

/// The window label while a scan shows the VOI LUT table its file gives.
const FILE_LUT: &str = "file's VOI LUT";

/// The window label while a scan whose file gives none shows a window spanning its values.
const AUTO_WINDOW: &str = "auto (data range)";

/// The labels of a scan's own windows (kept from one scan to the next).
fn scan_label(p: &str) -> bool {
    p == FILE_WINDOW || p == FILE_LUT || p == AUTO_WINDOW
}

/// The label of a scan's opening window.
fn opening_label(s: &ScanStack) -> &'static str {
    match s.window.function {
        VoiFunction::Table => FILE_LUT,
        _ if s.window_from_file => FILE_WINDOW,
        _ => AUTO_WINDOW,
    }
}

/// A new item: zoom and pan reset; window, preset, inversion and renderer stay, as in a PACS.
fn reset(view: &mut ViewState, id: i64, scan: Option<&Result<std::sync::Arc<ScanStack>, String>>) {
    *view = ViewState {
        item: id,
        window: view.window,
        preset: view.preset.clone(),
        invert: view.invert,
        gpu: view.gpu,
        tag_search: std::mem::take(&mut view.tag_search),
        ..ViewState::default()
    };
    // A scan opens in its own window unless a preset was chosen (presets are in HU).
    if let Some(Ok(s)) = scan
        && !s.stacks.is_empty()
        && view.preset.as_deref().is_none_or(scan_label)
    {
        view.window = Some(s.window);
        view.preset = Some(opening_label(s).into());
    } else if view.preset.as_deref().is_some_and(scan_label) {
        // The last scan's window means nothing for a plain image.
        view.window = None;
        view.preset = None;
    }
}

/// A scan's own windows for the menu: its window (unless that is its table) and its VOI LUT table.
fn file_windows(scan: Option<&Result<std::sync::Arc<ScanStack>, String>>) -> Vec<(&'static str, WindowLevel)> {
    let Some(Ok(s)) = scan.filter(|s| s.as_ref().is_ok_and(|s| !s.stacks.is_empty())) else { return vec![] };
    let mut out = Vec::new();
    if s.window.function != VoiFunction::Table {
        out.push((opening_label(s), s.window));
    }
    if s.stacks.iter().flat_map(|k| &k.slices).any(|g| g.lut.is_some()) {
        out.push((FILE_LUT, WindowLevel { function: VoiFunction::Table, ..s.window }));
    }
    out
}

/// The item's metadata, with the pixel spacing of the scan slice shown (NIfTI's axes differ).
fn spacing_meta<'a>(
    ins: &'a Inspected,
    slice: Option<&scan::Shown>,
) -> std::borrow::Cow<'a, std::collections::BTreeMap<String, serde_json::Value>> {
    match slice {
        Some((_, Some((row, col)))) => {
            let mut m = ins.item.meta.clone();
            m.insert("pixel_spacing".into(), serde_json::json!([row, col]));
            std::borrow::Cow::Owned(m)
        }
        _ => std::borrow::Cow::Borrowed(&ins.item.meta),
    }
}

/// Draws the image of `ins` in a view of `height`, with the toolbar above it and `overlays`
/// (regions in image pixels, e.g. those of span comments) outlined on it.
pub fn show(
    ui: &mut egui::Ui,
    ins: &Inspected,
    view: &mut ViewState,
    texture: &mut Option<(i64, egui::TextureHandle)>,
    height: f32,
    overlays: &[[f32; 4]],
) {
    let scan = ins.image.as_ref().ok().and_then(|i| i.scan.as_ref());
    if view.item != ins.id {
        reset(view, ins.id, scan);
    }
    toolbar(ui, view, &file_windows(scan));
    let slice = scan.and_then(|s| s.as_ref().ok()).and_then(|s| scan::toolbar(ui, s, view));
    let (rect, resp) = ui.allocate_exact_size(egui::vec2(ui.available_width(), height), egui::Sense::click_and_drag());
    ui.painter().rect_filled(rect, 4.0, theme::IMAGE_BACKGROUND);
    let img = match &ins.image {
        Ok(img) => img,
        Err(e) => {
            let tokens = theme::of(ui);
            ui.painter().text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                "⚠ image unavailable",
                egui::FontId::proportional(18.0),
                tokens.warn,
            );
            ui.colored_label(tokens.warn, e);
            return;
        }
    };
    // A scan's slice replaces the stored rendering (same pixels at its own slice, HU values).
    // `color` is the stored rendering (none for a slice); `shown` the size of what is drawn.
    let (color, grey_img, [w, h], shown) = match &slice {
        Some((g, _)) => (None, Some(g), g.size, g.size),
        None => (Some(&img.image), img.grey.as_ref(), img.size, img.image.size),
    };
    // Rows as tall as their spacing says (a coronal slice of 5 mm slices is not squashed).
    let aspect = match &slice {
        Some((_, Some((row, col)))) if *row > 0.0 && *col > 0.0 => (row / col) as f32,
        _ => 1.0,
    };
    let (iw, ih) = (shown[0] as f32, shown[1] as f32 * aspect);
    let fit = (rect.width() / iw).min(rect.height() / ih);
    let mut scale = view.zoom.unwrap_or(fit);
    let mut pan = egui::vec2(view.pan[0], view.pan[1]);
    view.hovered = resp.hovered();
    if resp.hovered() {
        // The wheel over the image is the viewer's (zoom or slices), not the panel's scroll.
        let (mut scroll, pointer) = ui.input_mut(|i| {
            let y = i.smooth_scroll_delta.y;
            i.smooth_scroll_delta = egui::Vec2::ZERO;
            (y, i.pointer.hover_pos())
        });
        if let Some(s) = scan.and_then(|s| s.as_ref().ok()).filter(|s| !s.stacks.is_empty()) {
            // Scans: the wheel and the arrow keys move through the slices, ctrl + wheel zooms.
            scroll = scan::navigate(ui, s, view);
        }
        if scroll != 0.0
            && let Some(p) = pointer
        {
            let new = (scale * (scroll * 0.0015).exp()).clamp(fit.min(1.0) * 0.25, 32.0);
            let under = (p - rect.center() - pan) / scale;
            pan = p - rect.center() - under * new;
            scale = new;
            view.zoom = Some(scale);
        }
        for d in 1..=5u8 {
            let key = [egui::Key::Num1, egui::Key::Num2, egui::Key::Num3, egui::Key::Num4, egui::Key::Num5]
                [usize::from(d - 1)];
            if ui.input_mut(|i| i.consume_key(egui::Modifiers::NONE, key))
                && let Some((name, wl)) = preset_for_key(d)
            {
                view.window = Some(wl);
                view.preset = Some(name.to_string());
            }
        }
    }
    let shift = ui.input(|i| i.modifiers.shift);
    if resp.dragged_by(egui::PointerButton::Primary) && !shift {
        pan += resp.drag_delta();
    }
    if resp.dragged_by(egui::PointerButton::Secondary) {
        let d = resp.drag_delta();
        // Dragging a table window leaves the table for the linear window of its ramp.
        let wl = view.window.unwrap_or_default();
        let function = if wl.function == VoiFunction::Table { VoiFunction::Linear } else { wl.function };
        view.window = Some(WindowLevel { center: wl.center - d.y, width: (wl.width + 2.0 * d.x).max(1.0), function });
        view.preset = None;
    }
    if resp.double_clicked() {
        view.zoom = None;
        pan = egui::Vec2::ZERO;
        scale = fit;
    }
    view.pan = [pan.x, pan.y];
    view.shown_scale = scale * iw / w as f32;
    let r = egui::Rect::from_center_size(rect.center() + pan, egui::vec2(iw * scale, ih * scale));
    let uv = if view.flip {
        egui::Rect::from_min_max(egui::pos2(1.0, 0.0), egui::pos2(0.0, 1.0))
    } else {
        egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0))
    };
    let gpu = grey_img.filter(|_| view.gpu);
    if let Some(grey) = gpu {
        let wl = view.window.unwrap_or_else(|| super::gpu_view::as_stored(grey));
        let upload = key(ins, &ViewState { window: None, invert: false, ..view.clone() });
        super::gpu_view::paint(ui, rect, r, upload as u64, grey, wl, view.invert, view.flip);
    } else {
        let k = key(ins, view);
        if texture.as_ref().is_none_or(|(id, _)| *id != k) {
            let shown = render_shown(color, shown, grey_img.map(|g| &**g), view);
            *texture = Some((k, ui.ctx().load_texture(format!("view-{k}"), shown, egui::TextureOptions::LINEAR)));
        }
        if let Some((_, tex)) = texture.as_ref() {
            ui.painter().with_clip_rect(rect).image(tex.id(), r, uv, egui::Color32::WHITE);
        }
    }
    annotate(ui, rect, r, [w as f32, h as f32], view, &resp, overlays, &spacing_meta(ins, slice.as_ref()));
    ui.weak(caption([w, h], grey_img.map(|g| &**g), slice.is_some(), view.shown_scale, gpu.is_some()));
    match scan {
        Some(Ok(s)) => scan::details(ui, s, view),
        Some(Err(e)) => {
            ui.colored_label(theme::of(ui).warn, format!("⚠ the scan behind this image cannot be read: {e}"));
        }
        None => {}
    }
}

/// Shift + drag draws a region (in image pixels) for the next span comment; `overlays` and that
/// region are outlined on the image; a millimetre ruler when the item has a pixel spacing.
#[allow(clippy::too_many_arguments)]
fn annotate(
    ui: &egui::Ui,
    rect: egui::Rect,
    r: egui::Rect,
    [fw, fh]: [f32; 2],
    view: &mut ViewState,
    resp: &egui::Response,
    overlays: &[[f32; 4]],
    meta: &std::collections::BTreeMap<String, serde_json::Value>,
) {
    let shift = ui.input(|i| i.modifiers.shift);
    let flip = view.flip;
    // Image pixels <-> screen, through the placement and the flip.
    let to_px = |p: egui::Pos2| {
        let u = (p - r.min) / r.size();
        let x = if flip { 1.0 - u.x } else { u.x };
        [(x * fw).clamp(0.0, fw), (u.y * fh).clamp(0.0, fh)]
    };
    let to_screen = |q: [f32; 2]| {
        let x = if flip { 1.0 - q[0] / fw } else { q[0] / fw };
        r.min + egui::vec2(x * r.width(), q[1] / fh * r.height())
    };
    // Shift + drag draws a region (in image pixels) for the next span comment.
    if shift && resp.drag_started_by(egui::PointerButton::Primary) {
        view.region_anchor = resp.interact_pointer_pos().map(to_px);
    }
    if shift
        && resp.dragged_by(egui::PointerButton::Primary)
        && let (Some(a), Some(p)) = (view.region_anchor, resp.interact_pointer_pos())
    {
        let b = to_px(p);
        view.region = Some([a[0].min(b[0]), a[1].min(b[1]), a[0].max(b[0]), a[1].max(b[1])]);
    }
    if resp.drag_stopped() {
        view.region_anchor = None;
    }
    let painter = ui.painter().with_clip_rect(rect);
    let accent = theme::of(ui).accent;
    for (roi, color) in overlays.iter().map(|o| (o, theme::of(ui).warn)).chain(view.region.iter().map(|o| (o, accent)))
    {
        let rr = egui::Rect::from_two_pos(to_screen([roi[0], roi[1]]), to_screen([roi[2], roi[3]]));
        painter.rect_stroke(rr, 0.0, egui::Stroke::new(2.0, color), egui::StrokeKind::Outside);
    }
    if let Some([_, col]) = crate::imaging::ruler::pixel_spacing(meta)
        && let Some((mm, px)) = crate::imaging::ruler::scale_bar(col * fw / r.width(), rect.width() * 0.25)
    {
        let y = rect.bottom() - 14.0;
        let (x0, x1) = (rect.left() + 14.0, rect.left() + 14.0 + px);
        for (stroke, dy) in
            [(egui::Stroke::new(4.0, egui::Color32::BLACK), 0.0), (egui::Stroke::new(2.0, egui::Color32::WHITE), 0.0)]
        {
            painter.line_segment([egui::pos2(x0, y + dy), egui::pos2(x1, y + dy)], stroke);
            painter.line_segment([egui::pos2(x0, y - 5.0), egui::pos2(x0, y + 5.0)], stroke);
            painter.line_segment([egui::pos2(x1, y - 5.0), egui::pos2(x1, y + 5.0)], stroke);
        }
        let label = if mm >= 1.0 { format!("{mm:.0} mm") } else { format!("{mm} mm") };
        painter.text(
            egui::pos2(x0, y - 8.0),
            egui::Align2::LEFT_BOTTOM,
            label,
            egui::FontId::proportional(13.0),
            egui::Color32::WHITE,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_and_invert_render_grey_values() {
        let img = egui::ColorImage::new(
            [3, 1],
            vec![egui::Color32::from_gray(0), egui::Color32::from_gray(40), egui::Color32::from_gray(255)],
        );
        assert_eq!(render(&img, None, None, false).pixels, img.pixels);
        // Brain window 80/40 on 8-bit values: 0 -> black, 40 -> mid grey, 255 -> white.
        let brain = render(&img, None, Some(WindowLevel::linear(40.0, 80.0)), false);
        let g: Vec<u8> = brain.pixels.iter().map(|p| p.r()).collect();
        assert_eq!((g[0], g[2]), (0, 255));
        assert!((i32::from(g[1]) - 128).abs() <= 3, "{g:?}");
        let inv = render(&img, None, None, true);
        assert_eq!(inv.pixels[0].r(), 255);
        assert_eq!(inv.pixels[2].r(), 0);
    }
}
