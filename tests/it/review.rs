//! Clinician review, the stored part: a rating written by one process is there after a restart
//! (with spans and what was seen), bad ratings are refused naming the field, JSONL and CSV exports
//! import back to the same ratings, and agreement (κ) and the right-answer / wrong-reason matrix
//! come out as worked by hand.

use medvlm::review::{DisplayState, Rating, Span, SpanTag};
use medvlm::store::Project;

use super::common::{bin, sample_copy, tempdir};

fn rating(item: &str, reviewer: &str, checkpoint: &str, correct: i64, supported: i64) -> Rating {
    Rating {
        id: 0,
        item: item.into(),
        rollout_id: None,
        checkpoint: checkpoint.into(),
        trace: "<think>The spot is on the left.</think><answer>A</answer>".into(),
        reviewer: reviewer.into(),
        values: [("answer_correct".to_string(), correct), ("reasoning_supported".to_string(), supported)].into(),
        comment: String::new(),
        spans: vec![],
        guideline_version: None,
        seen: DisplayState::default(),
        seconds: 12.5,
        created_at: String::new(),
    }
}

fn uids(p: &Project, n: usize) -> Vec<String> {
    p.items().unwrap().into_iter().take(n).map(|(_, i)| i.uid).collect()
}

#[test]
fn a_rating_is_stored_at_once_and_is_there_after_a_restart() {
    let dir = tempdir();
    let project = sample_copy(dir.path());
    let uid = uids(&Project::open(&project).unwrap(), 1).remove(0);
    let trace = "<think>The spot is on the left.</think><answer>A</answer>";
    let o = bin()
        .args(["review", "rate", "--project"])
        .arg(&project)
        .args(["--item", &uid, "--reviewer", "dr-a", "--checkpoint", "run-1/checkpoint-40", "--trace", trace])
        .args(["--set", "answer_correct=1", "--set", "confidence=4", "--comment", "fine"])
        .args(["--span", "7:31:wrong-laterality:patient's left?"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let p = Project::open(&project).unwrap();
    let rs = p.ratings().unwrap();
    assert_eq!(rs.len(), 1);
    let r = &rs[0];
    assert_eq!(
        (r.item.as_str(), r.reviewer.as_str(), r.checkpoint.as_str()),
        (uid.as_str(), "dr-a", "run-1/checkpoint-40")
    );
    assert_eq!(r.values.get("confidence"), Some(&4));
    assert_eq!(
        r.spans,
        [Span { start: 7, end: 31, tag: SpanTag::WrongLaterality, comment: "patient's left?".into(), roi: None }]
    );
    assert_eq!(r.span_text(&r.spans[0]), "The spot is on the left.");
    // A rating is not an item verdict: the review facet is unchanged.
    assert!(p.review_statuses().unwrap().is_empty());
    drop(p);
    // Refusals name the field.
    for (args, want) in [
        (vec!["--set", "confidence=9"], "confidence = 9"),
        (vec!["--set", "mood=1"], "mood"),
        (vec!["--set", "answer_correct=1", "--span", "0:999:hallucination"], "span 0"),
        (vec!["--set", "answer_correct=x"], "not an integer"),
        (vec!["--span", "1:2:typo"], "unknown tag"),
    ] {
        let o = bin()
            .args(["review", "rate", "--project"])
            .arg(&project)
            .args(["--item", &uid, "--reviewer", "dr-a", "--trace", trace])
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(want), "{args:?}: {err}");
    }
    let o = bin()
        .args(["review", "rate", "--project"])
        .arg(&project)
        .args(["--item", "nope", "--reviewer", "x", "--set", "answer_correct=1"])
        .output()
        .unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("nope"));
}

#[test]
fn exports_import_back_and_agreement_and_the_matrix_are_as_worked_by_hand() {
    let dir = tempdir();
    let project = sample_copy(dir.path());
    let mut p = Project::open(&project).unwrap();
    let items = uids(&p, 4);
    // Two reviewers on four traces of checkpoint "late": answer_correct agrees on 3 of 4.
    // ann: 1 1 0 0, bob: 1 1 0 1 -> p_o 0.75; ann yes 0.5, bob yes 0.75 -> p_e 0.5 -> kappa 0.5.
    for (i, (a, b)) in [(1, 1), (1, 1), (0, 0), (0, 1)].into_iter().enumerate() {
        p.add_rating(&rating(&items[i], "ann", "late", a, 0)).unwrap();
        p.add_rating(&rating(&items[i], "bob", "late", b, 0)).unwrap();
    }
    let mut with_span = rating(&items[0], "ann", "early", 1, 1);
    with_span.spans = vec![Span {
        start: 7,
        end: 31,
        tag: SpanTag::Hallucination,
        comment: "no spot".into(),
        roi: Some([1.0, 2.0, 30.0, 40.0]),
    }];
    with_span.guideline_version = Some(p.add_guidelines("# Rate the reasoning, not the answer\n").unwrap());
    p.add_rating(&with_span).unwrap();
    let before = p.ratings().unwrap();
    drop(p);
    let o = bin().args(["review", "agreement", "--json", "--project"]).arg(&project).output().unwrap();
    let a: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ac = a.as_array().unwrap().iter().find(|d| d["key"] == "answer_correct").unwrap();
    assert_eq!(ac["method"], "cohen");
    assert!((ac["kappa"].as_f64().unwrap() - 0.5).abs() < 1e-9, "{ac}");
    assert_eq!(ac["disagreements"].as_array().unwrap().len(), 1);
    let o = bin().args(["review", "matrix", "--json", "--project"]).arg(&project).output().unwrap();
    let m: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // late: right answers 5 (all unsupported), wrong 3 (unsupported); early: 1 right and supported.
    assert_eq!(m["late"]["right_unsupported"], 5);
    assert_eq!(m["late"]["wrong_unsupported"], 3);
    assert_eq!(m["early"]["right_supported"], 1);
    for ext in ["jsonl", "csv"] {
        let file = dir.path().join(format!("ratings.{ext}"));
        let o = bin().args(["review", "export", "--project"]).arg(&project).arg("--out").arg(&file).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let other = tempdir();
        let copy = sample_copy(other.path());
        let o = bin().args(["review", "import", "--project"]).arg(&copy).arg(&file).output().unwrap();
        assert!(o.status.success(), "{ext}: {}", String::from_utf8_lossy(&o.stderr));
        let after = Project::open(&copy).unwrap().ratings().unwrap();
        assert_eq!(after.len(), before.len());
        for (x, y) in before.iter().zip(&after) {
            assert_eq!(
                (&x.item, &x.reviewer, &x.checkpoint, &x.values),
                (&y.item, &y.reviewer, &y.checkpoint, &y.values),
                "{ext}"
            );
            assert_eq!((&x.spans, &x.trace, x.seconds), (&y.spans, &y.trace, y.seconds), "{ext}");
        }
    }
    // A bad line is named and skipped.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{not json}\n").unwrap();
    let o = bin().args(["review", "import", "--project"]).arg(&project).arg(&bad).output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("bad.jsonl:1"));
}

/// Checkpoint evaluations' greedy outputs read back as traces to review: one per item and
/// checkpoint, ids negated (never a rollout's), the strict grade as the reward.
#[test]
fn checkpoint_evaluation_outputs_are_traces_to_review() {
    use medvlm::store::{EvalResultRow, RunKind};
    let dir = super::common::tempdir();
    let path = super::common::sample_copy(dir.path());
    let mut p = Project::open(&path).unwrap();
    let run = p.create_run("grpo", RunKind::Grpo, "{}", 1).unwrap();
    let items: Vec<i64> = p.items().unwrap().into_iter().take(2).map(|(id, _)| id).collect();
    for (step, correct) in [(0i64, false), (40, true)] {
        let eval = p.create_child_run("eval", RunKind::Eval, "{}", 1, Some(run)).unwrap();
        let rows: Vec<EvalResultRow> = items
            .iter()
            .map(|&item_id| EvalResultRow {
                item_id,
                sample_index: 0,
                output: format!("<think>step {step}</think><answer>A</answer>"),
                parsed_json: serde_json::json!({"strict": {"correct": correct}}).to_string(),
            })
            .collect();
        p.add_checkpoint_score(run, eval, (step, "x", "test"), "{}", &rows).unwrap();
    }
    let out = p.eval_outputs(run).unwrap();
    assert_eq!(out.len(), 4);
    assert!(out.iter().all(|r| r.id < 0), "eval outputs are not rollouts");
    let late = out.iter().find(|r| r.step == 40).unwrap();
    assert_eq!((late.reward, late.completion.contains("step 40")), (1.0, true));
    assert_eq!(out.iter().filter(|r| r.step == 0 && r.reward == 0.0).count(), 2);
}
