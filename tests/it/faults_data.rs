//! Hostile and unlucky input, data side (issue: "faults and bad input"): one test per defect, named
//! after it. Exports carry no identifying path or column; manifests cannot make the importer read
//! other files; relative paths resolve; damaged images, text and projects are named, not fatal.

use std::path::{Path, PathBuf};

use medvlm::io::import::{ImportOptions, import_paths};
use medvlm::jobs::NoProgress;
use medvlm::store::Project;

use super::common::{bin, fixture, tempdir};

/// A folder as real data arrive: the patient's name and birth date in folder and file names, PHI
/// columns in the manifest.
fn phi_folder(root: &Path) -> PathBuf {
    let dir = root.join("Doe_John_19700101");
    std::fs::create_dir_all(dir.join("imgs")).unwrap();
    std::fs::copy(fixture("folder/imgs/a.png"), dir.join("imgs/Doe_John_MRN4432.png")).unwrap();
    std::fs::write(
        dir.join("manifest.csv"),
        "image,question,options,answer,patient_name,birth_date,accession,report,question_type\n\
         imgs/Doe_John_MRN4432.png,Is there a fracture?,Yes|No,No,Doe^John,19700101,ACC778812,Seen by Dr Smith at St Mary,presence\n",
    )
    .unwrap();
    dir
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { files_under(&p, out) } else { out.push(p) }
    }
}

#[test]
fn exports_carry_no_patient_identifiers() {
    let d = tempdir();
    let data = phi_folder(d.path());
    let project = d.path().join("p.medvlm");
    let out = bin().args(["import", "--project"]).arg(&project).arg(&data).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let exports = d.path().join("exports");
    for format in ["jsonl", "trl-jsonl", "verl-parquet"] {
        let out = bin()
            .args(["curate", "export", "--format", format, "--project"])
            .arg(&project)
            .arg("--out")
            .arg(exports.join(format))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{format}: {stderr}");
        if format == "jsonl" {
            assert!(stderr.contains("patient identifiers") && stderr.contains("patient_name"), "{stderr}");
        }
    }
    let mut files = Vec::new();
    files_under(&exports, &mut files);
    assert!(files.iter().any(|f| f.extension().is_some_and(|e| e == "png")), "images copied beside the JSONL");
    let temp = d.path().to_string_lossy().to_string();
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for secret in ["Doe", "John", "19700101", "MRN4432", "ACC778812", "Smith", "St Mary", temp.as_str()] {
            assert!(!text.contains(secret), "{} contains {secret:?}", f.display());
        }
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        assert!(!name.contains("Doe") && !name.contains("MRN"), "file name {name}");
    }
    // The allow-listed column goes out; the JSONL re-imports to the same item, image included.
    let jsonl = files.iter().find(|f| f.to_string_lossy().ends_with("unified.jsonl")).unwrap();
    let text = std::fs::read_to_string(jsonl).unwrap();
    assert!(text.contains("\"question_type\":\"presence\""), "{text}");
    let mut p = Project::create(&d.path().join("again.medvlm")).unwrap();
    let s = import_paths(&mut p, std::slice::from_ref(jsonl), &ImportOptions::default(), &NoProgress).unwrap();
    assert_eq!((s.imported(), s.missing_images()), (1, 0), "{:?}", s.files[0].errors);
}

#[test]
fn manifest_paths_outside_the_data_folder_are_refused_before_reading() {
    let d = tempdir();
    let data = d.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(fixture("folder/imgs/a.png"), d.path().join("outside.png")).unwrap();
    // A 4 GiB sparse "image" inside the folder: refused on its first bytes, never hashed.
    let big = std::fs::File::create(data.join("big.png")).unwrap();
    big.set_len(4 << 30).unwrap();
    std::fs::write(
        data.join("manifest.jsonl"),
        "{\"image\": \"/etc/passwd\", \"question\": \"q1\", \"options\": [\"a\", \"b\"], \"answer\": \"a\"}\n\
         {\"image\": \"../outside.png\", \"question\": \"q2\", \"options\": [\"a\", \"b\"], \"answer\": \"a\"}\n\
         {\"image\": \"big.png\", \"question\": \"q3\", \"options\": [\"a\", \"b\"], \"answer\": \"a\"}\n",
    )
    .unwrap();
    let mut p = Project::create(&d.path().join("p.medvlm")).unwrap();
    let s = import_paths(&mut p, std::slice::from_ref(&data), &ImportOptions::default(), &NoProgress).unwrap();
    let errs: Vec<String> = s.files[0].errors.iter().map(ToString::to_string).collect();
    assert_eq!(s.imported(), 0, "{errs:?}");
    assert!(errs[0].contains("outside the data folder") && errs[0].contains(":1"), "{errs:?}");
    assert!(errs[1].contains("outside the data folder") && errs[1].contains("--allow-outside"), "{errs:?}");
    assert!(errs[2].contains("not a PNG, JPEG, DICOM or NIfTI") && errs[2].contains("big.png"), "{errs:?}");
    // Opting in imports the image outside the folder (never /etc/passwd: it is not an image).
    let opts = ImportOptions { allow_outside: true, ..ImportOptions::default() };
    let s = import_paths(&mut p, std::slice::from_ref(&data), &opts, &NoProgress).unwrap();
    assert_eq!(s.imported(), 1, "{:?}", s.files[0].errors);
    assert!(
        s.files[0]
            .errors
            .iter()
            .any(|e| e.reason.contains("not a PNG, JPEG, DICOM or NIfTI") && e.reason.contains("passwd"))
    );
}

#[test]
fn relative_image_paths_climbing_above_a_relative_folder_resolve() {
    let d = tempdir();
    // data/manifest.jsonl names data/imgs/a.png; the import runs from data/x/y and gives the folder
    // as `../..`, so the image's path climbs twice above the working folder ("../../imgs/a.png").
    let data = d.path().join("data");
    std::fs::create_dir_all(data.join("imgs")).unwrap();
    std::fs::create_dir_all(data.join("x/y")).unwrap();
    std::fs::copy(fixture("folder/imgs/a.png"), data.join("imgs/a.png")).unwrap();
    std::fs::write(
        data.join("manifest.jsonl"),
        "{\"image\": \"imgs/a.png\", \"question\": \"q\", \"options\": [\"a\", \"b\"], \"answer\": \"a\"}\n",
    )
    .unwrap();
    let out = bin()
        .current_dir(data.join("x/y"))
        .args(["import", "--project", "../../../p.medvlm", "../.."])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("imported 1") && stdout.contains("0 images missing"), "{stdout}");
    let p = Project::open(&d.path().join("p.medvlm")).unwrap();
    let it = p.item(p.item_rows().unwrap()[0].id).unwrap();
    assert!(p.resolve_image(&it.images[0].path).is_file(), "{}", it.images[0].path);
}

#[test]
fn truncated_images_are_flagged_unreadable_and_jobs_skip_them() {
    let d = tempdir();
    let data = d.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let jpg = std::fs::read(fixture("vqa_rad/images/synpic35191.jpg")).unwrap();
    std::fs::write(data.join("half.jpg"), &jpg[..jpg.len() / 2]).unwrap();
    let png = std::fs::read(fixture("folder/imgs/a.png")).unwrap();
    std::fs::write(data.join("half.png"), &png[..png.len() / 2]).unwrap();
    std::fs::write(data.join("good.png"), &png).unwrap();
    let rows: String = ["half.jpg", "half.png", "good.png"]
        .iter()
        .map(|f| format!("{{\"id\": \"{f}\", \"image\": \"{f}\", \"question\": \"q {f}\", \"options\": [\"a\", \"b\"], \"answer\": \"a\", \"split\": \"test\"}}\n"))
        .collect();
    std::fs::write(data.join("manifest.jsonl"), rows).unwrap();
    let project = d.path().join("p.medvlm");
    let out = bin().args(["import", "--project"]).arg(&project).arg(&data).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("truncated JPEG") && stderr.contains("does not decode"), "{stderr}");
    let p = Project::open(&project).unwrap();
    assert_eq!(p.stats().unwrap().unreadable_images, 2);
    drop(p);
    // Evaluation skips them by name and goes on with the good one.
    let out = bin()
        .args(["--backend", "cpu", "eval", "--model", "sample", "--split", "test", "--project"])
        .arg(&project)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("skipped folder/half.jpg") && stderr.contains("skipped folder/half.png"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 items of split test"));
}

#[test]
fn damaged_projects_say_what_sqlite_said_and_damaged_rows_do_not_block() {
    let d = tempdir();
    let project = super::common::sample_copy(d.path());
    // A truncated file is damaged, not "another kind of file" (which a user may delete).
    let truncated = d.path().join("truncated.medvlm");
    let bytes = std::fs::read(&project).unwrap();
    std::fs::write(&truncated, &bytes[..1000]).unwrap();
    let out = bin().args(["info", "--project"]).arg(&truncated).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("SQLite") && !stderr.contains("not a MedVLM project"), "{stderr}");
    // One undecodable row: info names it; filters and exports still work on the rest.
    let conn = rusqlite::Connection::open(&project).unwrap();
    conn.execute("UPDATE items SET options_json = '{broken' WHERE id = 5", []).unwrap();
    drop(conn);
    let out = bin().args(["info", "--project"]).arg(&project).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("damaged items  1") && stdout.contains("item 5") && stdout.contains("options_json"),
        "{stdout}"
    );
    let out = bin().args(["curate", "filter", "--split", "test", "--project"]).arg(&project).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = bin()
        .args(["curate", "export", "--format", "jsonl", "--project"])
        .arg(&project)
        .arg("--out")
        .arg(d.path().join("e.jsonl"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.contains("1 damaged items"), "{stderr}");
}

#[test]
fn one_invalid_utf8_line_skips_only_that_record() {
    let d = tempdir();
    let good = "{\"question\": \"ok\", \"options\": \"{\\\"A\\\": \\\"x\\\", \\\"B\\\": \\\"y\\\"}\", \"answer_label\": \"A\", \"answer\": \"x\", \"dataset_name\": \"d\", \"dataset_index\": ";
    let mut jsonl = Vec::new();
    for i in 0..3 {
        jsonl.extend_from_slice(format!("{good}{i}}}\n").as_bytes());
        if i == 0 {
            jsonl.extend_from_slice(b"{\"question\": \"bad \xff\xfe byte\"}\n");
        }
    }
    let path = d.path().join("mixed.jsonl");
    std::fs::write(&path, jsonl).unwrap();
    let mut p = Project::create(&d.path().join("p.medvlm")).unwrap();
    let s = import_paths(&mut p, &[path], &ImportOptions::default(), &NoProgress).unwrap();
    assert_eq!(s.imported(), 3);
    let e = &s.files[0].errors;
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].to_string().contains("mixed.jsonl:2") && e[0].reason.contains("not UTF-8"), "{}", e[0]);
    // The same in a CSV manifest.
    let data = d.path().join("csv");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(fixture("folder/imgs/a.png"), data.join("a.png")).unwrap();
    let mut csv = b"image,question,options,answer\na.png,fine,a|b,a\n".to_vec();
    csv.extend_from_slice(b"a.png,bro\xffken,a|b,a\na.png,also fine,a|b,b\n");
    std::fs::write(data.join("manifest.csv"), csv).unwrap();
    let s = import_paths(&mut p, &[data], &ImportOptions::default(), &NoProgress).unwrap();
    assert_eq!(s.imported(), 2, "{:?}", s.files[0].errors);
    let e = &s.files[0].errors;
    assert!(e.len() == 1 && e[0].to_string().contains("manifest.csv:3") && e[0].reason.contains("UTF-8"), "{e:?}");
}

#[test]
fn dicom_and_nifti_files_are_named_as_such() {
    let d = tempdir();
    let data = d.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut dcm = vec![0u8; 132];
    dcm[128..132].copy_from_slice(b"DICM");
    std::fs::write(data.join("scan.dcm"), &dcm).unwrap();
    let mut nii = vec![0u8; 352];
    nii[0..4].copy_from_slice(&348i32.to_le_bytes());
    nii[344..348].copy_from_slice(b"n+1\0");
    std::fs::write(data.join("brain.nii"), &nii).unwrap();
    // Named on its own, a scan imports as a folder's would: these two are broken, and say so.
    for (f, why) in [("scan.dcm", "DICOM data set cannot be read"), ("brain.nii", "unknown data type 0")] {
        let out =
            bin().args(["import", "--project"]).arg(d.path().join("p.medvlm")).arg(data.join(f)).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(why) && stderr.contains(f), "{stderr}");
        assert!(!stderr.contains("Tiff") && !stderr.contains("Hdr") && !stderr.contains("UTF-8"), "{stderr}");
    }
    // Given as a dataset file of another format, it is named as a scan.
    let out = bin()
        .args(["import", "--format", "medvlm-r1", "--project"])
        .arg(d.path().join("p.medvlm"))
        .arg(data.join("scan.dcm"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("a DICOM/NIfTI scan, not a dataset file") && stderr.contains("scan.dcm"), "{stderr}");
    std::fs::write(
        data.join("manifest.jsonl"),
        "{\"image\": \"scan.dcm\", \"question\": \"q\", \"options\": [\"a\", \"b\"], \"answer\": \"a\"}\n",
    )
    .unwrap();
    let mut p = Project::create(&d.path().join("q.medvlm")).unwrap();
    let s = import_paths(&mut p, &[data], &ImportOptions::default(), &NoProgress).unwrap();
    // Named by a manifest, a DICOM file is read: this one has a marker and nothing else.
    let reason = &s.files[0].errors[0].reason;
    assert!(reason.contains("scan.dcm") && reason.contains("data set cannot be read ("), "{reason}");
}

#[test]
fn failed_exports_and_imports_leave_nothing_behind() {
    let d = tempdir();
    let project = super::common::sample_copy(d.path());
    // `images` is a file where the export wants a folder: the export fails half-way.
    let out_dir = d.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    std::fs::write(out_dir.join("images"), "in the way").unwrap();
    let out = bin()
        .args(["curate", "export", "--format", "jsonl", "--project"])
        .arg(&project)
        .arg("--out")
        .arg(out_dir.join("x.jsonl"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let left: Vec<_> = std::fs::read_dir(&out_dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("images")], "no .partial, no card: {left:?}");
    // An import that reads nothing creates no project.
    let fresh = d.path().join("fresh.medvlm");
    let out = bin().args(["import", "--project"]).arg(&fresh).arg(d.path().join("missing.json")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!fresh.exists() && !d.path().join("fresh.medvlm-wal").exists());
}
