//! The de-identified copy against PS3.15 Table E.1-1: each action (Z empty, D dummy, X remove,
//! U map, X/Z/U* keep and map inside) on a data set written by the test, at the top level and in
//! sequences, with the person names the table does not list removed as well, the file meta
//! group's AE titles, and kept text that quotes the patient's name or a date of the record; the
//! PS3.15 options that keep the patient's characteristics, the UIDs, and keep or shift the dates.

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_object::InMemDicomObject;
use medvlm::io::dicom::read;
use medvlm::io::dicom_deid::{UidMap, deidentify};

use super::common::tempdir;

fn text(tag: Tag, vr: VR, v: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, vr, PrimitiveValue::from(v))
}

fn seq(tag: Tag, items: Vec<InMemDicomObject>) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::SQ, DataSetSequence::from(items))
}

/// The value of `tag` in each item of the sequence `seq`.
fn in_items(o: &InMemDicomObject, seq: Tag, tag: Tag) -> Vec<Option<String>> {
    let items = o.element(seq).unwrap().items().unwrap();
    items.iter().map(|i| i.element_opt(tag).unwrap().map(|e| e.to_str().unwrap().to_string())).collect()
}

/// The codes of a copy's De-identification Method Code Sequence.
fn codes(o: &InMemDicomObject) -> Vec<String> {
    in_items(o, Tag(0x0012, 0x0064), Tag(0x0008, 0x0100)).into_iter().flatten().collect()
}

/// The values the source carries that must not be in the copy, with their tags.
const PHI: &[((u16, u16), VR, &str)] = &[
    ((0x0010, 0x0010), VR::PN, "ROE^RICHARD"),                    // Z
    ((0x0008, 0x0050), VR::SH, "ACC-77123"),                      // Z
    ((0x0008, 0x0080), VR::LO, "St Elsewhere Hospital"),          // X/Z/D
    ((0x0008, 0x0081), VR::ST, "12 Harbour Road"),                // X
    ((0x0008, 0x103E), VR::LO, "chest for Mr Roe"),               // X
    ((0x0018, 0x1030), VR::LO, "Roe follow-up"),                  // X/D
    ((0x0010, 0x2110), VR::LO, "penicillin allergy"),             // X
    ((0x0016, 0x0072), VR::DS, "51.5072"),                        // X (GPS latitude)
    ((0x0008, 0x0201), VR::SH, "+0100"),                          // X
    ((0x0012, 0x0040), VR::LO, "SUBJ-0099"),                      // D
    ((0x0014, 0x2006), VR::PN, "EVALUATOR^EVE"),                  // a person name the table does not list
    ((0x0008, 0x0017), VR::UI, "1.2.826.0.1.3680043.8.498.7001"), // U
];

#[test]
fn every_table_action_is_applied_at_every_depth() {
    let d = tempdir();
    let mut obj = InMemDicomObject::new_empty();
    for &((g, e), vr, v) in PHI {
        obj.put(text(Tag(g, e), vr, v));
    }
    for e in [
        text(Tag(0x0008, 0x0016), VR::UI, "1.2.840.10008.5.1.4.1.1.7"),
        text(Tag(0x0008, 0x0018), VR::UI, "1.2.826.0.1.3680043.8.498.7000"),
        text(Tag(0x0008, 0x0060), VR::CS, "OT"),
        text(Tag(0x0008, 0x0070), VR::LO, "KeptVendor"),
        text(Tag(0x0008, 0x1090), VR::LO, "Model of Richard Roe"), // kept, but quotes the name
        text(Tag(0x0040, 0xA030), VR::DT, "20240317101500"),       // D, a date-time
    ] {
        obj.put(e);
    }
    // Nested: a verifying observer (D: dummy name), an operator (X/Z/D), a referenced image
    // (X/Z/U*: kept, its instance UID mapped).
    let mut observer = InMemDicomObject::new_empty();
    observer.put(text(Tag(0x0040, 0xA075), VR::PN, "VERIFY^VICTOR"));
    observer.put(text(Tag(0x0008, 0x1070), VR::PN, "OPERATOR^OLGA"));
    obj.put(seq(Tag(0x0040, 0xA073), vec![observer.clone()])); // D on a sequence: removed
    // A kept code meaning that quotes the patient's name is removed; one that only holds a longer
    // word beginning the same way is not.
    observer.put(text(Tag(0x0008, 0x0104), VR::LO, "CT chest for Roe"));
    let mut other = InMemDicomObject::new_empty();
    other.put(text(Tag(0x0008, 0x0104), VR::LO, "Richardson view"));
    obj.put(seq(Tag(0x0040, 0x0260), vec![observer, other])); // not listed: walked
    let mut image = InMemDicomObject::new_empty();
    image.put(text(Tag(0x0008, 0x1150), VR::UI, "1.2.840.10008.5.1.4.1.1.2"));
    image.put(text(Tag(0x0008, 0x1155), VR::UI, "1.2.826.0.1.3680043.8.498.7002"));
    obj.put(seq(Tag(0x0008, 0x1140), vec![image]));
    for (t, v) in [(0x0010, 1u16), (0x0011, 1), (0x0002, 1), (0x0100, 8), (0x0101, 8), (0x0102, 7), (0x0103, 0)] {
        obj.put(DataElement::new(Tag(0x0028, t), VR::US, PrimitiveValue::from(v)));
    }
    obj.put(text(Tag(0x0028, 0x0004), VR::CS, "MONOCHROME2"));
    obj.put(DataElement::new(Tag(0x7FE0, 0x0010), VR::OB, PrimitiveValue::U8(vec![7, 0].into())));
    let meta = dicom_object::meta::FileMetaTableBuilder::new()
        .transfer_syntax("1.2.840.10008.1.2.1")
        .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.7")
        .media_storage_sop_instance_uid("1.2.826.0.1.3680043.8.498.7000")
        .source_application_entity_title("ROE_WARD_CT");
    let src = d.path().join("src.dcm");
    obj.with_meta(meta).unwrap().write_to_file(&src).unwrap();
    let before = read(&src).unwrap().phi;
    for name in ["PatientName", "InstitutionName", "Allergies", "GPSLatitude", "AcquisitionUID"] {
        assert!(before.contains(&name), "{name} detected: {before:?}");
    }

    // The attribute browser hides listed values, person names, and kept text that quotes the name.
    let rows = medvlm::io::dicom::tag_rows(&src).unwrap();
    let shown = |t: &str| rows.iter().find(|r| r.tag == t).map(|r| r.value.clone()).unwrap();
    assert_eq!(shown("(0008,1090)"), "(hidden: quotes patient data)");
    assert_eq!(shown("(0008,0070)"), "KeptVendor");
    assert!(shown("(0010,0010)").starts_with("(hidden") && shown("(0014,2006)").starts_with("(hidden"));

    let mut uids = UidMap::with_secret([3; 32]);
    deidentify(&src, &d.path().join("copy.dcm"), &mut uids, &[], &Default::default()).unwrap();
    let bytes = std::fs::read(d.path().join("copy.dcm")).unwrap();
    let found = |s: &str| bytes.windows(s.len()).any(|w| w == s.as_bytes());
    for &(_, _, v) in PHI {
        assert!(!found(v), "{v} left in the copy");
    }
    for v in ["ROE_WARD_CT", "VERIFY^VICTOR", "OPERATOR^OLGA", "20240317101500", "1.2.826.0.1.3680043.8.498.7002"] {
        assert!(!found(v), "{v} left in the copy");
    }
    let copy = dicom_object::open_file(d.path().join("copy.dcm")).unwrap();
    let value = |o: &InMemDicomObject, g, e| o.element_opt(Tag(g, e)).unwrap().map(|e| e.to_str().unwrap().to_string());
    let top: &InMemDicomObject = &copy;
    assert_eq!(value(top, 0x0010, 0x0010).as_deref(), Some(""), "Z: kept, empty");
    assert_eq!(value(top, 0x0008, 0x0050).as_deref(), Some(""), "Z: kept, empty");
    assert_eq!(value(top, 0x0008, 0x0080), None, "X: removed");
    assert_eq!(value(top, 0x0014, 0x2006), None, "an unlisted person name: removed");
    assert_eq!(value(top, 0x0012, 0x0040).as_deref(), Some("ANONYMIZED"), "D: a dummy");
    assert_eq!(value(top, 0x0040, 0xA030).as_deref(), Some("19000101000000"), "D: a dummy date-time");
    assert_eq!(value(top, 0x0008, 0x0017), Some(uids.map("1.2.826.0.1.3680043.8.498.7001")), "U: mapped");
    assert_eq!(value(top, 0x0008, 0x0070).as_deref(), Some("KeptVendor"), "not listed: kept");
    assert_eq!(value(top, 0x0008, 0x1090), None, "kept text quoting the name: removed");
    assert!(copy.element_opt(Tag(0x0040, 0xA073)).unwrap().is_none(), "D on a sequence: removed");
    let walked = copy.element(Tag(0x0040, 0x0260)).unwrap().items().unwrap()[0].clone();
    assert_eq!(value(&walked, 0x0040, 0xA075).as_deref(), Some("ANONYMOUS"), "D, nested: a dummy name");
    assert_eq!(value(&walked, 0x0008, 0x1070), None, "X/Z/D, nested: removed");
    assert_eq!(value(&walked, 0x0008, 0x0104), None, "kept text quoting the patient's name: removed");
    let other = copy.element(Tag(0x0040, 0x0260)).unwrap().items().unwrap()[1].clone();
    assert_eq!(value(&other, 0x0008, 0x0104).as_deref(), Some("Richardson view"), "a longer word: kept");
    let image = copy.element(Tag(0x0008, 0x1140)).unwrap().items().unwrap()[0].clone();
    assert_eq!(value(&image, 0x0008, 0x1155), Some(uids.map("1.2.826.0.1.3680043.8.498.7002")), "U*: mapped inside");
    assert_eq!(value(&image, 0x0008, 0x1150).as_deref(), Some("1.2.840.10008.5.1.4.1.1.2"), "a class UID is kept");
}

/// A copy of `ct_explicit_le.dcm` with the patient's characteristics and dates set, written to `dir`.
fn with_dates(dir: &std::path::Path, name: &str, study_date: &str) -> std::path::PathBuf {
    let mut obj = dicom_object::open_file(super::common::fixture("dicom/ct_explicit_le.dcm")).unwrap();
    for (tag, vr, v) in [
        ((0x0010, 0x0040), VR::CS, "F"),
        ((0x0010, 0x1010), VR::AS, "054Y"),
        ((0x0010, 0x1030), VR::DS, "61.5"),
        ((0x0010, 0x2110), VR::LO, "penicillin allergy"),
        ((0x0010, 0x0030), VR::DA, "19700101"),
        ((0x0008, 0x0020), VR::DA, study_date),
        ((0x0008, 0x0030), VR::TM, "101500"),
        ((0x0008, 0x002A), VR::DT, &format!("{study_date}101733.25")),
        ((0x0008, 0x0021), VR::DA, "2024"),
        ((0x0008, 0x1010), VR::SH, "CT-ROOM-3"),
    ] {
        obj.put(text(Tag(tag.0, tag.1), vr, v));
    }
    // Text the table keeps (a code meaning), quoting the study date and the birth date.
    let mut region = InMemDicomObject::new_empty();
    let (y, m, d) = (&study_date[..4], &study_date[4..6], &study_date[6..]);
    region.put(text(Tag(0x0008, 0x0104), VR::LO, &format!("as on {d}/{m}/{y}")));
    let mut born = InMemDicomObject::new_empty();
    born.put(text(Tag(0x0008, 0x0104), VR::LO, "born 1970-01-01"));
    let mut plain = InMemDicomObject::new_empty();
    plain.put(text(Tag(0x0008, 0x0104), VR::LO, "Chest"));
    obj.put(seq(Tag(0x0008, 0x2218), vec![region, born, plain]));
    let path = dir.join(name);
    obj.write_to_file(&path).unwrap();
    path
}

/// Retain Patient Characteristics and Retain Longitudinal Temporal Information (Modified Dates):
/// sex, age and weight stay; every date of a patient moves back by the same days (two studies
/// keep their interval), times stay, a date that is not one (a year alone) and the birth date
/// go; the copy names the options in its De-identification Method Code Sequence.
#[test]
fn options_keep_the_patient_characteristics_and_shift_the_dates_per_patient() {
    use medvlm::io::dicom_deid_options::{Dates, DeidOptions};
    let d = tempdir();
    let (first, second) = (with_dates(d.path(), "a.dcm", "20240102"), with_dates(d.path(), "b.dcm", "20240301"));
    let opts = DeidOptions { patient_characteristics: true, dates: Dates::Shifted, ..DeidOptions::default() };
    let mut uids = UidMap::with_secret([5; 32]);
    let value = |o: &InMemDicomObject, g, e| o.element_opt(Tag(g, e)).unwrap().map(|e| e.to_str().unwrap().to_string());
    let mut dates = Vec::new();
    for (src, out) in [(&first, "ca.dcm"), (&second, "cb.dcm")] {
        deidentify(src, &d.path().join(out), &mut uids, &[], &opts).unwrap();
        let copy = dicom_object::open_file(d.path().join(out)).unwrap();
        let top: &InMemDicomObject = &copy;
        assert_eq!(value(top, 0x0010, 0x0040).as_deref(), Some("F"));
        assert_eq!(value(top, 0x0010, 0x1010).as_deref(), Some("054Y"));
        assert_eq!(value(top, 0x0010, 0x1030).as_deref(), Some("61.5"));
        assert_eq!(value(top, 0x0010, 0x2110), None, "allergies: free text, removed");
        assert_eq!(value(top, 0x0010, 0x0030).as_deref(), Some(""), "the birth date: emptied as ever");
        assert_eq!(value(top, 0x0008, 0x0030).as_deref(), Some("101500"), "times stay");
        assert_eq!(value(top, 0x0008, 0x0021), None, "a year alone cannot be shifted: removed");
        let study = value(top, 0x0008, 0x0020).unwrap();
        let acquired = value(top, 0x0008, 0x002A).unwrap();
        assert_eq!(acquired, format!("{study}101733.25"), "a date-time moves with its date");
        assert_eq!(codes(&copy), ["113100", "113107", "113108"]);
        assert_eq!(value(top, 0x0028, 0x0303).as_deref(), Some("MODIFIED"));
        // Free text quoting a date of the record moves with it (in the same spelling); quoting
        // the birth date, it goes.
        let meanings = in_items(&copy, Tag(0x0008, 0x2218), Tag(0x0008, 0x0104));
        let moved = format!("as on {}/{}/{}", &study[6..8], &study[4..6], &study[..4]);
        assert_eq!(meanings, [Some(moved), None, Some("Chest".to_string())]);
        dates.push(study);
    }
    // 2024-01-02 to 2024-03-01 is 59 days; the shifted pair keeps that interval, 1 to 10 years back.
    let leap = |y: i64| y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = |s: &str| -> i64 {
        let (y, m, dd): (i64, usize, i64) =
            (s[..4].parse().unwrap(), s[4..6].parse().unwrap(), s[6..8].parse().unwrap());
        let months = [31, if leap(y) { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        (1..y).map(|k| if leap(k) { 366 } else { 365 }).sum::<i64>() + months[..m - 1].iter().sum::<i64>() + dd
    };
    assert_eq!(days(&dates[1]) - days(&dates[0]), 59, "{dates:?}");
    let back = days("20240102") - days(&dates[0]);
    assert!((365..=3652).contains(&back), "moved back {back} days");
    // Another export (another secret) moves them by other days.
    assert_ne!(UidMap::with_secret([6; 32]).day_shift("MRN-0042"), uids.day_shift("MRN-0042"));
    // Device and institution identity: the station and the institution stay, the patient does not.
    let site = DeidOptions { device_identity: true, institution_identity: true, ..DeidOptions::default() };
    deidentify(&first, &d.path().join("cs.dcm"), &mut uids, &[], &site).unwrap();
    let copy = dicom_object::open_file(d.path().join("cs.dcm")).unwrap();
    let top: &InMemDicomObject = &copy;
    assert_eq!(value(top, 0x0008, 0x1010).as_deref(), Some("CT-ROOM-3"));
    assert_eq!(value(top, 0x0008, 0x0080).as_deref(), Some("Synthetic General"));
    assert_eq!(value(top, 0x0010, 0x0010).as_deref(), Some(""));
    assert_eq!(value(top, 0x0010, 0x0040).as_deref(), Some(""), "sex: emptied without its option");
    assert_eq!(value(top, 0x0028, 0x0303).as_deref(), Some("REMOVED"));
    // With the dates removed, text quoting one goes too.
    let meanings = in_items(top, Tag(0x0008, 0x2218), Tag(0x0008, 0x0104));
    assert_eq!(meanings, [None, None, Some("Chest".to_string())]);
    // Retain UIDs: the study, series and instance UIDs (and the meta group's) stay the source's.
    let source = dicom_object::open_file(&first).unwrap();
    let keep = DeidOptions { uids: true, ..DeidOptions::default() };
    let sop = deidentify(&first, &d.path().join("cu.dcm"), &mut uids, &[], &keep).unwrap();
    let copy = dicom_object::open_file(d.path().join("cu.dcm")).unwrap();
    for (g, e) in [(0x0008, 0x0018), (0x0020, 0x000D), (0x0020, 0x000E)] {
        assert_eq!(value(&copy, g, e), value(&source, g, e), "({g:04X},{e:04X}) kept");
    }
    assert_eq!(Some(sop.clone()), value(&source, 0x0008, 0x0018).map(|u| u.trim_end_matches('\0').to_string()));
    assert_eq!(copy.meta().media_storage_sop_instance_uid.trim_end_matches('\0'), sop);
    assert_eq!(value(&copy, 0x0010, 0x0010).as_deref(), Some(""), "the patient still goes");
    assert_eq!(codes(&copy), ["113100", "113110"]);
    // Without it they are replaced.
    assert_ne!(value(top, 0x0020, 0x000D), value(&source, 0x0020, 0x000D));
    // With the dates kept, only the birth date is removed from free text.
    let full = DeidOptions { dates: Dates::Full, ..DeidOptions::default() };
    deidentify(&first, &d.path().join("cf.dcm"), &mut uids, &[], &full).unwrap();
    let copy = dicom_object::open_file(d.path().join("cf.dcm")).unwrap();
    let meanings = in_items(&copy, Tag(0x0008, 0x2218), Tag(0x0008, 0x0104));
    assert_eq!(meanings, [Some("as on 02/01/2024".to_string()), None, Some("Chest".to_string())]);
    // The command line names a wrong choice.
    let o = super::common::bin()
        .args(["dicom", "deid", "--dates", "sometimes", "--out"])
        .arg(d.path().join("o"))
        .arg(&first)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("--dates sometimes"), "{err}");
}
