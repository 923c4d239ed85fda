//! The Review workspace's blind A/B session: the pairs of the loaded run (each item's
//! earliest-step trace against its latest-step trace, order and sides from the queue's seed),
//! one judgment per key press, each written at once off the UI thread.

use std::time::Instant;

use eframe::egui::{self, Key};

use super::loading::JobOutput;
use super::review::{ReviewAction, ReviewUnit, default_reviewer};
use super::{Command, WorkbenchApp};
use crate::review::pairwise::{Candidate, Choice, Judgment, Pair, Tally, pairs};
use crate::store::Project;

/// A running A/B session.
#[derive(Debug, Clone, Default)]
pub struct AbSession {
    /// The run compared.
    pub run: i64,
    /// The pairs, in judging order.
    pub pairs: Vec<Pair>,
    /// Position.
    pub pos: usize,
    /// When the pair was shown.
    pub shown_at: Option<Instant>,
    /// Judgments so far (stored ones of the run included).
    pub tally: Tally,
    /// Judged in this session.
    pub done: usize,
}

impl AbSession {
    /// The pair shown.
    pub fn current(&self) -> Option<&Pair> {
        self.pairs.get(self.pos)
    }
}

/// The keys of an A/B session.
pub fn ab_keys() -> Vec<(egui::KeyboardShortcut, Command, &'static str)> {
    let plain = |k| egui::KeyboardShortcut::new(egui::Modifiers::NONE, k);
    vec![
        (plain(Key::A), Command::Review(ReviewAction::AbChoose(Some(true))), "left (A) is better"),
        (plain(Key::B), Command::Review(ReviewAction::AbChoose(Some(false))), "right (B) is better"),
        (plain(Key::T), Command::Review(ReviewAction::AbChoose(None)), "tie"),
        (plain(Key::Escape), Command::Review(ReviewAction::AbStop), "end the A/B session"),
    ]
}

/// The trace of rollout `id` among `all`.
pub fn unit_of(all: &[ReviewUnit], id: i64) -> Option<&ReviewUnit> {
    all.iter().find(|u| u.rollout.id == id)
}

impl WorkbenchApp {
    /// Starts a session over the loaded run.
    pub(super) fn ab_start(&mut self) {
        let r = &mut self.state.review;
        let Some(q) = &r.queue else { return };
        let Some(run) = q.run else { return };
        let cands: Vec<Candidate> =
            q.all.iter().map(|u| Candidate { rollout: u.rollout.id, item: u.item_id, step: u.rollout.step }).collect();
        let pairs = pairs(&cands, r.rule.seed);
        if pairs.is_empty() {
            self.toasts.warning("No item of this run was sampled at two different steps: nothing to compare");
            return;
        }
        let tally = Tally::of(q.judged.iter().map(|j| j.choice));
        r.ab = Some(AbSession { run, pairs, pos: 0, shown_at: Some(Instant::now()), tally, done: 0 });
        self.ab_show();
    }

    fn ab_show(&mut self) {
        let Some(ab) = &mut self.state.review.ab else { return };
        ab.shown_at = Some(Instant::now());
        if let Some(item) = ab.current().map(|p| p.item) {
            self.select(item);
        }
    }

    /// Records the judgment of the pair shown and moves on.
    pub(super) fn ab_choose(&mut self, left: Option<bool>) {
        let r = &mut self.state.review;
        let reviewer = if r.reviewer.trim().is_empty() { default_reviewer() } else { r.reviewer.clone() };
        let guideline_version = r.queue.as_ref().and_then(|q| q.guidelines.as_ref().map(|g| g.0));
        let Some(ab) = &mut r.ab else { return };
        let Some(pair) = ab.current().copied() else { return };
        let choice = Choice::of_side(&pair, left);
        let j = Judgment {
            id: 0,
            run: ab.run,
            pair,
            choice,
            reviewer,
            seconds: ab.shown_at.map_or(0.0, |t| t.elapsed().as_secs_f64()),
            guideline_version,
        };
        ab.tally.add(choice);
        ab.done += 1;
        ab.pos += 1;
        self.write_on_project("judgment", move |path, _| {
            JobOutput::Judged(Project::open(&path).and_then(|mut p| p.add_judgment(&j)).map_err(|e| e.to_string()))
        });
        self.ab_show();
    }
}
