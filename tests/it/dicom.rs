//! DICOM reading on files made with pydicom (`tests/fixtures/dicom/make_fixtures.py`): every
//! transfer syntax decoded to the same Hounsfield values, MONOCHROME1, RGB, multi-frame, a series
//! out of order, and the broken files each named with its reason; no patient value in any error.

use medvlm::io::dicom::{Problem, Window, order_series, read, tag_rows};

use super::common::{bin, fixture, tempdir, write_grey16};

fn dcm(name: &str) -> std::path::PathBuf {
    fixture(&format!("dicom/{name}"))
}

/// Stored `x*60 + y*30` with intercept -1024 (see the fixture script).
fn hu(x: usize, y: usize) -> f32 {
    (x * 60 + y * 30) as f32 - 1024.0
}

#[test]
fn every_supported_syntax_decodes_to_the_same_hounsfield_units() {
    let files = [
        "ct_explicit_le",
        "ct_implicit_le",
        "ct_big_endian",
        "ct_deflate",
        "ct_rle",
        "ct_j2k",
        "ct_jpegls",
        "ct_jpeg_lossless_sv1",
        "ct_jpeg_lossless_p6",
        "ct_j2k_lossy",
        "ct_htj2k",
        "ct_encapsulated_uncompressed",
        // Not proper Part 10: no preamble or meta group; implicit VR under an explicit VR label.
        "ct_bare_dataset",
        "ct_mislabelled_implicit",
    ];
    for f in files {
        let img = read(&dcm(&format!("{f}.dcm"))).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!((img.rows, img.cols, img.frames()), (32, 32, 1), "{f}");
        let v = &img.grey[0];
        for (x, y) in [(0, 0), (2, 1), (31, 31)] {
            assert_eq!(v[y * 32 + x], hu(x, y), "{f} at ({x},{y})");
        }
        assert_eq!(img.window, Some(Window::linear(40.0, 400.0)), "{f}");
        assert_eq!(img.pixel_spacing, Some((0.5, 0.75)), "{f}");
        assert_eq!(img.modality, "CT");
        for k in ["PatientName", "PatientID", "PatientBirthDate", "InstitutionName", "AccessionNumber", "PrivateTags"] {
            assert!(img.phi.contains(&k), "{f}: {k} not detected in {:?}", img.phi);
        }
    }
    // The file's soft-tissue window: -1024 HU is black, +240 HU (centre + width/2) and above white.
    let img = read(&dcm("ct_explicit_le.dcm")).unwrap();
    let rgb = img.render(0, None).unwrap();
    assert_eq!(rgb[0], 0);
    let bright = (31 * 32 + 31) * 3;
    assert_eq!(rgb[bright], 255);
    // A lung window shows the air gradient the soft-tissue window clips.
    let lung = img.render(0, Some(Window::linear(-600.0, 1500.0))).unwrap();
    assert!(lung[0] > 0 && lung[3 * 2] > lung[0]);
}

#[test]
fn lossy_jpeg_monochrome1_rgb_and_frames() {
    let jpeg = read(&dcm("xr_jpeg_baseline.dcm")).unwrap();
    let v = &jpeg.grey[0];
    for x in [0, 10, 31] {
        assert!((v[5 * 32 + x] - (x * 8) as f32).abs() <= 8.0, "JPEG baseline near its source at x={x}: {}", v[x]);
    }
    let m1 = read(&dcm("cr_monochrome1.dcm")).unwrap();
    assert!(m1.monochrome1);
    let r = m1.render(0, None).unwrap();
    assert_eq!(r[0], 255, "MONOCHROME1: the lowest value is white");
    assert_eq!(r[31 * 3], 0);
    let rgb = read(&dcm("ot_rgb.dcm")).unwrap();
    assert_eq!(&rgb.render(0, None).unwrap()[..6], &[200, 0, 0, 200, 0, 30]);
    assert!(rgb.burned_in, "secondary capture / OT is flagged for burned-in text");
    let mf = read(&dcm("ct_multiframe.dcm")).unwrap();
    assert_eq!(mf.frames(), 3);
    assert_eq!(mf.grey[2][0], 200.0 - 1024.0);
}

#[test]
fn jpeg_ls_near_lossless_and_colour_in_every_interleave_mode() {
    let near = read(&dcm("ct_jpegls_near2.dcm")).unwrap();
    let worst = (0..32 * 32).map(|i| (near.grey[0][i] - hu(i % 32, i / 32)).abs()).fold(0.0, f32::max);
    assert!(worst <= 2.0, "NEAR = 2 bounds the error: {worst}");
    assert!(worst > 0.0, "near-lossless is lossy on this slice");
    let (noise, raw) = (read(&dcm("mr_noise_jpegls.dcm")).unwrap(), read(&dcm("mr_noise_raw.dcm")).unwrap());
    assert_eq!(noise.grey, raw.grey, "12-bit noise with flat bands: lossless, every value");
    for mode in 0..3 {
        let img = read(&dcm(&format!("ot_rgb_jpegls_ilv{mode}.dcm"))).unwrap_or_else(|e| panic!("mode {mode}: {e}"));
        let rgb = img.render(0, None).unwrap();
        for (x, y) in [(0, 0), (2, 1), (7, 7)] {
            let i = (y * 8 + x) * 3;
            assert_eq!(&rgb[i..i + 3], &[200, (y * 20) as u8, (x * 30) as u8], "interleave mode {mode} at ({x},{y})");
        }
    }
}

/// 12-bit JPEG (extended, process 4), which the JPEG crates refuse: our decoder against the
/// source image (quantised by 2, so lossy), with and without restart markers.
#[test]
fn twelve_bit_jpeg_decodes_with_and_without_restart_markers() {
    let source = |x: usize, y: usize| {
        let disc = (x as f32 - 20.0).powi(2) + (y as f32 - 12.0).powi(2) < 49.0;
        (100 + x * 60 + y * 20) as f32 + if disc { 1500.0 } else { 0.0 } - 1024.0
    };
    let plain = read(&dcm("ct_jpeg12.dcm")).unwrap();
    assert_eq!((plain.rows, plain.cols), (24, 40));
    let worst = (0..24 * 40).map(|i| (plain.grey[0][i] - source(i % 40, i / 40)).abs()).fold(0.0, f32::max);
    assert!(worst <= 2.0, "12-bit JPEG within 2 of its source: {worst}");
    let restarted = read(&dcm("ct_jpeg12_restart.dcm")).unwrap();
    assert_eq!(plain.grey, restarted.grey, "restart markers change nothing");
}

#[test]
fn odd_sample_layouts_decode() {
    let dose = read(&dcm("rtdose_32bit.dcm")).unwrap();
    assert_eq!((dose.frames(), dose.grey[1][15]), (2, 100_015.0), "32-bit samples, frame 2");
    let planar = read(&dcm("ot_rgb_planar.dcm")).unwrap().render(0, None).unwrap();
    assert_eq!(&planar[(8 + 2) * 3..(8 + 2) * 3 + 3], &[200, 20, 60], "planar configuration 1");
    let rle = read(&dcm("ot_rgb_rle_planar1.dcm")).unwrap().render(0, None).unwrap();
    assert_eq!(rle, planar, "RLE ignores planar configuration");
    let ybr = read(&dcm("us_ybr_full_422.dcm")).unwrap().render(0, None).unwrap();
    let greys: Vec<u8> = ybr.chunks(3).take(4).map(|p| p[0]).collect();
    assert_eq!(greys, [100, 110, 120, 130], "YBR_FULL_422: two lumas share a chroma pair");
    let pal = read(&dcm("us_palette.dcm")).unwrap().render(0, None).unwrap();
    assert_eq!(&pal[3 * 3..3 * 3 + 3], &[30, 225, 7], "palette colour: index 30 through the three tables");
    let segmented = read(&dcm("us_palette_segmented.dcm")).unwrap().render(0, None).unwrap();
    assert_eq!(segmented, pal, "segmented tables (discrete, linear, indirect) expand to the same colours");
    let un = read(&dcm("ot_private_un_sequence.dcm")).unwrap();
    assert_eq!(un.grey[0][5], 5.0, "a private UN sequence of undefined length is skipped, not misread");
    assert!(un.phi.contains(&"PatientName") && un.phi.contains(&"PrivateTags"), "{:?}", un.phi);
    let bits = read(&dcm("ot_1bit.dcm")).unwrap();
    assert_eq!(&bits.grey[0][..3], &[0.0, 1.0, 0.0], "1 bit allocated");
}

#[test]
fn a_series_is_ordered_by_position_not_file_name() {
    let mut s: Vec<_> = ["series_a.dcm", "series_b.dcm", "series_c.dcm"]
        .iter()
        .map(|f| (dcm(&format!("series/{f}")), read(&dcm(&format!("series/{f}"))).unwrap()))
        .collect();
    order_series(&mut s);
    let z: Vec<f64> = s.iter().map(|(_, i)| i.position.unwrap()[2]).collect();
    assert_eq!(z, [0.0, 10.0, 20.0]);
    assert_eq!(s.iter().map(|(_, i)| i.instance.unwrap()).collect::<Vec<_>>(), [1, 2, 3]);
}

#[test]
fn broken_and_unsupported_files_are_named_with_the_reason_and_no_patient_value() {
    type Expect = fn(&Problem) -> bool;
    let cases: [(&str, Expect); 4] = [
        ("ct_mpeg2.dcm", |p| matches!(p, Problem::UnsupportedSyntax { uid, .. } if uid == "1.2.840.10008.1.2.4.100")),
        ("ct_truncated.dcm", |p| matches!(p, Problem::BadPixels(_) | Problem::Corrupt(_))),
        ("sr_no_pixels.dcm", |p| matches!(p, Problem::NoPixelData(_))),
        ("not_dicom.dcm", |p| matches!(p, Problem::NotDicom)),
    ];
    for (f, expected) in cases {
        let e = read(&dcm(f)).unwrap_err();
        assert!(expected(&e.problem), "{f}: {e}");
        let text = e.to_string();
        assert!(text.contains(f), "the error names the file: {text}");
        for phi in ["DOE", "JANE", "MRN-0042", "19700101", "Synthetic General", "ACC-123"] {
            assert!(!text.contains(phi), "{f}: a patient value in the error: {text}");
        }
    }
    assert!(read(&dcm("ct_mpeg2.dcm")).unwrap_err().to_string().contains("MPEG2"));
}

#[test]
fn the_tag_browser_and_the_cli_hide_patient_values() {
    let rows = tag_rows(&dcm("ct_explicit_le.dcm")).unwrap();
    let name = rows.iter().find(|r| r.keyword == "PatientName").unwrap();
    assert_eq!(name.value, "(hidden: patient data)");
    assert!(rows.iter().any(|r| r.keyword == "Modality" && r.value == "CT"));
    assert!(rows.iter().any(|r| r.keyword == "Private"));
    let mut files: Vec<std::path::PathBuf> =
        std::fs::read_dir(fixture("dicom")).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    files.sort();
    let o = bin().arg("dicom").arg("info").args(&files).output().unwrap();
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "some fixtures are broken on purpose");
    assert!(out.contains("ct_rle.dcm: RLE Lossless CT 32x32") && out.contains("patient data: "), "{out}");
    assert!(err.contains("ct_mpeg2.dcm") && err.contains("unsupported transfer syntax"), "{err}");
    let t = bin().args(["dicom", "tags", "--search", "patient"]).arg(dcm("ct_explicit_le.dcm")).output().unwrap();
    let tags = String::from_utf8_lossy(&t.stdout);
    assert!(tags.contains("PatientName") && tags.contains("hidden"), "{tags}");
    for text in [&*out, &*err, &*tags] {
        for phi in ["DOE", "MRN-0042", "19700101", "ACC-123", "private note"] {
            assert!(!text.contains(phi), "a patient value printed: {text}");
        }
    }
}

/// A manifest naming DICOM files imports them as items: each rendered through its window to a
/// PNG in the project (named by its hash), the window, frame, spacing and the patient attributes'
/// names kept with the item, `phi:detected` tagged; no header value reaches the project file or
/// an export, and an undecodable file is the named error of its row.
#[test]
fn a_manifest_of_dicom_files_imports_renderings_without_patient_values() {
    let d = super::common::tempdir();
    let data = d.path().join("scans");
    std::fs::create_dir_all(&data).unwrap();
    for f in ["ct_explicit_le.dcm", "ct_multiframe.dcm", "ct_mpeg2.dcm", "ot_rgb.dcm"] {
        std::fs::copy(dcm(f), data.join(f)).unwrap();
    }
    std::fs::write(
        data.join("manifest.csv"),
        "image,question,options,answer\nct_explicit_le.dcm,Is there a fracture?,Yes|No,B\n\
         ct_multiframe.dcm,Is the liver enlarged?,Yes|No,A\nct_mpeg2.dcm,Is this normal?,Yes|No,A\n\
         ot_rgb.dcm,Is this a screenshot?,Yes|No,A\n",
    )
    .unwrap();
    let project = d.path().join("p.medvlm");
    let o = bin().args(["import", "--project"]).arg(&project).arg(&data).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("ct_mpeg2.dcm") && err.contains("unsupported transfer syntax"), "{err}");
    let p = medvlm::store::Project::open(&project).unwrap();
    let items: Vec<_> = p.items().unwrap().into_iter().map(|(_, i)| i).collect();
    assert_eq!(items.len(), 3);
    let shot = items.iter().find(|i| i.question.contains("screenshot")).unwrap();
    assert!(shot.tags.contains(&"burned-in-text".to_string()), "{:?}", shot.tags);
    for it in items.iter().filter(|i| !i.question.contains("screenshot")) {
        assert_eq!(it.modality, medvlm::domain::Modality::Ct);
        assert!(it.tags.contains(&"phi:detected".to_string()), "{:?}", it.tags);
        assert_eq!(it.meta["dicom"]["window"], serde_json::json!([40.0, 400.0]));
        assert_eq!(it.meta["pixel_spacing"], serde_json::json!([0.5, 0.75]));
        assert!(it.meta["phi_attributes"].as_array().unwrap().iter().any(|k| k == "PatientName"));
        let png = p.resolve_image(&it.images[0].path);
        assert!(png.starts_with(d.path().join("dicom-renders")), "{}", png.display());
        let (rgb, h, w) = medvlm::io::images::read_rgb(&png).unwrap();
        assert_eq!((h, w), (32, 32));
        assert_eq!(rgb[0], 0, "-1024 HU is black in the 40/400 window");
    }
    let multi = items.iter().find(|i| i.question.contains("liver")).unwrap();
    assert_eq!((multi.meta["dicom"]["frame"].as_u64(), multi.meta["dicom"]["frames"].as_u64()), (Some(1), Some(3)));
    drop(p);
    let out = d.path().join("export.jsonl");
    let export = |extra: &[&str]| {
        bin()
            .args(["curate", "export", "--format", "jsonl", "--project"])
            .arg(&project)
            .arg("--out")
            .arg(&out)
            .args(extra)
            .output()
            .unwrap()
    };
    // The PHI gate: the screenshot may show patient text in its pixels.
    let refused = export(&[]);
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && why.contains("1 items may carry patient text"), "{why}");
    assert!(why.contains("--allow-burned-in-text") && !out.exists(), "{why}");
    let e = export(&["--allow-burned-in-text", "--with-dicom"]);
    assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
    // De-identified copies of the source files beside the export, named in the rows.
    let rows = std::fs::read_to_string(&out).unwrap();
    assert_eq!(rows.matches("\"dicom\":\"dicom/2.25.").count(), 3, "{rows}");
    let mut copies: Vec<u8> = Vec::new();
    for f in std::fs::read_dir(d.path().join("dicom")).unwrap() {
        copies.extend(std::fs::read(f.unwrap().path()).unwrap());
    }
    let mut stored = std::fs::read(&project).unwrap();
    stored.extend(std::fs::read(d.path().join("p.medvlm-wal")).unwrap_or_default());
    let exported = std::fs::read(&out).unwrap();
    for phi in ["DOE^JANE", "MRN-0042", "19700101", "ACC-123", "Synthetic General", "private note"] {
        for (what, bytes) in [("project", &stored), ("export", &exported), ("DICOM copies", &copies)] {
            assert!(!bytes.windows(phi.len()).any(|w| w == phi.as_bytes()), "{phi} in the {what}");
        }
    }
    // With the option that keeps the dates, the study date goes out (the birth date never does).
    let dated = d.path().join("dated");
    let o = bin()
        .args(["curate", "export", "--format", "jsonl", "--allow-burned-in-text", "--with-dicom", "--dates", "full"])
        .args(["--project"])
        .arg(&project)
        .arg("--out")
        .arg(dated.join("x.jsonl"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let copy = std::fs::read_dir(dated.join("dicom")).unwrap().next().unwrap().unwrap().path();
    let bytes = std::fs::read(copy).unwrap();
    let has = |s: &str| bytes.windows(s.len()).any(|w| w == s.as_bytes());
    assert!(has("20240102") && !has("19700101") && has("113106"), "the study date kept, the birth date not");
}

/// A folder of scans without a manifest (or its DICOMDIR): one item per series (its middle slice
/// in position order), per multi-frame file and per NIfTI volume, each without a question and
/// tagged `needs-question`, which exports and training skip until a question is written; a file
/// without pixels is named.
#[test]
fn a_folder_of_scans_without_a_manifest_imports_items_to_author() {
    let d = tempdir();
    let data = d.path().join("pacs");
    std::fs::create_dir_all(data.join("SERIES1")).unwrap();
    for f in ["series_a.dcm", "series_b.dcm", "series_c.dcm"] {
        std::fs::copy(dcm(&format!("series/{f}")), data.join("SERIES1").join(f.replace(".dcm", ""))).unwrap();
    }
    std::fs::copy(dcm("ct_multiframe.dcm"), data.join("multi.dcm")).unwrap();
    std::fs::copy(dcm("sr_no_pixels.dcm"), data.join("report.dcm")).unwrap();
    std::fs::copy(fixture("nifti/ras_int16.nii"), data.join("brain.nii")).unwrap();
    std::fs::copy(dcm("dicomdir/DICOMDIR"), data.join("DICOMDIR")).unwrap();
    // A second index under another name is found by its SOP class, and said so.
    std::fs::copy(dcm("dicomdir/DICOMDIR"), data.join("DICOMDIR.old")).unwrap();
    for input in [data.clone(), data.join("DICOMDIR")] {
        let project = d.path().join(format!("{}.medvlm", input.file_name().unwrap().to_string_lossy()));
        let o = bin().args(["import", "--project"]).arg(&project).arg(&input).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{err}");
        assert!(err.contains("report.dcm") && err.contains("no pixel data"), "{err}");
        assert!(err.contains("DICOMDIR.old: a DICOMDIR: the files it indexes in this folder are imported"), "{err}");
        let p = medvlm::store::Project::open(&project).unwrap();
        let items: Vec<_> = p.items().unwrap().into_iter().map(|(_, i)| i).collect();
        assert_eq!(items.len(), 3, "{:?}", items.iter().map(|i| &i.uid).collect::<Vec<_>>());
        assert!(items.iter().all(|i| i.is_draft() && i.tags.contains(&"needs-question".to_string())));
        let series = items.iter().find(|i| i.meta.contains_key("series_files")).unwrap();
        assert_eq!(series.meta["series_files"], 3);
        let src = series.meta[medvlm::io::import::SCAN_SOURCE].as_str().unwrap();
        assert!(src.ends_with("series_c"), "the middle slice by position (z = 10), not by name: {src}");
        assert!(items.iter().any(|i| i.meta.contains_key("nifti")));
        drop(p);
        let e = bin()
            .args(["curate", "export", "--format", "jsonl", "--project"])
            .arg(&project)
            .arg("--out")
            .arg(d.path().join("x.jsonl"))
            .output()
            .unwrap();
        let why = String::from_utf8_lossy(&e.stderr);
        assert!(!e.status.success() && why.contains("3 items have no question yet"), "{why}");
    }
    // Writing the question (and an answer) makes it an ordinary item.
    let mut it = medvlm::domain::VqaItem {
        question: "Is there a fracture?".into(),
        answer: medvlm::domain::Answer::Open("no".into()),
        tags: vec!["needs-question".into()],
        ..medvlm::store::Project::open(&d.path().join("pacs.medvlm")).unwrap().items().unwrap()[0].1.clone()
    };
    it.normalize_tags();
    assert!(!it.is_draft() && it.tags.is_empty() && it.validate().is_ok());
}

/// Blacking out burned-in text: the item's image becomes a redacted copy (the original file is
/// untouched), tagged `redacted`, in one action that undo and redo move between.
#[test]
fn a_black_out_is_an_undoable_edit_of_the_image() {
    let d = tempdir();
    let data = d.path().join("sc");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(dcm("ot_rgb.dcm"), data.join("shot.dcm")).unwrap();
    std::fs::write(data.join("manifest.csv"), "image,question,options,answer\nshot.dcm,Is this a report?,Yes|No,A\n")
        .unwrap();
    let project = d.path().join("p.medvlm");
    assert!(bin().args(["import", "--project"]).arg(&project).arg(&data).status().unwrap().success());
    let mut p = medvlm::store::Project::open(&project).unwrap();
    let (id, before) = p.items().unwrap().remove(0);
    let original = p.resolve_image(&before.images[0].path);
    let original_bytes = std::fs::read(&original).unwrap();
    medvlm::curation::redact::black_out_item(&mut p, id, [0.0, 0.0, 2.0, 1.0]).unwrap();
    let after = p.item(id).unwrap();
    assert_ne!(after.images[0].sha256, before.images[0].sha256);
    assert!(after.tags.contains(&"redacted".to_string()) && after.tags.contains(&"burned-in-text".to_string()));
    let copy = p.resolve_image(&after.images[0].path);
    assert!(copy.starts_with(d.path().join("redacted")), "{}", copy.display());
    let (rgb, _, _) = medvlm::io::images::read_rgb(&copy).unwrap();
    let (orig, _, _) = medvlm::io::images::read_rgb(&original).unwrap();
    assert_eq!(&orig[..6], &[200, 0, 0, 200, 0, 30]);
    assert_eq!(&rgb[..6], &[0; 6], "the two pixels of the region are black");
    assert_eq!(&rgb[6..], &orig[6..], "outside the region unchanged");
    assert_eq!(std::fs::read(&original).unwrap(), original_bytes, "the original rendering is untouched");
    p.undo().unwrap().unwrap();
    assert_eq!(p.item(id).unwrap().images, before.images);
    assert!(!p.item(id).unwrap().tags.contains(&"redacted".to_string()));
    p.redo().unwrap().unwrap();
    assert_eq!(p.item(id).unwrap().images[0].sha256, after.images[0].sha256);
    // A second region: the image records both, and the de-identified DICOM copy blacks out both
    // in its pixel data, not only in the rendering.
    medvlm::curation::redact::black_out_item(&mut p, id, [3.0, 2.0, 5.0, 4.0]).unwrap();
    assert_eq!(p.item(id).unwrap().images[0].redacted, vec![[0, 0, 2, 1], [3, 2, 5, 4]]);
    drop(p);
    let out = d.path().join("x.jsonl");
    let e = bin()
        .args(["curate", "export", "--format", "jsonl", "--allow-burned-in-text", "--with-dicom", "--project"])
        .arg(&project)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
    let copy = std::fs::read_dir(d.path().join("dicom")).unwrap().next().unwrap().unwrap().path();
    let (src, clean) = (read(&dcm("ot_rgb.dcm")).unwrap(), read(&copy).unwrap());
    assert_eq!(clean.transfer_syntax.0, "1.2.840.10008.1.2.1");
    let w = src.cols;
    for y in 0..src.rows {
        for x in 0..w {
            let at = (y * w + x) * 3;
            let inside = (x < 2 && y < 1) || ((3..5).contains(&x) && (2..4).contains(&y));
            let want = if inside { [0, 0, 0] } else { [src.rgb[0][at], src.rgb[0][at + 1], src.rgb[0][at + 2]] };
            assert_eq!(clean.rgb[0][at..at + 3], want, "pixel {x},{y}");
        }
    }
    let stamp = b"Clean Pixel Data: 2 region(s) blacked out";
    assert!(std::fs::read(&copy).unwrap().windows(stamp.len()).any(|w| w == stamp), "De-identification Method");
}

/// De-identified copies: no patient value left in the bytes, the same pixels, Patient Identity
/// Removed stamped, UIDs mapped the same way within one export and differently in another.
#[test]
fn deidentified_copies_keep_the_pixels_and_drop_the_patient() {
    use medvlm::io::dicom_deid::{UidMap, deidentify};
    let d = tempdir();
    let mut one = UidMap::with_secret([1; 32]);
    let a =
        deidentify(&dcm("series/series_a.dcm"), &d.path().join("a.dcm"), &mut one, &[], &Default::default()).unwrap();
    let b =
        deidentify(&dcm("series/series_b.dcm"), &d.path().join("b.dcm"), &mut one, &[], &Default::default()).unwrap();
    assert!(a.starts_with("2.25.") && a != b);
    let mut other = UidMap::with_secret([2; 32]);
    let a2 = deidentify(&dcm("series/series_a.dcm"), &d.path().join("a2.dcm"), &mut other, &[], &Default::default())
        .unwrap();
    assert_ne!(a, a2, "another export, other UIDs");
    for f in ["a.dcm", "b.dcm"] {
        let bytes = std::fs::read(d.path().join(f)).unwrap();
        for phi in ["DOE", "MRN-0042", "19700101", "ACC-123", "Synthetic General", "private note"] {
            assert!(!bytes.windows(phi.len()).any(|w| w == phi.as_bytes()), "{phi} left in {f}");
        }
        assert!(bytes.windows(3).any(|w| w == b"YES"), "Patient Identity Removed");
    }
    // The copies still read as the same series, with the same Hounsfield units.
    let (orig, copy) = (read(&dcm("series/series_a.dcm")).unwrap(), read(&d.path().join("a.dcm")).unwrap());
    assert_eq!(orig.grey, copy.grey);
    assert_eq!(copy.position, orig.position);
    let names: Vec<&str> = copy.phi.clone();
    assert!(!names.contains(&"PatientBirthDate") && !names.contains(&"PrivateTags"), "{names:?}");
    let (ha, hb) = (
        medvlm::io::dicom::header(&d.path().join("a.dcm")).unwrap(),
        medvlm::io::dicom::header(&d.path().join("b.dcm")).unwrap(),
    );
    assert_eq!(ha.series, hb.series, "one series stays one series");
    // Sequences are walked: a nested instance UID is remapped, a nested name and private
    // element removed, and the structure kept.
    let n = deidentify(&dcm("ct_nested_phi.dcm"), &d.path().join("n.dcm"), &mut one, &[], &Default::default()).unwrap();
    let bytes = std::fs::read(d.path().join("n.dcm")).unwrap();
    for phi in ["1.2.826.0.1.3680043.8.498.99", "NESTED^OPERATOR", "nested private note", "DOE"] {
        assert!(!bytes.windows(phi.len()).any(|w| w == phi.as_bytes()), "{phi} left in the nested copy");
    }
    let mapped = one.map("1.2.826.0.1.3680043.8.498.99");
    assert!(
        bytes.windows(mapped.len()).any(|w| w == mapped.as_bytes()),
        "the source image's UID is mapped, not dropped"
    );
    assert!(bytes.windows(8).any(|w| w == b"protocol") && n.starts_with("2.25."));
}

/// Clean Pixel Data: the regions are filled with each frame's darkest stored value in every frame
/// (so any window shows them black), the rest keeps its exact values, and the copy is written
/// uncompressed, whatever the source's syntax; a region outside the image is refused by name.
#[test]
fn a_deidentified_copy_blacks_out_regions_in_every_frame() {
    use medvlm::io::dicom_deid::{UidMap, deidentify};
    let d = tempdir();
    let mut uids = UidMap::with_secret([3; 32]);
    for (name, mono1) in [("ct_jpegls.dcm", false), ("ct_multiframe.dcm", false), ("cr_monochrome1.dcm", true)] {
        let out = d.path().join(name);
        deidentify(&dcm(name), &out, &mut uids, &[[2, 3, 10, 8]], &Default::default()).unwrap();
        let (src, clean) = (read(&dcm(name)).unwrap(), read(&out).unwrap());
        assert_eq!(clean.transfer_syntax.0, "1.2.840.10008.1.2.1", "{name}");
        assert_eq!(clean.grey.len(), src.grey.len(), "{name}: every frame");
        for (f, (a, b)) in src.grey.iter().zip(&clean.grey).enumerate() {
            let darkest = a
                .iter()
                .copied()
                .fold(if mono1 { f32::MIN } else { f32::MAX }, |m, v| if mono1 { m.max(v) } else { m.min(v) });
            for (i, (va, vb)) in a.iter().zip(b).enumerate() {
                let (x, y) = (i % src.cols, i / src.cols);
                let inside = (2..10).contains(&x) && (3..8).contains(&y);
                assert_eq!(*vb, if inside { darkest } else { *va }, "{name} frame {f} pixel {x},{y}");
            }
        }
    }
    let e = deidentify(
        &dcm("us_ybr_full_422.dcm"),
        &d.path().join("y.dcm"),
        &mut uids,
        &[[50, 50, 60, 60]],
        &Default::default(),
    );
    let why = e.unwrap_err().to_string();
    assert!(why.contains("us_ybr_full_422.dcm") && why.contains("no region to black out lies inside"), "{why}");
}

/// A CT secondary capture with a caption burned into its pixels (and no Burned In Annotation):
/// import finds the caption in the rendering and tags the item; the bulk black-out covers it,
/// and the de-identified copy written by the export has the caption's pixels at the darkest value.
#[test]
fn text_found_in_a_dicom_rendering_is_blacked_out_of_the_copy() {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    let d = tempdir();
    let data = d.path().join("sc");
    std::fs::create_dir_all(&data).unwrap();
    let (w, h) = (240usize, 180usize);
    // Stored values: air (-1024 HU) around a soft-tissue square, and a caption of eight E-shaped
    // glyphs at 1000 HU below it.
    let mut px: Vec<u16> =
        (0..w * h)
            .map(|i| {
                if (40..200).contains(&(i % w)) && (20..140).contains(&(i / w)) { 1064 + (i % w) as u16 / 4 } else { 0 }
            })
            .collect();
    for g in 0..8 {
        for y in 155..167 {
            for x in 30 + g * 14..39 + g * 14 {
                if x < 32 + g * 14 || y < 157 || (160..162).contains(&y) || y >= 165 {
                    px[y * w + x] = 2024;
                }
            }
        }
    }
    let text = |t, vr, v: &str| DataElement::new(t, vr, PrimitiveValue::from(v));
    let num = |t, v: u16| DataElement::new(t, VR::US, PrimitiveValue::from(v));
    let extra = vec![
        text(tags::SOP_INSTANCE_UID, VR::UI, "1.2.826.0.1.3680043.8.498.4242"),
        text(tags::MODALITY, VR::CS, "CT"),
        text(tags::PATIENT_NAME, VR::PN, "DOE^CAPTION"),
        text(tags::RESCALE_INTERCEPT, VR::DS, "-1024"),
        text(tags::RESCALE_SLOPE, VR::DS, "1"),
        text(tags::WINDOW_CENTER, VR::DS, "40"),
        text(tags::WINDOW_WIDTH, VR::DS, "400"),
        num(tags::BITS_STORED, 12),
        num(tags::HIGH_BIT, 11),
    ];
    let class = ("1.2.840.10008.5.1.4.1.1.7", w, h, false);
    write_grey16(&data.join("sc.dcm"), class, extra, PrimitiveValue::U16(px.into()));
    std::fs::write(data.join("manifest.csv"), "image,question,answer\nsc.dcm,Is this a CT?,yes\n").unwrap();
    let project = d.path().join("p.medvlm");
    assert!(bin().args(["import", "--project"]).arg(&project).arg(&data).status().unwrap().success());
    let it = medvlm::store::Project::open(&project).unwrap().items().unwrap().remove(0).1;
    assert!(it.tags.contains(&"burned-in-text".to_string()), "{:?}", it.tags);
    assert_eq!(it.meta["dicom"]["modality"], "CT", "flagged by its pixels, not its modality");
    let run = |args: &[&str]| {
        let o = bin().args(args).arg("--project").arg(&project).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run(&["curate", "filter", "--tag", "burned-in-text", "--apply", "black-out-text"]);
    let out = d.path().join("x.jsonl");
    run(&[
        "curate",
        "export",
        "--format",
        "jsonl",
        "--with-dicom",
        "--allow-burned-in-text",
        "--out",
        out.to_str().unwrap(),
    ]);
    let copy = std::fs::read_dir(d.path().join("dicom")).unwrap().next().unwrap().unwrap().path();
    let bytes = std::fs::read(&copy).unwrap();
    assert!(!bytes.windows(11).any(|b| b == b"DOE^CAPTION"), "the name is gone");
    let img = read(&copy).unwrap();
    for y in 155..167 {
        for x in 30..141 {
            assert_eq!(img.grey[0][y * w + x], -1024.0, "caption pixel {x},{y} is at the darkest value");
        }
    }
    assert_eq!(img.grey[0][80 * w + 120], 70.0, "the square is unchanged: (1064 + 120 / 4) - 1024 HU");
}
