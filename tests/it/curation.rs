//! Curation by difficulty: pass-count jobs (resumable, keyed by model/prompt/sampling), the closed
//! loop from GRPO groups, exports (verl Parquet bytes checked against a pyarrow-verified fixture,
//! JSONL round trip), versions with diff, and atomic, undoable bulk actions that survive reopening.

use medvlm::curation::passrate::{PassrateOptions, estimate};
use medvlm::curation::{Band, Histogram, SplitBy};
use medvlm::domain::Split;
use medvlm::domain::edit::{FieldEdit, ItemField};
use medvlm::io::export::{ExportFormat, ExportOptions, Order, export};
use medvlm::io::parquet::{Leaf, Node, ParquetWriter, Rep, Value as PV};
use medvlm::jobs::NoProgress;
use medvlm::model::device::BackendChoice;
use medvlm::store::{GroupOutcome, Project};

use super::common::{bin, fixture, sample_copy, tempdir};

#[test]
fn passrate_jobs_resume_and_keep_models_apart() {
    let dir = tempdir();
    let path = sample_copy(dir.path());
    let project = Project::open(&path).unwrap();
    let ids: Vec<i64> =
        project.item_rows().unwrap().iter().filter(|r| r.split == Split::Val).take(6).map(|r| r.id).collect();
    drop(project);
    let opts = PassrateOptions {
        k: 3,
        max_new_tokens: 96,
        item_ids: Some(ids.clone()),
        backend: BackendChoice::Cpu,
        ..PassrateOptions::default()
    };
    let r = estimate(&path, &opts, &NoProgress).unwrap();
    assert_eq!((r.estimated, r.already_done, r.samples), (6, 0, 18));
    // A second run with the same key has nothing left to do (resume after a stop or crash).
    let again = estimate(&path, &opts, &NoProgress).unwrap();
    assert_eq!((again.estimated, again.already_done), (0, 6));
    // Other sampling settings are a different estimate, stored apart.
    let hot = PassrateOptions { temperature: 1.5, ..opts.clone() };
    assert_eq!(estimate(&path, &hot, &NoProgress).unwrap().estimated, 6);
    let project = Project::open(&path).unwrap();
    let keys = project.estimate_keys().unwrap();
    assert_eq!(keys.len(), 2);
    let est = project.estimates(&r.key).unwrap();
    assert_eq!(est.len(), 6);
    assert!(est.values().all(|c| c.n_samples == 3 && c.n_correct <= 3));
    // The samples are kept for the Inspector.
    let samples = project.item_pass_samples(ids[0], 64).unwrap();
    assert_eq!(samples.len(), 6, "3 samples from each of the two jobs");
    let rows = project.item_rows().unwrap();
    let h = Histogram::build(&rows, &est, 3, SplitBy::Modality);
    assert_eq!(h.totals().iter().sum::<usize>(), 6);
    assert_eq!(h.unestimated, rows.len() - 6);
    // Bad options name the field.
    let bad = PassrateOptions { k: 0, ..opts };
    assert!(estimate(&path, &bad, &NoProgress).unwrap_err().to_string().contains("k"));
}

/// Records every progress update and asks to cancel after `cancel_after` of them.
struct Recorder {
    updates: std::sync::Mutex<Vec<(String, u64)>>,
    cancel_after: usize,
}

impl medvlm::jobs::ProgressSink for Recorder {
    fn update(&self, stage: &str, done: u64, _total: Option<u64>) {
        self.updates.lock().unwrap().push((stage.to_string(), done));
    }

    fn is_cancelled(&self) -> bool {
        self.updates.lock().unwrap().len() >= self.cancel_after
    }
}

/// Progress moves inside a batch (with a samples/s rate), and a cancel stops the generation
/// within tokens: the unfinished batch is not written and the job resumes it later.
#[test]
fn passrate_progress_moves_per_token_and_a_cancel_stops_within_the_batch() {
    let dir = tempdir();
    let path = sample_copy(dir.path());
    let ids: Vec<i64> = Project::open(&path).unwrap().item_rows().unwrap().iter().take(4).map(|r| r.id).collect();
    let opts = PassrateOptions {
        k: 2,
        max_new_tokens: 64,
        items_per_batch: 4,
        item_ids: Some(ids),
        backend: BackendChoice::Cpu,
        ..PassrateOptions::default()
    };
    let all = Recorder { updates: Default::default(), cancel_after: usize::MAX };
    assert_eq!(estimate(&path, &opts, &all).unwrap().estimated, 4);
    let updates = all.updates.into_inner().unwrap();
    assert!(updates.len() > 3, "updated per token, not once per batch: {updates:?}");
    assert!(updates.iter().any(|(_, d)| (1..4).contains(d)), "items advance inside the one batch");
    assert!(updates.iter().skip(1).all(|(s, _)| s.contains("samples/s")), "{updates:?}");
    // Cancelled after the third token: nothing of the batch is written.
    let other = PassrateOptions { temperature: 1.3, ..opts };
    let cancel = Recorder { updates: Default::default(), cancel_after: 3 };
    let r = estimate(&path, &other, &cancel).unwrap();
    assert!(r.cancelled && r.estimated == 0, "{r:?}");
    assert!(cancel.updates.lock().unwrap().len() <= 4, "the generation stopped at once");
    assert!(Project::open(&path).unwrap().estimates(&r.key).unwrap().is_empty());
}

#[test]
fn grpo_group_outcomes_sum_per_run_and_truncate_with_resume() {
    let dir = tempdir();
    let path = sample_copy(dir.path());
    let mut p = Project::open(&path).unwrap();
    let run = p.create_run("t", medvlm::store::RunKind::Grpo, "{}", 0).unwrap();
    let g = |item_id, n_correct, zero_std| GroupOutcome { item_id, n_samples: 4, n_correct, zero_std };
    p.record_group_outcomes(run, 1, &[g(1, 2, false), g(2, 4, true)]).unwrap();
    p.record_group_outcomes(run, 2, &[g(1, 1, false)]).unwrap();
    // Recording a step again replaces it (a recomputed step after resume is not double counted).
    p.record_group_outcomes(run, 2, &[g(1, 3, false)]).unwrap();
    let e = p.run_estimates(run).unwrap();
    assert_eq!((e[&1].counts.n_correct, e[&1].counts.n_samples, e[&1].groups), (5, 8, 2));
    assert_eq!(e[&2].zero_std_groups, 1);
    p.truncate_run_after(run, 1).unwrap();
    assert_eq!(p.run_estimates(run).unwrap()[&1].counts.n_correct, 2);
}

fn small_parquet() -> Vec<u8> {
    let s = |n: &str| Node::Leaf(n.into(), Rep::Required, Leaf::Utf8);
    let schema = vec![
        s("name"),
        Node::list(
            "items",
            Rep::Required,
            Node::Group(
                "element".into(),
                Rep::Required,
                false,
                vec![s("k"), Node::Leaf("v".into(), Rep::Optional, Leaf::Int64)],
            ),
        ),
        Node::Group("meta".into(), Rep::Required, false, vec![Node::Leaf("blob".into(), Rep::Required, Leaf::Bytes)]),
    ];
    let mut w = ParquetWriter::new(Vec::new(), schema).unwrap();
    assert_eq!(w.column_paths(), ["name", "items.list.element.k", "items.list.element.v", "meta.blob"]);
    // Row 0: two elements, the second with a null v. Row 1: empty list. Row 2: one element, Unicode.
    w.push(0, 0, 0, PV::Bytes(b"first"));
    w.push(1, 0, 1, PV::Bytes(b"a"));
    w.push(2, 0, 2, PV::Int(7));
    w.push(1, 1, 1, PV::Bytes(b"b"));
    w.push(2, 1, 1, PV::Null);
    w.push(3, 0, 0, PV::Bytes(&[0, 1, 2]));
    w.end_row();
    w.push(0, 0, 0, PV::Bytes(b"second"));
    w.push(1, 0, 0, PV::Null);
    w.push(2, 0, 0, PV::Null);
    w.push(3, 0, 0, PV::Bytes(b""));
    w.end_row();
    w.finish_row_group().unwrap();
    w.push(0, 0, 0, PV::Bytes("左肺".as_bytes()));
    w.push(1, 0, 1, PV::Bytes(b"c"));
    w.push(2, 0, 2, PV::Int(-3));
    w.push(3, 0, 0, PV::Bytes(b"\xff"));
    w.end_row();
    w.finish().unwrap()
}

/// The fixture was written by this writer and read back with pyarrow 22 (`pq.read_table(...).to_pylist()`
/// gives the three rows above, with `items` as lists of {k, v} and `meta.blob` as bytes); the
/// writer must keep producing exactly these bytes.
#[test]
fn parquet_writer_output_is_the_pyarrow_checked_fixture() {
    let bytes = small_parquet();
    let path = fixture("parquet/small.parquet");
    if std::env::var_os("MEDVLM_BLESS").is_some() {
        std::fs::write(&path, &bytes).unwrap();
    }
    assert_eq!(bytes, std::fs::read(&path).unwrap());
    assert_eq!(&bytes[..4], b"PAR1");
    assert_eq!(&bytes[bytes.len() - 4..], b"PAR1");
}

#[test]
fn exports_round_trip_and_verl_rows_carry_the_documented_columns() {
    let dir = tempdir();
    let path = sample_copy(dir.path());
    let project = Project::open(&path).unwrap();
    let out = dir.path().join("all.jsonl");
    let s = export(&project, &ExportOptions::default(), &out, &NoProgress).unwrap();
    assert_eq!(s.rows, project.item_count().unwrap());
    assert!(s.card.is_file());
    // Re-import into a new project: the same items.
    let again = dir.path().join("again.medvlm");
    let o = bin().args(["import", "--project"]).arg(&again).arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let other = Project::open(&again).unwrap();
    let a: Vec<_> = project.item_rows().unwrap().iter().map(|r| project.item(r.id).unwrap()).collect();
    let b: Vec<_> = other.item_rows().unwrap().iter().map(|r| other.item(r.id).unwrap()).collect();
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!((&x.uid, &x.question, &x.options, &x.answer), (&y.uid, &y.question, &y.options, &y.answer));
        assert_eq!(
            (x.modality, &x.body_part, x.split, &x.tags, &x.meta),
            (y.modality, &y.body_part, y.split, &y.tags, &y.meta)
        );
        assert_eq!(x.images.first().map(|i| &i.sha256), y.images.first().map(|i| &i.sha256));
    }
    // verl Parquet of the test split, easy to hard.
    let pq = dir.path().join("test.parquet");
    let opts = ExportOptions {
        format: ExportFormat::VerlParquet,
        split: Some(Split::Test),
        order: Order::Shuffled,
        ..Default::default()
    };
    let s = export(&project, &opts, &pq, &NoProgress).unwrap();
    assert_eq!(s.rows, 300);
    let bytes = std::fs::read(&pq).unwrap();
    assert_eq!(&bytes[..4], b"PAR1");
    for col in [
        "data_source",
        "prompt",
        "images",
        "reward_model",
        "ground_truth",
        "extra_info",
        "answer_label",
        "dataset_index",
    ] {
        assert!(bytes.windows(col.len()).any(|w| w == col.as_bytes()), "column {col} missing");
    }
    // An empty filter result is an error, not an empty file.
    let none = ExportOptions {
        difficulty: Some((
            project.estimate_keys().unwrap().first().map(|k| k.0.clone()).unwrap_or(medvlm::store::EstimateKey {
                model_key: "m".into(),
                prompt_key: "p".into(),
                sampling_json: "{}".into(),
                k: 4,
            }),
            Some(Band { lo: 1, hi: 2 }),
        )),
        ..Default::default()
    };
    assert!(export(&project, &none, &dir.path().join("none.jsonl"), &NoProgress).is_err());
}

#[test]
fn bulk_actions_are_atomic_undoable_and_versions_diff() {
    let dir = tempdir();
    let path = sample_copy(dir.path());
    let mut p = Project::open(&path).unwrap();
    p.create_version("v1", "before edits").unwrap();
    assert!(p.create_version("v1", "").is_err(), "versions are immutable");
    let rows: Vec<_> = p.item_rows().unwrap().into_iter().filter(|r| r.split == Split::Val).collect();
    let tag = |p: &Project, id| {
        let it = p.item(id).unwrap();
        let mut t = it.tags.clone();
        t.push("hard".into());
        FieldEdit::set(&it, ItemField::Tags, serde_json::json!(t))
    };
    let edits: Vec<_> = rows.iter().map(|r| (r.id, tag(&p, r.id))).collect();
    p.apply_edits("tag val hard", &edits).unwrap();
    // One bad edit in a bulk action: nothing of it is applied.
    let mut bad =
        vec![(rows[0].id, FieldEdit::set(&p.item(rows[0].id).unwrap(), ItemField::Split, serde_json::json!("test")))];
    bad.push((
        rows[1].id,
        FieldEdit::set(
            &p.item(rows[1].id).unwrap(),
            ItemField::Answer,
            serde_json::json!({"kind": "choice", "value": 9}),
        ),
    ));
    assert!(p.apply_edits("bad", &bad).is_err());
    assert_eq!(p.item(rows[0].id).unwrap().split, Split::Val);
    // A single edit, then undo it; both survive reopening.
    let q = FieldEdit::set(&p.item(rows[2].id).unwrap(), ItemField::Question, serde_json::json!("Edited?"));
    p.apply_edits("edit", &[(rows[2].id, q)]).unwrap();
    p.undo().unwrap();
    drop(p);
    let p = Project::open(&path).unwrap();
    assert!(rows.iter().all(|r| p.item(r.id).unwrap().tags.contains(&"hard".to_string())));
    assert_ne!(p.item(rows[2].id).unwrap().question, "Edited?");
    let d = p.diff_versions("v1", None).unwrap();
    assert_eq!((d.added.len(), d.removed.len(), d.edited.len()), (0, 0, rows.len()));
    assert!(d.edited.iter().all(|(_, f)| f == &vec!["tags".to_string()]));
    assert_eq!(p.version_items("v1").unwrap().len(), p.item_count().unwrap());
    // A run pins the version it trains on: a new snapshot since items changed after v1, then reused.
    let mut p = p;
    let r1 = p.create_run("a", medvlm::store::RunKind::Grpo, "{}", 0).unwrap();
    assert_eq!(p.pin_version_for_run(r1).unwrap(), format!("run-{r1}"));
    let r2 = p.create_run("b", medvlm::store::RunKind::Grpo, "{}", 0).unwrap();
    assert_eq!(p.pin_version_for_run(r2).unwrap(), format!("run-{r1}"));
    assert_eq!(p.run_version(r2).unwrap(), Some(format!("run-{r1}")));
}

fn filter_json(path: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let out = bin().args(["curate", "filter", "--project"]).arg(path).args(args).arg("--json").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn cli_filter_selects_like_the_gui_and_its_bulk_actions_undo() {
    let dir = tempdir();
    let path = sample_copy(dir.path());
    // Pass counts for 12 CT test items (k = 4) so difficulty filters have something to select.
    let mut p = Project::open(&path).unwrap();
    let ct: Vec<_> = p
        .item_rows()
        .unwrap()
        .into_iter()
        .filter(|r| r.split == Split::Test && r.modality == medvlm::domain::Modality::Ct)
        .take(12)
        .collect();
    let key =
        medvlm::store::EstimateKey { model_key: "m".into(), prompt_key: "p".into(), sampling_json: "{}".into(), k: 4 };
    let rows: Vec<_> = ct
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id, medvlm::store::PassCount { n_correct: i % 5, n_samples: 4 }))
        .collect();
    p.put_estimates(&key, &rows).unwrap();
    drop(p);
    let all = filter_json(&path, &[]);
    assert_eq!(all["matched"], 740);
    let ct_test = filter_json(&path, &["--split", "test", "--modality", "CT"]);
    assert_eq!(ct_test["matched"], 100);
    // Band 1…1 of 4 (the medium band at k = 4): pass counts 1 only, i.e. i % 5 == 1 → 3 items.
    let band = filter_json(&path, &["--in-band"]);
    assert_eq!(band["matched"], 3, "{band}");
    assert_eq!(filter_json(&path, &["--pass-count", "0"])["matched"], 3);
    assert_eq!(filter_json(&path, &["--difficulty", "solved"])["matched"], 2);
    // Set the band by hand on the solved ones: they now count as medium, in the band and in exports.
    let applied = filter_json(&path, &["--difficulty", "solved", "--apply", "band:medium"]);
    assert_eq!(applied["applied"], "set band of 2 items to medium");
    assert_eq!(filter_json(&path, &["--in-band"])["matched"], 5);
    assert_eq!(filter_json(&path, &["--difficulty", "medium"])["matched"], 5);
    // Undo from the CLI (one shared edit log), in a new process.
    let out = bin().args(["curate", "undo", "--project"]).arg(&path).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("undone: set band of 2 items"), "{out:?}");
    assert_eq!(filter_json(&path, &["--in-band"])["matched"], 3);
    // Bad input names the field.
    let out =
        bin().args(["curate", "filter", "--project"]).arg(&path).args(["--apply", "band:hardish"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("band:hardish: unknown band"), "{out:?}");
    let out = bin().args(["curate", "filter", "--project"]).arg(&path).args(["--review", "maybe"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--review \"maybe\": expected one of unreviewed"), "{out:?}");
}

#[test]
fn reviews_set_the_review_facet_and_diffs_carry_both_sides() {
    use medvlm::domain::ReviewStatus;
    let dir = tempdir();
    let path = sample_copy(dir.path());
    let mut p = Project::open(&path).unwrap();
    let ids: Vec<i64> = p.item_rows().unwrap().iter().take(3).map(|r| r.id).collect();
    p.add_review(ids[0], "dr a", ReviewStatus::NeedsChanges, "key looks wrong").unwrap();
    p.add_review(ids[0], "dr b", ReviewStatus::Accepted, "").unwrap();
    p.add_review(ids[1], "dr a", ReviewStatus::Rejected, "").unwrap();
    assert!(p.add_review(ids[2], "dr a", ReviewStatus::Unreviewed, "").is_err());
    assert!(p.add_review(999_999, "dr a", ReviewStatus::Accepted, "").is_err());
    p.create_version("v1", "").unwrap();
    let it = p.item(ids[2]).unwrap();
    p.apply_edits("q", &[(ids[2], FieldEdit::set(&it, ItemField::Question, serde_json::json!("Edited?")))]).unwrap();
    drop(p);
    let p = Project::open(&path).unwrap();
    let rows = p.item_rows().unwrap();
    assert_eq!(rows[0].review, ReviewStatus::Accepted, "the newest verdict counts");
    assert_eq!(rows[1].review, ReviewStatus::Rejected);
    assert_eq!(rows[2].review, ReviewStatus::Unreviewed);
    assert_eq!(p.item_reviews(ids[0]).unwrap()[1].comment, "key looks wrong");
    let stats = medvlm::domain::DatasetStats::from_rows(&rows);
    assert_eq!(stats.by_review[&ReviewStatus::Unreviewed], 738);
    let mut f = medvlm::domain::ItemFilter::default();
    f.reviews.insert(ReviewStatus::Rejected);
    assert_eq!(f.apply(&rows), vec![1]);
    let (d, entries) = p.diff_detail("v1", None, 10).unwrap();
    assert_eq!(d.edited.len(), 1);
    assert_eq!(entries[0].old.as_ref().unwrap().question, it.question);
    assert_eq!(entries[0].new.as_ref().unwrap().question, "Edited?");
    assert_eq!(entries[0].fields, vec!["question".to_string()]);
    let rv = filter_json(&path, &["--review", "accepted,rejected"]);
    assert_eq!(rv["matched"], 2);
}
