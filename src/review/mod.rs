//! Clinician review of reasoning traces, the pure part: a typed rubric per project, ratings with
//! what the reviewer saw, span comments, a trace's format violations, inter-rater agreement
//! (Cohen's and Fleiss' κ per rubric dimension, with the disagreements) and the right-answer /
//! wrong-reason matrix per checkpoint. Storage is `store::ratings`; the CLI is `medvlm review`.

pub mod agreement;
pub mod diff;
pub mod matrix;
pub mod pairwise;
pub mod queue;
pub mod rating;
pub mod rubric;
pub mod trace;

pub use rating::{DisplayState, Rating, Span, SpanTag};
pub use rubric::{Dimension, DimensionKind, Rubric};
