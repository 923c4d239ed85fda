//! One rating: rubric values, a comment and span comments on the reasoning, with what the
//! reviewer saw (checkpoint, trace, window/level and preset, zoom, guideline version, seconds).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::imaging::window::WindowLevel;

/// Why a span of the reasoning was marked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpanTag {
    /// A finding that is not in the image.
    Hallucination,
    /// Left/right confused.
    WrongLaterality,
    /// The wrong imaging modality named.
    WrongModality,
    /// True but beside the question.
    Irrelevant,
}

impl SpanTag {
    /// Every tag, in menu order.
    pub const ALL: [Self; 4] = [Self::Hallucination, Self::WrongLaterality, Self::WrongModality, Self::Irrelevant];

    /// The exported name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hallucination => "hallucination",
            Self::WrongLaterality => "wrong-laterality",
            Self::WrongModality => "wrong-modality",
            Self::Irrelevant => "irrelevant",
        }
    }

    /// Parses an exported name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// A comment anchored to characters `start..end` of the trace, optionally tied to an image region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// First character (a char index into the trace, not a byte offset).
    pub start: usize,
    /// One past the last character.
    pub end: usize,
    /// What is wrong.
    pub tag: SpanTag,
    /// Free text.
    #[serde(default)]
    pub comment: String,
    /// A region on the image, `[x0, y0, x1, y1]` in image pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roi: Option<[f32; 4]>,
}

/// What the image view showed when the rating was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct DisplayState {
    /// Window/level, when one was applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowLevel>,
    /// The preset's name, when a preset was chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Zoom (1 = one image pixel per screen pixel; 0 = unknown).
    #[serde(default)]
    pub zoom: f32,
    /// Inverted grey scale.
    #[serde(default)]
    pub invert: bool,
}

/// A rating as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rating {
    /// Stored row id (0 before it is stored).
    #[serde(default)]
    pub id: i64,
    /// The item's uid (stable across projects; exports carry it).
    pub item: String,
    /// The rollout rated, when it was a GRPO rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_id: Option<i64>,
    /// The model that wrote the trace (`sample`, `run-3/checkpoint-40`, ...).
    #[serde(default)]
    pub checkpoint: String,
    /// The reasoning shown (spans index into it).
    #[serde(default)]
    pub trace: String,
    /// Who rated.
    pub reviewer: String,
    /// Rubric values by dimension key.
    pub values: BTreeMap<String, i64>,
    /// Free-text comment.
    #[serde(default)]
    pub comment: String,
    /// Span comments.
    #[serde(default)]
    pub spans: Vec<Span>,
    /// The guideline version in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guideline_version: Option<i64>,
    /// What the image view showed.
    #[serde(default)]
    pub seen: DisplayState,
    /// Seconds from showing the item to submitting.
    #[serde(default)]
    pub seconds: f64,
    /// When it was recorded (RFC 3339; set by the store).
    #[serde(default)]
    pub created_at: String,
}

impl Rating {
    /// Checks spans against the trace: inside it, non-empty.
    ///
    /// # Errors
    /// A message naming the span.
    pub fn check_spans(&self) -> Result<(), String> {
        let n = self.trace.chars().count();
        for (i, s) in self.spans.iter().enumerate() {
            if !(s.start < s.end && s.end <= n) {
                return Err(format!("span {i}: {}..{} is not inside the trace ({n} characters)", s.start, s.end));
            }
        }
        Ok(())
    }

    /// The text a span marks.
    pub fn span_text(&self, s: &Span) -> String {
        self.trace.chars().skip(s.start).take(s.end.saturating_sub(s.start)).collect()
    }
}
