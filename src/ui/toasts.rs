//! Toast notifications: errors, warnings and confirmations shown bottom-right and stacked, for a
//! few seconds (errors 30 s, or until clicked; the six newest at most). Every error the user should see goes through here exactly once.

use std::time::{Duration, Instant};

use eframe::egui;

use super::theme;

/// Severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Confirmation.
    Info,
    /// Something was skipped.
    Warning,
    /// Something failed.
    Error,
}

/// One notification.
#[derive(Debug, Clone)]
pub struct Toast {
    /// Severity.
    pub level: Level,
    /// Message.
    pub text: String,
    /// When it appeared.
    pub shown: Instant,
}

/// The visible notifications.
#[derive(Debug, Default)]
pub struct Toasts {
    /// Newest last.
    pub items: Vec<Toast>,
}

impl Toasts {
    fn push(&mut self, level: Level, text: String) {
        match level {
            Level::Error => tracing::error!("{text}"),
            Level::Warning => tracing::warn!("{text}"),
            Level::Info => tracing::info!("{text}"),
        }
        self.items.push(Toast { level, text, shown: Instant::now() });
        if self.items.len() > 6 {
            self.items.remove(0);
        }
    }

    /// Shows a confirmation.
    pub fn info(&mut self, text: impl Into<String>) {
        self.push(Level::Info, text.into());
    }

    /// Shows a warning.
    pub fn warning(&mut self, text: impl Into<String>) {
        self.push(Level::Warning, text.into());
    }

    /// Shows an error (stays until dismissed).
    pub fn error(&mut self, text: impl Into<String>) {
        self.push(Level::Error, text.into());
    }

    /// Draws the toasts and expires old ones.
    pub fn show(&mut self, ctx: &egui::Context) {
        let ttl = |l: Level| match l {
            Level::Info => Some(Duration::from_secs(5)),
            Level::Warning => Some(Duration::from_secs(12)),
            Level::Error => Some(Duration::from_secs(30)),
        };
        self.items.retain(|t| ttl(t.level).is_none_or(|d| t.shown.elapsed() < d));
        // They stack, newest last; a burst keeps the six newest.
        let extra = self.items.len().saturating_sub(6);
        self.items.drain(..extra);
        if self.items.is_empty() {
            return;
        }
        let tokens = theme::tokens(ctx.global_style().visuals.dark_mode);
        let mut dismiss = None;
        egui::Area::new(egui::Id::unique("toasts"))
            .anchor(egui::Align2::RIGHT_BOTTOM, [-12.0, -36.0])
            .order(egui::Order::Foreground)
            .show(ctx, |ui| {
                ui.set_max_width(420.0);
                for (i, t) in self.items.iter().enumerate() {
                    let (icon, color) = match t.level {
                        Level::Info => ("ℹ", tokens.ok),
                        Level::Warning => ("⚠", tokens.warn),
                        Level::Error => ("✖", tokens.error),
                    };
                    let r = egui::Frame::popup(ui.style())
                        .show(ui, |ui| {
                            ui.horizontal_wrapped(|ui| {
                                ui.colored_label(color, icon);
                                ui.label(&t.text);
                            });
                        })
                        .response
                        .interact(egui::Sense::click())
                        .on_hover_text("Click to dismiss");
                    if r.clicked() {
                        dismiss = Some(i);
                    }
                }
            });
        if let Some(i) = dismiss {
            self.items.remove(i);
        }
        ctx.request_repaint_after(Duration::from_millis(500));
    }
}
