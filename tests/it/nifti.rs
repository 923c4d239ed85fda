//! NIfTI on files made by hand (`tests/fixtures/nifti/make_fixtures.py`): NIfTI-1 and -2,
//! Analyze 7.5, gzip, big endian, sform and qform, scaling; the same anatomy in radiological
//! slices along every axis; broken files named; a manifest naming a volume imports its middle
//! axial slice; the scan stacks the viewer scrolls.

use medvlm::io::nifti::{Axis, read};

use super::common::{bin, fixture, tempdir};

fn nii(name: &str) -> std::path::PathBuf {
    fixture(&format!("nifti/{name}"))
}

#[test]
fn every_storage_gives_the_same_radiological_slices() {
    let reference = read(&nii("ras_int16.nii")).unwrap();
    assert_eq!(reference.dims, [4, 3, 2]);
    assert_eq!(reference.spacing, [1.0, 2.0, 3.0]);
    // Axial slice z = 1: the top row is anterior (y = 2), the left column the patient's right (x = 3).
    let axial = reference.slice(Axis::Axial, 1);
    assert_eq!((axial.width, axial.height, axial.spacing), (4, 3, (2.0, 1.0)));
    assert_eq!(axial.values[0], 123.0);
    assert_eq!(axial.values[11], 100.0);
    // Coronal: superior at the top (z = 1), right on the left.
    let coronal = reference.slice(Axis::Coronal, 0);
    assert_eq!((coronal.width, coronal.height, coronal.values[0]), (4, 2, 103.0));
    // Sagittal: superior at the top, anterior on the left.
    let sagittal = reference.slice(Axis::Sagittal, 0);
    assert_eq!((sagittal.width, sagittal.height, sagittal.values[0]), (3, 2, 120.0));
    for (f, orientation, version) in [
        ("lps_float32.nii.gz", "LPS", 1),
        ("qform_uint8.nii", "LPS", 1),
        ("nifti2_float64.nii", "RAS", 2),
        ("big_endian_int16.nii", "RAS", 1),
        ("analyze_way_int16.nii", "LAS", 1),
        ("analyze_int16.hdr", "LAS", 0),
    ] {
        let v = read(&nii(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!((v.orientation().as_str(), v.version), (orientation, version), "{f}");
        for axis in Axis::ALL {
            assert_eq!(v.slices(axis), reference.slices(axis), "{f} {axis:?}");
            for i in 0..v.slices(axis) {
                assert_eq!(v.slice(axis, i), reference.slice(axis, i), "{f}: {axis:?} slice {i}");
            }
        }
    }
}

#[test]
fn broken_volumes_are_named_with_the_reason() {
    for (f, why) in [("truncated.nii.gz", "truncated"), ("complex64.nii", "unsupported data type 32")] {
        let e = read(&nii(f)).unwrap_err().to_string();
        assert!(e.contains(f) && e.contains(why), "{e}");
    }
    let o = bin().args(["nifti", "info"]).arg(nii("ras_int16.nii")).arg(nii("complex64.nii")).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("NIfTI-1 4x3x2 int16") && out.contains("RAS (sform)"), "{out}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("complex64.nii"));
}

/// A manifest naming a volume imports its middle axial slice as the item's image, with the
/// window, slice, orientation and spacing kept; the viewer's stack has the three axes.
#[test]
fn a_manifest_of_volumes_imports_and_the_viewer_gets_every_axis() {
    let d = tempdir();
    let data = d.path().join("vols");
    std::fs::create_dir_all(&data).unwrap();
    for f in ["lps_float32.nii.gz", "truncated.nii.gz"] {
        std::fs::copy(nii(f), data.join(f)).unwrap();
    }
    std::fs::write(
        data.join("manifest.csv"),
        "image,question,answer,modality\nlps_float32.nii.gz,Which lobe?,left,MRI\ntruncated.nii.gz,Broken?,yes,MRI\n",
    )
    .unwrap();
    let project = d.path().join("p.medvlm");
    let o = bin().args(["import", "--project"]).arg(&project).arg(&data).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("truncated.nii.gz") && err.contains("truncated"), "{err}");
    let p = medvlm::store::Project::open(&project).unwrap();
    let items = p.items().unwrap();
    assert_eq!(items.len(), 1);
    let it = &items[0].1;
    assert_eq!(it.meta["nifti"]["orientation"], "LPS");
    assert_eq!((it.meta["nifti"]["slice"].as_u64(), it.meta["nifti"]["slices"].as_u64()), (Some(1), Some(2)));
    assert_eq!(it.meta["pixel_spacing"], serde_json::json!([2.0, 1.0]));
    let png = p.resolve_image(&it.images[0].path);
    let (_, h, w) = medvlm::io::images::read_rgb(&png).unwrap();
    assert_eq!((w, h), (4, 3));
    let src = it.meta[medvlm::io::import::SCAN_SOURCE].as_str().unwrap();
    let scan = medvlm::imaging::scan::load(std::path::Path::new(src)).unwrap();
    let names: Vec<&str> = scan.stacks.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["axial", "coronal", "sagittal"]);
    assert_eq!(scan.stacks[0].slices[1].values[0], 123.0, "the viewer windows the volume's values");
    assert_eq!(scan.start, 1);
}

#[test]
fn a_dicom_file_opens_as_its_series_in_position_order() {
    let d = tempdir();
    for f in ["series_a.dcm", "series_b.dcm", "series_c.dcm"] {
        std::fs::copy(fixture(&format!("dicom/series/{f}")), d.path().join(f)).unwrap();
    }
    std::fs::write(d.path().join("notes.txt"), "not dicom").unwrap();
    // Another series of the same size and modality in the folder is not scrolled into.
    let mut other = dicom_object::open_file(fixture("dicom/series/series_b.dcm")).unwrap();
    other.put_str(dicom_dictionary_std::tags::SERIES_INSTANCE_UID, dicom_core::VR::UI, "1.2.826.0.1.3680043.8.498.2");
    other.write_to_file(d.path().join("other_series.dcm")).unwrap();
    // Nor is a file without a Series Instance UID (an ACR-NEMA-era file), which is a series of its own.
    let mut bare = dicom_object::open_file(fixture("dicom/series/series_b.dcm")).unwrap();
    bare.remove_element(dicom_dictionary_std::tags::SERIES_INSTANCE_UID);
    bare.write_to_file(d.path().join("no_series_uid.dcm")).unwrap();
    let alone = medvlm::imaging::scan::load(&d.path().join("no_series_uid.dcm")).unwrap();
    assert_eq!(alone.stacks[0].slices.len(), 1);
    let scan = medvlm::imaging::scan::load(&d.path().join("series_a.dcm")).unwrap();
    assert!(scan.skipped.is_empty(), "{:?}", scan.skipped);
    let s = &scan.stacks[0];
    assert_eq!((s.name.as_str(), s.slices.len()), ("series", 3));
    assert!(s.labels[0].contains("z = 0.0") && s.labels[2].contains("z = 20.0"), "{:?}", s.labels);
    assert!(scan.tags.iter().any(|t| t.keyword == "PatientName" && t.value.contains("hidden")));
    let multi = medvlm::imaging::scan::load(&fixture("dicom/ct_multiframe.dcm")).unwrap();
    assert_eq!((multi.stacks[0].name.as_str(), multi.stacks[0].slices.len(), multi.start), ("frames", 3, 1));
    assert_eq!(multi.stacks[0].slices[2].values[0], 200.0 - 1024.0, "HU, not 8-bit");
}

/// A 4-D file reads volume by volume (the viewer's volume slider, `nifti render --volume`); a
/// two-file NIfTI (`.hdr` + `.img`) reads as the single file with the same voxels, named by either
/// of its files.
#[test]
fn a_4d_series_reads_each_volume_and_a_two_file_pair_reads_as_one() {
    use medvlm::io::nifti::read_volume;
    let v = read_volume(&nii("series_4d_int16.nii.gz"), 2).unwrap();
    assert_eq!((v.volumes, v.volume, v.dims), (3, 2, [4, 3, 2]));
    // Voxel (1, 2, 1): a = 1 + 20 + 100, plus 1000 per volume.
    assert_eq!(v.data[1 + 2 * 4 + 4 * 3], 2121.0);
    let past = read_volume(&nii("series_4d_int16.nii.gz"), 3).unwrap_err().to_string();
    assert!(past.contains("volume 4 asked for, the file has 3") && past.contains("series_4d_int16"), "{past}");
    let scan = medvlm::imaging::scan::load_volume(&nii("series_4d_int16.nii.gz"), 1).unwrap();
    assert_eq!((scan.volume, scan.volumes), (1, 3));
    assert!(!scan.window_from_file, "no cal_min/cal_max: the window spans the data, and says so");
    assert!(scan.summary.contains("volume 2 of 3"), "{}", scan.summary);
    let pair = read(&nii("pair_int16.hdr")).unwrap();
    assert_eq!(pair.data, read(&nii("big_endian_int16.nii")).unwrap().data);
    // The image file named instead of the header reads through the header beside it (NIfTI and
    // Analyze pairs), and a folder of pairs makes one item of each, not two.
    assert_eq!(read(&nii("pair_int16.img")).unwrap().data, pair.data);
    let analyze = read(&nii("analyze_int16.hdr")).unwrap();
    assert_eq!(read(&nii("analyze_int16.img")).unwrap().data, analyze.data);
    let d = tempdir();
    let folder = d.path().join("pairs");
    std::fs::create_dir_all(&folder).unwrap();
    for f in ["pair_int16.hdr", "pair_int16.img", "analyze_int16.hdr", "analyze_int16.img"] {
        std::fs::copy(nii(f), folder.join(f)).unwrap();
    }
    let project = d.path().join("p.medvlm");
    let o = bin().args(["import", "--project"]).arg(&project).arg(&folder).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(medvlm::store::Project::open(&project).unwrap().items().unwrap().len(), 2);
    std::fs::copy(nii("pair_int16.hdr"), d.path().join("alone.hdr")).unwrap();
    let alone = read(&d.path().join("alone.hdr")).unwrap_err().to_string();
    assert!(alone.contains("without its .img") && alone.contains("alone.hdr"), "{alone}");
    let out = d.path().join("v2.png");
    let o = bin()
        .args(["nifti", "render", "--volume", "2", "--out"])
        .arg(&out)
        .arg(nii("series_4d_int16.nii.gz"))
        .output()
        .unwrap();
    assert!(o.status.success() && out.is_file(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A folder of BIDS-named volumes imports with the modality the names say (the NIfTI header does
/// not say it): `_T1w` and `_bold` are MRI, a name outside BIDS stays Other.
#[test]
fn bids_names_give_the_modality_of_imported_volumes() {
    let d = tempdir();
    let data = d.path().join("bids");
    std::fs::create_dir_all(&data).unwrap();
    for name in ["sub-01_T1w.nii", "sub-01_task-rest_bold.nii.gz", "brain.nii"] {
        let src = if name.ends_with(".gz") { "lps_float32.nii.gz" } else { "ras_int16.nii" };
        std::fs::copy(nii(src), data.join(name)).unwrap();
    }
    let project = d.path().join("p.medvlm");
    let o = bin().args(["import", "--project"]).arg(&project).arg(&data).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let p = medvlm::store::Project::open(&project).unwrap();
    let mut got: Vec<(String, medvlm::domain::Modality)> = p
        .items()
        .unwrap()
        .into_iter()
        .map(|(_, i)| {
            (
                i.meta[medvlm::io::import::SCAN_SOURCE].as_str().unwrap().rsplit('/').next().unwrap().to_string(),
                i.modality,
            )
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    use medvlm::domain::Modality::{Mri, Other};
    assert_eq!(
        got,
        [("brain.nii".into(), Other), ("sub-01_T1w.nii".into(), Mri), ("sub-01_task-rest_bold.nii.gz".into(), Mri)]
    );
}
