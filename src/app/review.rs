//! The Review workspace's state and actions: a queue of traces (the newest GRPO run's rollouts),
//! the rubric draft, keyboard-first rating (j/k move, digits rate the focused question, ↑/↓ move
//! the focus, Enter submits and advances), each rating written at once by a background job.

use std::collections::BTreeMap;
use std::time::Instant;

use eframe::egui::{self, Key};

use super::loading::JobOutput;
use super::{Command, WorkbenchApp};
use crate::review::queue::QueueRule;
use crate::review::{Rating, Rubric};
use crate::store::{Project, RunKind, StoredRollout};

/// What the Review workspace can be told to do (one [`Command`] variant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewAction {
    /// Load the queue (the newest GRPO run's rollouts).
    Load,
    /// Move in the queue by this many traces.
    Move(i64),
    /// Move the rubric focus by this many questions.
    Focus(i64),
    /// Give the focused rubric question this value.
    Rate(i64),
    /// Store the rating of the trace under review and go to the next.
    Submit,
    /// Comment on characters `start..end` of the trace with a tag.
    Span(usize, usize, crate::review::SpanTag),
    /// Start a blind A/B session: each item's earliest-step trace against its latest-step trace.
    AbStart,
    /// Prefer the left (`Some(true)`) or right trace of the pair shown, or neither (`None`).
    AbChoose(Option<bool>),
    /// End the A/B session.
    AbStop,
    /// Open this rollout (`step`, item id, sample index) of the newest run in the Review workspace.
    Open {
        /// Step.
        step: i64,
        /// Item row id.
        item_id: i64,
        /// Group and sample index within the step.
        sample: (usize, usize),
    },
}

impl ReviewAction {
    /// Short label for menus and the palette.
    pub fn label(self) -> String {
        match self {
            Self::Load => "Review: load the newest run's traces".into(),
            Self::Move(d) if d > 0 => "Review: next trace".into(),
            Self::Move(_) => "Review: previous trace".into(),
            Self::Focus(_) => "Review: move the rubric focus".into(),
            Self::Rate(v) => format!("Review: rate {v}"),
            Self::Submit => "Review: submit rating and go on".into(),
            Self::Open { step, .. } => format!("Review: open a rollout of step {step}"),
            Self::Span(_, _, tag) => format!("Review: mark the selection as {}", tag.as_str()),
            Self::AbStart => "Review: blind A/B of the first and last checkpoint".into(),
            Self::AbChoose(Some(true)) => "A/B: left is better".into(),
            Self::AbChoose(Some(false)) => "A/B: right is better".into(),
            Self::AbChoose(None) => "A/B: tie".into(),
            Self::AbStop => "A/B: end the session".into(),
        }
    }

    /// One-line description.
    pub fn description(self) -> &'static str {
        match self {
            Self::Load => "Queue every rollout of the newest GRPO run for rating",
            Self::Move(_) => "Move in the review queue (J / K, Left / Right)",
            Self::Focus(_) => "Move between rubric questions (Up / Down)",
            Self::Rate(_) => "Rate the focused rubric question (digits; yes/no: 1 / 0)",
            Self::Submit => {
                "Store the rating at once (reviewer, checkpoint, guideline version, seconds) and advance (Enter)"
            }
            Self::Open { .. } => "Show this rollout in the Review workspace, next to its image",
            Self::Span(..) => "Anchor a tagged comment to the selected words of the reasoning",
            Self::AbStart => {
                "Judge each item's earliest-step trace against its latest-step trace, sides and order random, steps and rewards hidden"
            }
            Self::AbChoose(_) => "Store the judgment at once and show the next pair (A left, B right, T tie)",
            Self::AbStop => "Leave the A/B session (judgments are kept)",
        }
    }
}

/// One trace to review.
#[derive(Debug, Clone)]
pub struct ReviewUnit {
    /// Item row id.
    pub item_id: i64,
    /// Item uid.
    pub uid: String,
    /// The rollout.
    pub rollout: StoredRollout,
    /// The model that wrote it (`run 3, step 40`).
    pub checkpoint: String,
}

/// A loaded queue.
#[derive(Debug, Clone, Default)]
pub struct ReviewQueue {
    /// What it holds, for the header.
    pub label: String,
    /// The traces, in review order.
    pub units: Vec<ReviewUnit>,
    /// The project's rubric.
    pub rubric: Rubric,
    /// The guideline version in force and its text.
    pub guidelines: Option<(i64, String)>,
    /// Every rollout of the run, whatever the rule kept (the checkpoint comparison reads these).
    pub all: Vec<ReviewUnit>,
    /// The run's id.
    pub run: Option<i64>,
    /// Blind pairwise judgments of the run so far (every reviewer).
    pub judged: Vec<crate::review::pairwise::Judgment>,
}

/// The checkpoint comparison: one item's traces at two steps of the run, side by side.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompareState {
    /// The item kept while moving through the queue (`None`: the trace under review's item).
    pub pinned: Option<i64>,
    /// Left step (`None`: the trace under review's step, or the item's first).
    pub step_a: Option<i64>,
    /// Right step, moved by the scrubber (`None`: the item's last step).
    pub step_b: Option<i64>,
    /// Which of a step's samples to show (wraps).
    pub sample: usize,
}

/// The workspace's state.
#[derive(Debug, Default)]
pub struct ReviewState {
    /// The queue (none until loaded).
    pub queue: Option<ReviewQueue>,
    /// Position in the queue.
    pub pos: usize,
    /// Draft rubric values.
    pub values: BTreeMap<String, i64>,
    /// Index of the focused rubric question.
    pub focus: usize,
    /// Draft comment.
    pub comment: String,
    /// Who is rating.
    pub reviewer: String,
    /// When the current trace was shown.
    pub shown_at: Option<Instant>,
    /// Ratings submitted in this session, by queue position.
    pub submitted: std::collections::BTreeSet<usize>,
    /// The Review pane was drawn last frame (its keys are live).
    pub visible: bool,
    /// A queue load is running.
    pub loading: bool,
    /// Which traces the next queue holds.
    pub rule: QueueRule,
    /// Draft span comments on the trace under review.
    pub spans: Vec<crate::review::Span>,
    /// The last non-empty selection in the reasoning (characters of the trace): kept when the
    /// text loses focus to a tag button.
    pub selection: Option<(usize, usize)>,
    /// A rollout to show once the queue is loaded (step, item, (group, sample)).
    pub pending: Option<(i64, i64, (usize, usize))>,
    /// The checkpoint comparison.
    pub compare: CompareState,
    /// The guidelines being edited (`None`: not editing).
    pub guidelines_draft: Option<String>,
    /// Comment text for the next span.
    pub span_comment: String,
    /// A blind A/B session, while one runs.
    pub ab: Option<super::pairwise::AbSession>,
}

impl ReviewQueue {
    /// The steps at which the run has rollouts of `item`, ascending.
    pub fn steps_of(&self, item: i64) -> Vec<i64> {
        let steps: std::collections::BTreeSet<i64> =
            self.all.iter().filter(|u| u.item_id == item).map(|u| u.rollout.step).collect();
        steps.into_iter().collect()
    }

    /// The rollouts of `item` at `step` (a GRPO group, or several), in sample order.
    pub fn traces_at(&self, item: i64, step: i64) -> Vec<&ReviewUnit> {
        let mut v: Vec<&ReviewUnit> = self.all.iter().filter(|u| u.item_id == item && u.rollout.step == step).collect();
        v.sort_by_key(|u| u.rollout.sample);
        v
    }
}

impl ReviewState {
    /// The item shown: the A/B pair's while a session runs, else the trace under review's.
    pub fn shown_item(&self) -> Option<i64> {
        match &self.ab {
            Some(ab) => ab.current().map(|p| p.item),
            None => self.current().map(|u| u.item_id),
        }
    }

    /// The trace under review.
    pub fn current(&self) -> Option<&ReviewUnit> {
        self.queue.as_ref().and_then(|q| q.units.get(self.pos))
    }
}

/// The keys of the Review workspace while it is shown (a layer over the global shortcuts).
pub fn review_keys() -> Vec<(egui::KeyboardShortcut, Command, &'static str)> {
    let plain = |k| egui::KeyboardShortcut::new(egui::Modifiers::NONE, k);
    let mut v = vec![
        (plain(Key::J), Command::Review(ReviewAction::Move(1)), "next trace"),
        (plain(Key::ArrowRight), Command::Review(ReviewAction::Move(1)), "next trace"),
        (plain(Key::K), Command::Review(ReviewAction::Move(-1)), "previous trace"),
        (plain(Key::ArrowLeft), Command::Review(ReviewAction::Move(-1)), "previous trace"),
        (plain(Key::ArrowDown), Command::Review(ReviewAction::Focus(1)), "next rubric question"),
        (plain(Key::ArrowUp), Command::Review(ReviewAction::Focus(-1)), "previous rubric question"),
        (plain(Key::Enter), Command::Review(ReviewAction::Submit), "submit and go to the next trace"),
    ];
    let digits =
        [Key::Num0, Key::Num1, Key::Num2, Key::Num3, Key::Num4, Key::Num5, Key::Num6, Key::Num7, Key::Num8, Key::Num9];
    for (d, k) in digits.into_iter().enumerate() {
        v.push((plain(k), Command::Review(ReviewAction::Rate(d as i64)), "rate the focused question (1 yes, 0 no)"));
    }
    v
}

fn load_queue(path: &std::path::Path, rule: QueueRule) -> Result<ReviewQueue, String> {
    let p = Project::open(path).map_err(|e| e.to_string())?;
    let rubric = p.rubric().map_err(|e| e.to_string())?;
    let guidelines = p.guidelines().map_err(|e| e.to_string())?;
    let runs = p.runs().map_err(|e| e.to_string())?;
    let Some(run) = runs.iter().find(|r| r.kind == RunKind::Grpo) else {
        let label = "no GRPO run yet".into();
        return Ok(ReviewQueue { label, units: vec![], rubric, guidelines, all: vec![], run: None, judged: vec![] });
    };
    let items: BTreeMap<i64, crate::domain::VqaItem> = p.items().map_err(|e| e.to_string())?.into_iter().collect();
    let source = if rule.evaluations { p.eval_outputs(run.id) } else { p.rollouts_for_review(run.id, 5000) };
    let kind = if rule.evaluations { " (greedy, checkpoint evaluation)" } else { "" };
    let all: Vec<(ReviewUnit, bool)> = source
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter_map(|r| {
            let item = items.get(&r.item_id)?;
            let right = crate::review::trace::answered_right(&r.completion, item);
            let unit = ReviewUnit {
                item_id: r.item_id,
                uid: item.uid.clone(),
                checkpoint: match (rule.evaluations, r.step) {
                    (true, 0) => format!("run {} base model{kind}", run.id),
                    _ => format!("run {} step {}{kind}", run.id, r.step),
                },
                rollout: r,
            };
            Some((unit, right))
        })
        .collect();
    let flags: Vec<bool> = all.iter().map(|(_, ok)| *ok).collect();
    let units = rule.select(&flags).into_iter().map(|i| all[i].0.clone()).collect();
    let label = format!("run {} ({}): {}", run.id, run.name, rule.describe());
    let all = all.into_iter().map(|(u, _)| u).collect();
    let judged = p.judgments(Some(run.id)).map_err(|e| e.to_string())?;
    Ok(ReviewQueue { label, units, rubric, guidelines, all, run: Some(run.id), judged })
}

impl WorkbenchApp {
    /// Applies a Review workspace action.
    pub(super) fn apply_review(&mut self, a: ReviewAction) {
        match a {
            ReviewAction::Load => self.load_review_queue(),
            ReviewAction::Move(d) => self.review_move(d),
            ReviewAction::Focus(d) => self.review_focus(d),
            ReviewAction::Rate(v) => self.review_rate(v),
            ReviewAction::Submit => self.submit_rating(),
            ReviewAction::Span(start, end, tag) => {
                let r = &mut self.state.review;
                if start < end && !r.spans.iter().any(|s| s.start == start && s.end == end && s.tag == tag) {
                    let comment = std::mem::take(&mut r.span_comment).trim().to_string();
                    let roi = self.state.viewer.region.take();
                    r.spans.push(crate::review::Span { start, end, tag, comment, roi });
                }
            }
            ReviewAction::AbStart => self.ab_start(),
            ReviewAction::AbChoose(left) => self.ab_choose(left),
            ReviewAction::AbStop => self.state.review.ab = None,
            ReviewAction::Open { step, item_id, sample } => {
                // The whole run, so that the rollout is in the queue; shown once it is loaded.
                self.state.review.rule = QueueRule::default();
                self.state.review.pending = Some((step, item_id, sample));
                self.load_review_queue();
                self.show_workspace(super::Workspace::Review);
            }
        }
    }

    /// Loads the queue off the UI thread.
    pub(super) fn load_review_queue(&mut self) {
        self.state.review.loading = true;
        let rule = self.state.review.rule;
        self.spawn_on_project("review queue", move |path, _| JobOutput::ReviewQueue(load_queue(&path, rule)));
    }

    /// A loaded queue arrived.
    pub(super) fn review_queue_loaded(&mut self, q: Result<ReviewQueue, String>) {
        self.state.review.loading = false;
        match q {
            Ok(q) => {
                let r = &mut self.state.review;
                let at = r.pending.take().and_then(|(step, item, sample)| {
                    q.units
                        .iter()
                        .position(|u| u.rollout.step == step && u.item_id == item && u.rollout.sample == sample)
                });
                r.queue = Some(q);
                r.pos = 0;
                r.submitted.clear();
                self.review_show(at.unwrap_or(0));
            }
            Err(e) => self.toasts.error(format!("Review queue: {e}")),
        }
    }

    /// Moves to queue position `pos` (clamped), clearing the draft.
    fn review_show(&mut self, pos: usize) {
        let r = &mut self.state.review;
        let Some(q) = &r.queue else { return };
        if q.units.is_empty() {
            return;
        }
        r.pos = pos.min(q.units.len() - 1);
        r.values.clear();
        r.comment.clear();
        r.spans.clear();
        r.span_comment.clear();
        self.state.viewer.region = None;
        r.selection = None;
        r.focus = 0;
        r.shown_at = Some(Instant::now());
        let id = q.units[r.pos].item_id;
        self.select(id);
    }

    /// Next / previous trace.
    pub(super) fn review_move(&mut self, delta: i64) {
        let pos = (self.state.review.pos as i64 + delta).max(0) as usize;
        self.review_show(pos);
    }

    /// Moves the rubric focus.
    pub(super) fn review_focus(&mut self, delta: i64) {
        let r = &mut self.state.review;
        let n = r.queue.as_ref().map_or(0, |q| q.rubric.dimensions.len()) as i64;
        if n > 0 {
            r.focus = (r.focus as i64 + delta).rem_euclid(n) as usize;
        }
    }

    /// Sets the focused question to `value` when the rubric allows it, then focuses the next one.
    pub(super) fn review_rate(&mut self, value: i64) {
        let r = &mut self.state.review;
        let Some(q) = &r.queue else { return };
        let Some(d) = q.rubric.dimensions.get(r.focus) else { return };
        if !d.values().contains(&value) {
            self.toasts.warning(format!("{}: {value} is not one of {:?}", d.label, d.values()));
            return;
        }
        r.values.insert(d.key.clone(), value);
        r.focus = (r.focus + 1).min(q.rubric.dimensions.len() - 1);
    }

    /// Writes the draft as a rating (one transaction, off the UI thread) and advances.
    pub(super) fn submit_rating(&mut self) {
        let r = &self.state.review;
        let Some(unit) = r.current() else { return };
        if r.values.is_empty() && r.comment.trim().is_empty() && r.spans.is_empty() {
            self.toasts.warning("Rate at least one question (digits) or write a comment before submitting");
            return;
        }
        let rating = Rating {
            id: 0,
            item: unit.uid.clone(),
            // Checkpoint-evaluation outputs carry a negated id: they are not rollouts.
            rollout_id: Some(unit.rollout.id).filter(|id| *id > 0),
            checkpoint: unit.checkpoint.clone(),
            trace: unit.rollout.completion.clone(),
            reviewer: if r.reviewer.trim().is_empty() { default_reviewer() } else { r.reviewer.clone() },
            values: r.values.clone(),
            comment: r.comment.clone(),
            spans: r.spans.clone(),
            guideline_version: r.queue.as_ref().and_then(|q| q.guidelines.as_ref().map(|g| g.0)),
            seen: crate::review::DisplayState {
                window: self.state.viewer.window,
                preset: self.state.viewer.preset.clone(),
                zoom: self.state.viewer.shown_scale,
                invert: self.state.viewer.invert,
            },
            seconds: r.shown_at.map_or(0.0, |t| t.elapsed().as_secs_f64()),
            created_at: String::new(),
        };
        let pos = r.pos;
        self.write_on_project("rating", move |path, _| {
            JobOutput::Rated(Project::open(&path).and_then(|mut p| p.add_rating(&rating)).map_err(|e| e.to_string()))
        });
        self.state.review.submitted.insert(pos);
        self.review_show(pos + 1);
    }

    /// Turns review keys into commands while the Review pane is shown and nothing takes text.
    pub(super) fn handle_review_keys(&mut self, ctx: &egui::Context) {
        if !self.state.review.visible || self.state.review.queue.is_none() || ctx.egui_wants_keyboard_input() {
            return;
        }
        // Over the image, digits 1–5 are window/level presets (the viewer takes them).
        let over_image = self.state.viewer.hovered;
        let keys = if self.state.review.ab.is_some() { super::pairwise::ab_keys() } else { review_keys() };
        for (s, c, _) in keys {
            if over_image && matches!(c, Command::Review(ReviewAction::Rate(_))) {
                continue;
            }
            if ctx.input_mut(|i| i.consume_shortcut(&s)) {
                self.queue.push(c);
            }
        }
    }
}

/// The reviewer's name: `$USER`, else "reviewer".
pub fn default_reviewer() -> String {
    std::env::var("USER").unwrap_or_else(|_| "reviewer".into())
}
