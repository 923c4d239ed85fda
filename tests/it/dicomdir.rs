//! Importing a DICOMDIR (written by pydicom's FileSet, `tests/fixtures/dicom/make_fixtures.py`):
//! the files its records name are imported, found whatever the case of their names; a file it
//! names that is missing is named, a stray file beside it is not imported, and an index whose
//! files are all elsewhere falls back to the folder, saying so; one scan, or an index under
//! another name, imports on its own.

use super::common::{bin, fixture, tempdir};

/// Copies the fixture's tree under `to`, names in lower case (as a CD copied on Linux often is).
fn copy_lowercase(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().to_string();
        let name = if name == "DICOMDIR" { name } else { name.to_lowercase() };
        if e.path().is_dir() {
            copy_lowercase(&e.path(), &to.join(name));
        } else {
            std::fs::copy(e.path(), to.join(name)).unwrap();
        }
    }
}

#[test]
fn a_dicomdir_imports_the_files_its_records_name() {
    let d = tempdir();
    let media = d.path().join("media");
    copy_lowercase(&fixture("dicom/dicomdir"), &media);
    let series = media.join("pt000000/st000000/se000000");
    std::fs::remove_file(series.join("im000002")).unwrap();
    // Not in the index: left alone.
    std::fs::copy(fixture("dicom/ct_multiframe.dcm"), media.join("stray.dcm")).unwrap();
    // The index itself, or the folder holding it (the GUI picks folders).
    for (name, input) in [("p", media.join("DICOMDIR")), ("f", media.clone())] {
        let project = d.path().join(format!("{name}.medvlm"));
        let o = bin().args(["import", "--project"]).arg(&project).arg(&input).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{err}");
        assert!(err.contains("names PT000000/ST000000/SE000000/IM000002: not there"), "{err}");
        let p = medvlm::store::Project::open(&project).unwrap();
        let items: Vec<_> = p.items().unwrap().into_iter().map(|(_, i)| i).collect();
        assert_eq!(items.len(), 1, "one series, the stray file left out");
        assert_eq!(items[0].meta["series_files"], 2, "the two files there");
    }

    // The index alone, its tree renamed: the folder is walked, and that is said.
    std::fs::rename(media.join("pt000000"), media.join("renamed")).unwrap();
    let project = d.path().join("q.medvlm");
    let o = bin().args(["import", "--project"]).arg(&project).arg(media.join("DICOMDIR")).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("none of the 3 files it names is there: the folder was walked instead"), "{err}");
    let n = medvlm::store::Project::open(&project).unwrap().items().unwrap().len();
    assert_eq!(n, 2, "the series (two files) and the stray multi-frame file");
    // Read as an image, the index says what it is and how to import it.
    let o = bin().args(["dicom", "info"]).arg(media.join("DICOMDIR")).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("a DICOMDIR: import it, or its folder"), "{err}");
}

/// A scan named on its own imports as one item; a DICOMDIR under another name (found by its
/// SOP class) imports the files it indexes.
#[test]
fn a_scan_or_a_renamed_dicomdir_imports_on_its_own() {
    let d = tempdir();
    let media = d.path().join("media");
    copy_lowercase(&fixture("dicom/dicomdir"), &media);
    std::fs::rename(media.join("DICOMDIR"), media.join("index.dcm")).unwrap();
    for (name, input, series_files) in [
        ("one", fixture("dicom/ct_multiframe.dcm"), None),
        ("slice", media.join("pt000000/st000000/se000000/im000001"), None),
        ("index", media.join("index.dcm"), Some(3)),
    ] {
        let project = d.path().join(format!("{name}.medvlm"));
        let o = bin().args(["import", "--project"]).arg(&project).arg(&input).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{name}: {err}");
        let p = medvlm::store::Project::open(&project).unwrap();
        let items: Vec<_> = p.items().unwrap().into_iter().map(|(_, i)| i).collect();
        assert_eq!(items.len(), 1, "{name}");
        assert!(items[0].tags.iter().any(|t| t == medvlm::domain::NEEDS_QUESTION_TAG), "{name}");
        if let Some(n) = series_files {
            assert_eq!(items[0].meta["series_files"], n, "{name}");
        }
    }
}

/// A file that is not a DICOMDIR, under that name, is named with its reason.
#[test]
fn a_dicomdir_without_records_is_named() {
    let d = tempdir();
    std::fs::copy(fixture("dicom/ct_explicit_le.dcm"), d.path().join("DICOMDIR")).unwrap();
    let o = bin()
        .args(["import", "--project"])
        .arg(d.path().join("p.medvlm"))
        .arg(d.path().join("DICOMDIR"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("no Directory Record Sequence: not a DICOMDIR") && err.contains("DICOMDIR"), "{err}");
}

/// `dicom deid DICOMDIR` de-identifies the files the index names, not the index (its records
/// hold the patients' names, and byte offsets a copy would break).
#[test]
fn deid_of_a_dicomdir_copies_the_files_it_names() {
    let d = tempdir();
    let media = d.path().join("media");
    copy_lowercase(&fixture("dicom/dicomdir"), &media);
    let out = d.path().join("out");
    let o = bin().args(["dicom", "deid"]).arg(media.join("DICOMDIR")).arg("--out").arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let copies: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(copies.len(), 3);
    for c in copies {
        let bytes = std::fs::read(&c).unwrap();
        assert!(!bytes.windows(20).any(|w| w == b"1.2.840.10008.1.3.10"), "the index itself is not copied");
        assert!(medvlm::io::dicom::read(&c).is_ok());
    }
}
