//! The GUI, headless through egui_kittest: widgets are found by their accessibility labels, so no
//! GPU or display is needed. The app opens a private copy of the sample project.

use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use medvlm::app::{Dialog, StartupOptions, WorkbenchApp};

use super::common::{sample_copy, tempdir};

fn open_sample(dir: &std::path::Path) -> Harness<'static, WorkbenchApp> {
    let project = sample_copy(dir);
    let mut h = Harness::builder()
        .with_size(egui::vec2(1360.0, 820.0))
        .build_eframe(move |cc| WorkbenchApp::new(cc, StartupOptions { project: Some(project) }));
    wait_for(&mut h, |h| has(h, "740 items"));
    h
}

/// True when at least one node has exactly this label.
pub(super) fn has(h: &Harness<'static, WorkbenchApp>, label: &str) -> bool {
    h.query_all_by_label(label).next().is_some()
}

/// True when at least one node's label contains `part`.
pub(super) fn has_part(h: &Harness<'static, WorkbenchApp>, part: &str) -> bool {
    h.query_all_by_label_contains(part).next().is_some()
}

/// Steps the app (background jobs run on real threads) until `cond` holds or 30 s pass.
pub(super) fn wait_for(h: &mut Harness<'static, WorkbenchApp>, cond: impl Fn(&Harness<'static, WorkbenchApp>) -> bool) {
    let t0 = Instant::now();
    while !cond(h) {
        assert!(t0.elapsed() < Duration::from_secs(30), "timed out waiting for the UI");
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn opens_on_the_sample_project_with_count_and_four_workspaces() {
    let dir = tempdir();
    let mut h = open_sample(dir.path());
    for ws in ["Curation", "Training", "Inspector", "Review"] {
        assert!(has(&h, ws), "workspace {ws} not found");
    }
    // Facet chips show counts; the first item is selected and inspected (its key is marked).
    assert!(has_part(&h, "MRI 540"));
    wait_for(&mut h, |h| has_part(h, "✔ answer"));
    assert!(h.state().state.inspected.as_ref().is_some_and(|i| i.image.is_ok()));
}

#[test]
fn filters_change_the_count_and_keys_move_the_selection() {
    let dir = tempdir();
    let mut h = open_sample(dir.path());
    h.get_by_label_contains("CT 100").click();
    wait_for(&mut h, |h| has(h, "100 of 740 items"));
    h.get_by_label("Clear filters").click();
    wait_for(&mut h, |h| has(h, "740 items"));
    // Searching by id narrows the table to one row; clicking it selects it and loads it into the Inspector.
    h.key_press(egui::Key::Slash);
    h.step();
    // The search box is the first text field of the workspace (the difficulty panel has more).
    h.query_all_by_role(egui::accesskit::Role::TextInput).next().unwrap().type_text("train/mri/0003");
    wait_for(&mut h, |h| has(h, "1 of 740 items"));
    h.get_by_label("How many focal lesions can be seen?").click();
    wait_for(&mut h, |h| h.state().state.inspected.as_ref().is_some_and(|i| i.item.uid == "sample/train/mri/0003"));
    h.get_by_label("Clear filters").click();
    wait_for(&mut h, |h| has(h, "740 items"));
    let first = h.state().state.selected;
    h.key_press(egui::Key::J);
    wait_for(&mut h, |h| h.state().state.selected != first);
    wait_for(&mut h, |h| h.state().state.inspected.as_ref().map(|i| i.id) == h.state().state.selected);
}

#[test]
fn command_palette_and_shortcut_sheet_open_from_the_keyboard() {
    let dir = tempdir();
    let mut h = open_sample(dir.path());
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::K);
    wait_for(&mut h, |h| has_part(h, "Toggle dark/light theme"));
    h.key_press(egui::Key::Escape);
    wait_for(&mut h, |h| !has_part(h, "Toggle dark/light theme"));
    h.key_press(egui::Key::Questionmark);
    wait_for(&mut h, |h| has_part(h, "Esc closes this sheet"));
}

#[test]
fn importing_through_the_dialog_runs_a_job_and_updates_the_table() {
    let dir = tempdir();
    let mut h = open_sample(dir.path());
    let folder = super::common::fixture("folder");
    h.state_mut().send(medvlm::app::Command::ImportPaths(vec![folder]));
    wait_for(&mut h, |h| has(h, "Import data"));
    h.get_by_label("Import").click();
    // 4 good rows of the fixture manifest join the 740 sample items; the bad row is reported.
    wait_for(&mut h, |h| has(h, "744 items"));
    assert!(has_part(&h, "imported 4"), "the toast reports the import");
}

#[test]
fn import_by_path_works_from_the_keyboard_alone() {
    let dir = tempdir();
    let mut h = open_sample(dir.path());
    h.state_mut().send(medvlm::app::Command::ImportByPath);
    wait_for(&mut h, |h| has(h, "Import data"));
    let path = super::common::fixture("folder").display().to_string();
    h.step();
    // The path field has the focus when the dialog opens: type straight into it.
    h.event(egui::Event::Text(path.clone()));
    h.step();
    h.key_press(egui::Key::Enter);
    wait_for(&mut h, |h| matches!(&h.state().dialog, Dialog::ConfirmImport { paths, .. } if paths.len() == 1));
    h.key_press(egui::Key::Enter);
    wait_for(&mut h, |h| has(h, "744 items"));
}

#[test]
fn bulk_tag_edit_and_undo_survive_a_restart() {
    use medvlm::app::Command;
    use medvlm::app::editing::BulkAction;
    let dir = tempdir();
    let mut h = open_sample(dir.path());
    let path = h.state().state.project.as_ref().unwrap().path.clone();
    // Filter to CT, tag them all, then exclude them all and undo the exclusion.
    h.get_by_label_contains("CT 100").click();
    wait_for(&mut h, |h| has(h, "100 of 740 items"));
    h.state_mut().queue.push(Command::Bulk(BulkAction::Tag("checked".into())));
    wait_for(&mut h, |h| has(h, "checked 100"));
    h.state_mut().queue.push(Command::Bulk(BulkAction::Exclude));
    wait_for(&mut h, |h| has(h, "excluded 100"));
    h.state_mut().queue.push(Command::Undo);
    wait_for(&mut h, |h| !has(h, "excluded 100"));
    drop(h);
    let project = medvlm::store::Project::open(&path).unwrap();
    let rows = project.item_rows().unwrap();
    let ct: Vec<_> = rows.iter().filter(|r| r.modality == medvlm::domain::Modality::Ct).collect();
    assert!(ct.iter().all(|r| r.tags == vec!["checked".to_string()]), "the tag stays, the exclusion is undone");
    assert!(rows.iter().filter(|r| r.modality != medvlm::domain::Modality::Ct).all(|r| r.tags.is_empty()));
}

#[test]
fn review_verdicts_feed_the_review_facet_and_versions_diff_side_by_side() {
    use medvlm::app::Command;
    use medvlm::domain::ReviewStatus;
    let dir = tempdir();
    let mut h = open_sample(dir.path());
    assert!(has(&h, "unreviewed 740"));
    let first = h.state().state.project.as_ref().unwrap().rows[0].id;
    h.state_mut().queue.push(Command::SelectItem(first));
    wait_for(&mut h, |h| h.state().state.inspected.is_some());
    h.state_mut().queue.push(Command::ShowWorkspace(medvlm::app::Workspace::Inspector));
    wait_for(&mut h, |h| has(h, "✖ Reject"));
    h.get_by_label("✖ Reject").click();
    wait_for(&mut h, |h| has(h, "rejected 1"));
    h.state_mut().queue.push(Command::ShowWorkspace(medvlm::app::Workspace::Curation));
    h.get_by_label("rejected 1").click();
    wait_for(&mut h, |h| has(h, "1 of 740 items"));
    // Save a version, set the band of the one filtered item by hand, and open the diff.
    h.state_mut().queue.push(Command::CreateVersion("v1".into()));
    wait_for(&mut h, |h| h.state().state.project.as_ref().is_some_and(|p| !p.versions.is_empty()));
    h.state_mut()
        .queue
        .push(Command::Bulk(medvlm::curation::bulk::BulkAction::SetBand(Some(medvlm::curation::Difficulty::Medium))));
    wait_for(&mut h, |h| has(h, "difficulty:medium 1"));
    h.state_mut().queue.push(Command::DiffVersion("v1".into()));
    wait_for(&mut h, |h| has(h, "Live items"));
    assert!(has(&h, "0 added, 0 removed, 1 edited"));
    assert!(has_part(&h, "difficulty:medium"));
    let p = medvlm::store::Project::open(&h.state().state.project.as_ref().unwrap().path).unwrap();
    assert_eq!(p.item_rows().unwrap().iter().filter(|r| r.review == ReviewStatus::Rejected).count(), 1);
}

/// A copy of the sample project after a tiny-demo run with `micro` (TOML lines), open in the app
/// (a window `height` points tall).
fn trained_sample(
    dir: &std::path::Path,
    micro: &str,
    height: f32,
) -> (std::path::PathBuf, Harness<'static, WorkbenchApp>) {
    let project = sample_copy(dir);
    let cfg = dir.join("micro.toml");
    std::fs::write(&cfg, format!("preset = \"tiny-demo\"\nsave_steps = 0\n{micro}")).unwrap();
    let o = super::common::bin()
        .args(["--backend", "cpu", "train", "--project"])
        .arg(&project)
        .args(["--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let path = project.clone();
    let mut h = Harness::builder()
        .with_size(egui::vec2(1360.0, height))
        .build_eframe(move |cc| WorkbenchApp::new(cc, StartupOptions { project: Some(path) }));
    wait_for(&mut h, |h| has(h, "740 items"));
    (project, h)
}

#[test]
fn a_review_is_driven_by_the_keyboard_alone_and_the_rating_survives_a_restart() {
    let dir = tempdir();
    // One short GRPO run gives traces to review.
    let micro = "steps = 1\nprompts_per_step = 1\nnum_generations = 2\nmax_completion_length = 48\n";
    let (project, mut h) = trained_sample(dir.path(), micro, 820.0);
    // Ctrl+4 shows Review; the queue loads by itself.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Num4);
    wait_for(&mut h, |h| has(h, "Trace 1 of 2"));
    wait_for(&mut h, |h| has_part(h, "reward "));
    // J: the next trace; 1 = answer correct, 0 = reasoning not supported; Enter submits and advances.
    h.key_press(egui::Key::J);
    wait_for(&mut h, |h| has(h, "Trace 2 of 2"));
    h.key_press(egui::Key::Num1);
    h.key_press(egui::Key::Num0);
    h.run();
    assert_eq!(h.state().state.review.values.get("answer_correct"), Some(&1));
    assert_eq!(h.state().state.review.values.get("reasoning_supported"), Some(&0));
    // A span comment with its text and a region drawn on the image (shift-drag sets the region).
    h.state_mut().state.review.span_comment = "left, not right".into();
    h.state_mut().state.viewer.region = Some([1.0, 2.0, 30.0, 40.0]);
    let tag = medvlm::review::SpanTag::WrongLaterality;
    h.state_mut().send(medvlm::app::Command::Review(medvlm::app::review::ReviewAction::Span(0, 5, tag)));
    wait_for(&mut h, |h| h.state().state.review.spans.len() == 1);
    h.key_press(egui::Key::Enter);
    wait_for(&mut h, |h| has_part(h, "Rating 1 saved"));
    // Opening a rollout (what a click in the Training workspace's list sends) shows it in Review.
    // (kittest's synthetic click does not reach that link; under Xvfb a real click does.)
    let first = medvlm::store::Project::open(&project).unwrap().rollouts_for_review(1, 10).unwrap().remove(0);
    let open =
        medvlm::app::review::ReviewAction::Open { step: first.step, item_id: first.item_id, sample: first.sample };
    h.state_mut().send(medvlm::app::Command::Review(open));
    wait_for(&mut h, |h| has(h, "Trace 1 of 2"));
    drop(h);
    // After a restart the rating is in the store, with the trace and the checkpoint it was made on.
    let p = medvlm::store::Project::open(&project).unwrap();
    let rs = p.ratings().unwrap();
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].values.get("answer_correct"), Some(&1));
    assert!(rs[0].rollout_id.is_some() && rs[0].checkpoint.starts_with("run 1") && !rs[0].trace.is_empty());
    assert!(rs[0].seen.zoom > 0.0, "the zoom shown is recorded: {:?}", rs[0].seen);
    assert_eq!(rs[0].spans.len(), 1);
    assert_eq!(
        (rs[0].spans[0].comment.as_str(), rs[0].spans[0].roi),
        ("left, not right", Some([1.0, 2.0, 30.0, 40.0]))
    );
}

#[test]
fn a_blind_ab_session_is_judged_with_keys_and_stored_by_checkpoint() {
    use medvlm::review::pairwise::Choice;
    let dir = tempdir();
    // Three steps of 20 prompts over the 40 validation items: some items are sampled twice.
    let micro = "split = \"val\"\nsteps = 3\nprompts_per_step = 20\nnum_generations = 2\nmax_completion_length = 32\n";
    let (project, mut h) = trained_sample(dir.path(), micro, 1800.0);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Num4);
    wait_for(&mut h, |h| has_part(h, "Trace 1 of"));
    // The item's trace at another step beside this one, with a word diff.
    h.get_by_label_contains("Across checkpoints").click_accesskit();
    wait_for(&mut h, |h| has_part(h, "Word diff, step"));
    h.get_by_label("Blind A/B…").click();
    wait_for(&mut h, |h| has_part(h, "Blind A/B · pair 1 of"));
    assert!(!has_part(&h, "reward "), "rewards are hidden in a blind comparison");
    // A: the left trace is better; B: the right one; T: a tie.
    for (n, k) in [egui::Key::A, egui::Key::B, egui::Key::T].into_iter().enumerate() {
        h.key_press(k);
        wait_for(&mut h, |h| has_part(h, &format!("{} judged this session", n + 1)));
    }
    wait_for(&mut h, |h| has_part(h, "3 judged this session"));
    wait_for(&mut h, |h| has_part(h, "Judgment 3 saved"));
    drop(h);
    let p = medvlm::store::Project::open(&project).unwrap();
    let js = p.judgments(Some(1)).unwrap();
    assert_eq!(js.len(), 3);
    let side =
        |j: &medvlm::review::pairwise::Judgment, left: bool| if j.pair.a_left == left { Choice::A } else { Choice::B };
    assert_eq!(js[0].choice, side(&js[0], true));
    assert_eq!(js[1].choice, side(&js[1], false));
    assert_eq!(js[2].choice, Choice::Tie);
    assert!(js.iter().all(|j| j.pair.a.1 < j.pair.b.1), "A is the earlier step");
    let items: std::collections::BTreeSet<i64> = js.iter().map(|j| j.pair.item).collect();
    assert_eq!(items.len(), 3, "three different items");
    // A judgment that cannot be right is refused with the field named.
    let mut p = p;
    let bad = medvlm::review::pairwise::Judgment { reviewer: " ".into(), ..js[0].clone() };
    assert!(p.add_judgment(&bad).unwrap_err().to_string().contains("reviewer"));
    // The CLI tallies them: one line per run.
    let o = super::common::bin().args(["review", "pairwise", "--json", "--project"]).arg(&project).output().unwrap();
    let line = String::from_utf8_lossy(&o.stdout).to_string();
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(v["ties"], 1);
    assert_eq!(v["later"].as_u64().unwrap() + v["earlier"].as_u64().unwrap(), 2);
}

#[test]
fn the_answer_key_follows_a_reordered_option() {
    use medvlm::app::Command;
    let dir = tempdir();
    let mut h = open_sample(dir.path());
    let path = h.state().state.project.as_ref().unwrap().path.clone();
    let first = h.state().state.project.as_ref().unwrap().rows[0].id;
    h.state_mut().queue.push(Command::SelectItem(first));
    wait_for(&mut h, |h| h.state().state.inspected.is_some());
    let item = h.state().state.inspected.as_ref().unwrap().item.clone();
    let key = item.answer_text().to_string();
    h.state_mut().queue.push(Command::EditSelected);
    wait_for(&mut h, |h| has_part(h, "key: "));
    // Reverse the options by typing them anew.
    let reversed: Vec<String> = item.options.iter().rev().cloned().collect();
    let field = h.get_by_label("Options\n(one per line)");
    field.focus();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_label("Options\n(one per line)").type_text(&reversed.join("\n"));
    h.run_steps(2);
    assert!(has(&h, &format!("key: {key}")), "the key's text is kept");
    h.get_by_label("Save").click();
    wait_for(&mut h, |h| !has_part(h, "key: "));
    wait_for(&mut h, |h| h.state().state.inspected.as_ref().is_some_and(|i| i.item.options == reversed));
    drop(h);
    let stored = medvlm::store::Project::open(&path).unwrap().item(first).unwrap();
    assert_eq!(stored.options, reversed);
    assert_eq!(stored.answer_text(), key, "the key is the same option, at its new letter");
}

/// Another process's write (here a second connection, as the CLI would make) shows in the open
/// app within seconds, and the selection stays.
#[test]
fn a_change_made_by_another_process_appears_without_losing_the_selection() {
    use medvlm::app::Command;
    use medvlm::domain::ReviewStatus;
    let dir = tempdir();
    let mut h = open_sample(dir.path());
    let path = h.state().state.project.as_ref().unwrap().path.clone();
    let second = h.state().state.project.as_ref().unwrap().rows[1].id;
    h.state_mut().queue.push(Command::SelectItem(second));
    wait_for(&mut h, |h| h.state().state.inspected.as_ref().is_some_and(|i| i.id == second));
    assert!(has(&h, "unreviewed 740"));
    let mut other = medvlm::store::Project::open(&path).unwrap();
    other.add_review(second, "cli", ReviewStatus::Accepted, "").unwrap();
    drop(other);
    wait_for(&mut h, |h| has(h, "accepted 1"));
    assert_eq!(h.state().state.selected, Some(second), "the selection stays");
}

/// Opens `project` in the app (`height` points tall).
pub(super) fn open_project(project: std::path::PathBuf, height: f32) -> Harness<'static, WorkbenchApp> {
    let mut h = Harness::builder()
        .with_size(egui::vec2(1360.0, height))
        .build_eframe(move |cc| WorkbenchApp::new(cc, StartupOptions { project: Some(project) }));
    wait_for(&mut h, |h| h.state().state.project.is_some());
    h
}

/// A VQA-RAD-like item (a 1024x1024 radiograph: 1,296 image tokens at the tiny model's
/// max_pixels) in the train split makes the tiny-demo prompt too long: the pre-flight check blocks
/// Start, names the item count and the fix, and the fix unblocks it.
#[test]
fn the_preflight_check_blocks_a_long_prompt_and_names_the_fix() {
    use medvlm::app::{Command, Workspace};
    use medvlm::domain::{ImageRef, VqaItem};
    let dir = tempdir();
    let project = sample_copy(dir.path());
    let png = dir.path().join("images").join("big-chest.png");
    image::RgbImage::from_fn(1024, 1024, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])).save(&png).unwrap();
    let (sha, bytes) = medvlm::io::images::hash_file(&png).unwrap();
    let mut item = VqaItem::choice("vqa-rad-like/1", "Is this a MRI of the chest?", &["yes", "no"], 1);
    item.images = vec![ImageRef {
        path: "images/big-chest.png".into(),
        sha256: Some(sha),
        bytes: Some(bytes),
        width: Some(1024),
        height: Some(1024),
        unreadable: None,
        redacted: Vec::new(),
    }];
    let mut p = medvlm::store::Project::open(&project).unwrap();
    p.insert_items(None, &[item]).unwrap();
    drop(p);
    let mut h = open_project(project, 1000.0);
    h.state_mut().queue.push(Command::ShowWorkspace(Workspace::Training));
    wait_for(&mut h, |h| has_part(h, "lower max_pixels to"));
    assert!(has_part(&h, "Pre-flight: 1 of"), "the reason names the offending item count");
    assert!(has_part(&h, "skip the 1 long prompts"));
    let form = h.state().state.training.form.clone();
    assert!(h.state().state.training.plan.blocked(&form).is_some(), "Start is refused");
    h.get_by_label_contains("lower max_pixels to").click();
    wait_for(&mut h, |h| {
        let t = &h.state().state.training;
        t.form.max_pixels > 0
            && !t.plan.is_pending()
            && t.plan.blocked(&t.form).is_none()
            && has_part(h, "items trainable")
    });
    h.run_steps(2);
    assert!(!has_part(&h, "lower max_pixels to"));
}

/// Two runs ticked in the run list are drawn, and their legend swatches painted, in two colours.
#[test]
fn two_overlaid_runs_get_different_colours() {
    use medvlm::app::{Command, Workspace};
    use medvlm::store::{RunKind, StepInfo};
    let dir = tempdir();
    let project = sample_copy(dir.path());
    let mut p = medvlm::store::Project::open(&project).unwrap();
    let mut ids = Vec::new();
    for (name, shift) in [("first", 0.0), ("second", 0.3)] {
        let id = p.create_run(name, RunKind::Grpo, "{}", 1).unwrap();
        for step in 1..=5i64 {
            let m = std::collections::BTreeMap::from([("reward".to_string(), shift + 0.1 * step as f64)]);
            p.record_step(
                id,
                StepInfo { step, wall_time: step as f64, samples_seen: step, tokens_seen: step },
                &m,
                &[],
            )
            .unwrap();
        }
        ids.push(id);
    }
    drop(p);
    let mut h = open_project(project, 900.0);
    h.state_mut().queue.push(Command::ShowWorkspace(Workspace::Training));
    wait_for(&mut h, |h| ids.iter().all(|id| h.state().state.training.runs.contains_key(id)));
    h.state_mut().state.training.visible.extend(ids.iter().copied());
    let labels: Vec<String> = ids.iter().map(|id| format!("#{id} reward")).collect();
    wait_for(&mut h, |h| labels.iter().all(|l| has(h, l)));
    h.run_steps(2);
    let img = h.render().unwrap();
    // The most saturated pixel of each legend swatch (26 points left of its label).
    let swatch = |label: &str| {
        let r = h.get_by_label(label).rect();
        let mut best = (0i32, [0u8; 3]);
        for x in (r.left() - 34.0) as u32..(r.left() - 4.0) as u32 {
            for y in (r.center().y - 6.0) as u32..(r.center().y + 6.0) as u32 {
                let p = img.get_pixel(x, y).0;
                let sat = i32::from(*p[..3].iter().max().unwrap()) - i32::from(*p[..3].iter().min().unwrap());
                if sat > best.0 {
                    best = (sat, [p[0], p[1], p[2]]);
                }
            }
        }
        best
    };
    let (a, b) = (swatch(&labels[0]), swatch(&labels[1]));
    assert!(a.0 > 60 && b.0 > 60, "swatches are coloured, not grey: {a:?} {b:?}");
    let dist: i32 = a.1.iter().zip(&b.1).map(|(x, y)| (i32::from(*x) - i32::from(*y)).abs()).sum();
    assert!(dist > 90, "two runs, two colours: {a:?} {b:?}");
    // A click on a legend entry hides that series, another shows it again.
    h.get_by_label(&labels[0]).click();
    h.run_steps(2);
    assert!(h.state().state.training.curves.hidden.contains(&labels[0]));
    h.get_by_label(&labels[0]).click();
    h.run_steps(2);
    assert!(h.state().state.training.curves.hidden.is_empty());
}

/// A completion typed into the Inspector's reward preview is scored by each reward of the
/// Training form's preset, with the total and the pass-count verdict.
#[test]
fn the_reward_preview_scores_a_typed_completion() {
    use medvlm::app::{Command, Workspace};
    let dir = tempdir();
    let mut h = open_sample(dir.path());
    let first = h.state().state.project.as_ref().unwrap().rows[0].id;
    h.state_mut().queue.push(Command::SelectItem(first));
    h.state_mut().queue.push(Command::ShowWorkspace(Workspace::Inspector));
    wait_for(&mut h, |h| h.state().state.inspected.is_some() && has(h, "Reward preview"));
    h.get_by_label("Reward preview").click_accesskit();
    h.run_steps(2);
    let key = h.state().state.inspected.as_ref().unwrap().item.answer_letter().unwrap();
    h.state_mut().state.reward_preview.text = format!("<think>looked</think><answer>{key}</answer>");
    h.run_steps(2);
    assert!(has(&h, "accuracy") && has(&h, "format"), "each component is listed");
    assert!(has(&h, "2.00"), "accuracy 1 + format 1");
    assert!(has_part(&h, "counts as correct"));
    h.state_mut().state.reward_preview.text = "<answer>Z</answer>".into();
    h.run_steps(2);
    assert!(has(&h, "0.00") && has_part(&h, "not correct"));
}

/// The Training form edits custom rewards: one added is named apart, says what it still needs
/// (and the form refuses Start), and is right once given its words.
#[test]
fn custom_rewards_are_added_and_checked_in_the_training_form() {
    use medvlm::app::{Command, Workspace};
    let dir = tempdir();
    let mut h = open_sample(dir.path());
    h.state_mut().queue.push(Command::ShowWorkspace(Workspace::Training));
    wait_for(&mut h, |h| has(h, "Custom rewards (0)"));
    h.get_by_label("Custom rewards (0)").click_accesskit();
    wait_for(&mut h, |h| has(h, "+ Add reward"));
    h.get_by_label("+ Add reward").click_accesskit();
    wait_for(&mut h, |h| has(h, "Custom rewards (1)"));
    let form = &h.state().state.training.form;
    assert_eq!(form.custom_rewards[0].name, "custom_1");
    assert!(form.validate().is_err(), "a keyword reward without words is refused");
    assert!(has_part(&h, "⚠ words: needs at least one word"));
    h.state_mut().state.training.form.custom_rewards[0].words = vec!["left".into(), " right".into()];
    h.run_steps(2);
    assert!(!has_part(&h, "⚠ words"));
    assert!(h.state().state.training.form.validate().is_ok());
}
