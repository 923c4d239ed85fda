//! A terminal progress bar (indicatif, on stderr; hidden when stderr is not a terminal) as a [`ProgressSink`].

use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};

use crate::jobs::ProgressSink;

/// Progress bar for CLI subcommands.
pub struct BarSink {
    bar: ProgressBar,
    stage: Mutex<String>,
}

impl Default for BarSink {
    fn default() -> Self {
        Self::new()
    }
}

impl BarSink {
    /// A new bar (drawn on stderr when it is a terminal).
    pub fn new() -> Self {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg:32!} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        Self { bar, stage: Mutex::new(String::new()) }
    }

    /// Prints a line above the bar (or plainly when there is no terminal).
    pub fn println(&self, line: &str) {
        if self.bar.is_hidden() {
            outln!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    /// True when no bar is drawn (stderr is not a terminal).
    pub fn is_hidden(&self) -> bool {
        self.bar.is_hidden()
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl ProgressSink for BarSink {
    fn update(&self, stage: &str, done: u64, total: Option<u64>) {
        if let Ok(mut s) = self.stage.lock()
            && *s != stage
        {
            *s = stage.to_string();
            self.bar.set_message(stage.to_string());
            self.bar.reset_eta();
        }
        if let Some(t) = total {
            self.bar.set_length(t);
        }
        self.bar.set_position(done);
    }
}
