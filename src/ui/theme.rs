//! Design tokens: the only place colours are chosen. Dark is the default (reading rooms are dark);
//! the image area is neutral grey in both themes, never tinted.

use eframe::egui::{self, Color32};

/// Neutral background behind medical images.
pub const IMAGE_BACKGROUND: Color32 = Color32::from_gray(40);

/// Dimming layer drawn over the window while files are dragged over it.
pub const OVERLAY: Color32 = Color32::from_black_alpha(180);

/// Text on [`OVERLAY`].
pub const OVERLAY_TEXT: Color32 = Color32::WHITE;

/// Semantic colours for the current theme.
#[derive(Debug, Clone, Copy)]
pub struct Tokens {
    /// Correct / success.
    pub ok: Color32,
    /// Warnings (missing images, skipped records).
    pub warn: Color32,
    /// Errors.
    pub error: Color32,
    /// De-emphasised text.
    pub weak: Color32,
    /// Accent for the selected answer, links and active elements.
    pub accent: Color32,
}

/// Tokens for the dark or light theme.
pub fn tokens(dark: bool) -> Tokens {
    if dark {
        Tokens {
            ok: Color32::from_rgb(110, 200, 130),
            warn: Color32::from_rgb(235, 180, 80),
            error: Color32::from_rgb(240, 110, 100),
            weak: Color32::from_gray(150),
            accent: Color32::from_rgb(110, 170, 240),
        }
    } else {
        Tokens {
            ok: Color32::from_rgb(30, 130, 60),
            warn: Color32::from_rgb(170, 100, 0),
            error: Color32::from_rgb(190, 40, 30),
            weak: Color32::from_gray(100),
            accent: Color32::from_rgb(20, 100, 200),
        }
    }
}

/// Tokens for the theme `ui` is drawn with.
pub fn of(ui: &egui::Ui) -> Tokens {
    tokens(ui.visuals().dark_mode)
}

/// Applies the theme to the whole context.
pub fn apply(ctx: &egui::Context, dark: bool) {
    ctx.set_theme(if dark { egui::Theme::Dark } else { egui::Theme::Light });
}

/// Distinguishable series colours for plots.
pub fn series_colors(dark: bool) -> Vec<Color32> {
    let base = [
        Color32::from_rgb(99, 160, 255),
        Color32::from_rgb(255, 160, 64),
        Color32::from_rgb(90, 200, 120),
        Color32::from_rgb(230, 90, 110),
        Color32::from_rgb(180, 130, 250),
        Color32::from_rgb(200, 200, 80),
        Color32::from_rgb(70, 200, 210),
    ];
    if dark { base.to_vec() } else { base.iter().map(|c| c.gamma_multiply(0.8)).collect() }
}
