//! The command line as a user runs it: exit codes, reports naming file and line, `info --json`.

use super::common::{bin, fixture, tempdir};

#[test]
fn import_reports_bad_lines_and_succeeds_when_something_imported() {
    let dir = tempdir();
    let project = dir.path().join("p.medvlm");
    let out = bin()
        .args(["import", "--allow-outside", "--project"])
        .arg(&project)
        .arg(fixture("medvlthinker/train_with_errors.jsonl"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("train_with_errors.jsonl:3: invalid JSON"), "{stderr}");
    assert!(stderr.contains("train_with_errors.jsonl:5:"), "{stderr}");
    assert!(stdout.contains("imported 3, skipped 4"), "{stdout}");
}

#[test]
fn import_fails_only_when_nothing_is_usable() {
    let dir = tempdir();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{not json\n{\"question\": 1}\n").unwrap();
    let out = bin()
        .args(["import", "--format", "medvlthinker", "--project"])
        .arg(dir.path().join("p.medvlm"))
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let out = bin()
        .args(["import", "--project"])
        .arg(dir.path().join("p.medvlm"))
        .arg(dir.path().join("none.json"))
        .output()
        .unwrap();
    // Nothing could be read at all: an error (2), not "no usable record" (1).
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("none.json"));
}

#[test]
fn info_json_has_the_documented_keys() {
    let dir = tempdir();
    let project = dir.path().join("p.medvlm");
    let out = bin()
        .args(["import", "--project"])
        .arg(&project)
        .arg(fixture("slake/test.json"))
        .arg(fixture("folder"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = bin().args(["info", "--json", "--project"]).arg(&project).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["items"], 29);
    assert_eq!(v["missing_images"], 26);
    assert_eq!(v["by_split"]["test"], 27);
    assert_eq!(v["by_source"]["slake"], 25);
    assert!(v["by_modality"].is_object());
    let out = bin().args(["info", "--project"]).arg(dir.path().join("missing.medvlm")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.medvlm"));
}

#[test]
fn help_explains_each_subcommand() {
    let out = bin().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for sub in ["import", "info", "sample-data", "gui"] {
        assert!(text.contains(sub), "{text}");
    }
    let out = bin().args(["import", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--format") && text.contains("vqa-rad") && text.contains("medvlthinker"), "{text}");
}

/// `medvlm reward --json` gives the seeds' truth table (gt `A`, "Chondral abnormality"): `total`
/// and one key per component, for MedVLM-R1 and MedVLThinker.
#[test]
fn reward_prints_each_component_as_the_seeds_compute_it() {
    let options = r#"["Chondral abnormality","Normal"]"#;
    let cases: &[(&str, f64, f64, f64)] = &[
        ("<think>x</think><answer>A</answer>", 1.0, 1.0, 1.0),
        ("<think>x</think><answer>A)</answer>", 0.5, 1.0, 0.0),
        ("<think>x</think><answer>A. Chondral abnormality</answer>", 0.0, 1.0, 1.0),
        ("<answer>A</answer>", 1.0, 0.0, 0.0),
        ("<think>x</think><answer>\nA\n</answer>", 1.0, 1.0, 0.0),
    ];
    let run = |preset: &str, completion: &str| -> serde_json::Value {
        let o = bin()
            .args([
                "reward",
                "--json",
                "--preset",
                preset,
                "--answer",
                "A",
                "--options",
                options,
                "--completion",
                completion,
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    for (c, acc, fmt, mvt) in cases {
        let r1 = run("medvlm-r1", c);
        assert_eq!((r1["accuracy"].as_f64(), r1["format"].as_f64()), (Some(*acc), Some(*fmt)), "{c:?}");
        assert_eq!(r1["total"].as_f64(), Some(acc + fmt), "{c:?}");
        let t = run("medvlthinker", c);
        assert_eq!((t["medvlthinker_accuracy"].as_f64(), t["total"].as_f64()), (Some(*mvt), Some(*mvt)), "{c:?}");
    }
    // A key that is not one of the options is named, and the exit status says so.
    let o = bin().args(["reward", "--answer", "C", "--options", options, "--completion", "x"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--answer"));
}
