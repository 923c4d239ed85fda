//! Patient data in DICOM headers, by PS3.15 Annex E (the Basic Application Level Confidentiality
//! Profile): which of its attributes a file carries, named by keyword only. A value is never read
//! into a message, a log line or an error: detection reports names, and removal replaces the
//! values. Best effort: burned-in text and free text elsewhere are not found this way.

use dicom_core::Tag;

/// The Basic Profile attributes checked: `(group, element, keyword)`. Identifiers, names,
/// addresses, dates and times, institution and staff, accession and study numbers, device and
/// station, and the instance UIDs (which can link a file back to its patient).
pub const BASIC_PROFILE: &[(u16, u16, &str)] = &[
    (0x0008, 0x0020, "StudyDate"),
    (0x0008, 0x0021, "SeriesDate"),
    (0x0008, 0x0022, "AcquisitionDate"),
    (0x0008, 0x0023, "ContentDate"),
    (0x0008, 0x0030, "StudyTime"),
    (0x0008, 0x0050, "AccessionNumber"),
    (0x0008, 0x0080, "InstitutionName"),
    (0x0008, 0x0081, "InstitutionAddress"),
    (0x0008, 0x0090, "ReferringPhysicianName"),
    (0x0008, 0x0092, "ReferringPhysicianAddress"),
    (0x0008, 0x1010, "StationName"),
    (0x0008, 0x1040, "InstitutionalDepartmentName"),
    (0x0008, 0x1048, "PhysiciansOfRecord"),
    (0x0008, 0x1050, "PerformingPhysicianName"),
    (0x0008, 0x1060, "NameOfPhysiciansReadingStudy"),
    (0x0008, 0x1070, "OperatorsName"),
    (0x0008, 0x0018, "SOPInstanceUID"),
    (0x0010, 0x0010, "PatientName"),
    (0x0010, 0x0020, "PatientID"),
    (0x0010, 0x0030, "PatientBirthDate"),
    (0x0010, 0x0032, "PatientBirthTime"),
    (0x0010, 0x1000, "OtherPatientIDs"),
    (0x0010, 0x1001, "OtherPatientNames"),
    (0x0010, 0x1010, "PatientAge"),
    (0x0010, 0x1040, "PatientAddress"),
    (0x0010, 0x2154, "PatientTelephoneNumbers"),
    (0x0010, 0x4000, "PatientComments"),
    (0x0018, 0x1000, "DeviceSerialNumber"),
    (0x0020, 0x000D, "StudyInstanceUID"),
    (0x0020, 0x000E, "SeriesInstanceUID"),
    (0x0020, 0x0010, "StudyID"),
    (0x0020, 0x0052, "FrameOfReferenceUID"),
    (0x0032, 0x1032, "RequestingPhysician"),
    (0x0040, 0x0244, "PerformedProcedureStepStartDate"),
    // More of Table E.1-1: instance creation, the other dates and times, descriptions and
    // comments (free text), the patient's demographics, device and request identifiers, and the
    // UIDs that link instances (nested ones included: de-identification walks the sequences).
    (0x0008, 0x0012, "InstanceCreationDate"),
    (0x0008, 0x0013, "InstanceCreationTime"),
    (0x0008, 0x0014, "InstanceCreatorUID"),
    (0x0008, 0x0015, "InstanceCoercionDateTime"),
    (0x0008, 0x0024, "OverlayDate"),
    (0x0008, 0x0025, "CurveDate"),
    (0x0008, 0x002A, "AcquisitionDateTime"),
    (0x0008, 0x0031, "SeriesTime"),
    (0x0008, 0x0032, "AcquisitionTime"),
    (0x0008, 0x0033, "ContentTime"),
    (0x0008, 0x0094, "ReferringPhysicianTelephoneNumbers"),
    (0x0008, 0x0096, "ReferringPhysicianIdentificationSequence"),
    (0x0008, 0x1030, "StudyDescription"),
    (0x0008, 0x103E, "SeriesDescription"),
    (0x0008, 0x1049, "PhysiciansOfRecordIdentificationSequence"),
    (0x0008, 0x1052, "PerformingPhysicianIdentificationSequence"),
    (0x0008, 0x1062, "PhysiciansReadingStudyIdentificationSequence"),
    (0x0008, 0x1072, "OperatorIdentificationSequence"),
    (0x0008, 0x1080, "AdmittingDiagnosesDescription"),
    (0x0008, 0x1155, "ReferencedSOPInstanceUID"),
    (0x0008, 0x2111, "DerivationDescription"),
    (0x0008, 0x3010, "IrradiationEventUID"),
    (0x0010, 0x0021, "IssuerOfPatientID"),
    (0x0010, 0x0040, "PatientSex"),
    (0x0010, 0x0050, "PatientInsurancePlanCodeSequence"),
    (0x0010, 0x1005, "PatientBirthName"),
    (0x0010, 0x1020, "PatientSize"),
    (0x0010, 0x1030, "PatientWeight"),
    (0x0010, 0x1060, "PatientMotherBirthName"),
    (0x0010, 0x1090, "MedicalRecordLocator"),
    (0x0010, 0x2160, "EthnicGroup"),
    (0x0010, 0x2180, "Occupation"),
    (0x0010, 0x21B0, "AdditionalPatientHistory"),
    (0x0010, 0x21F0, "PatientReligiousPreference"),
    (0x0018, 0x1002, "DeviceUID"),
    (0x0018, 0x1030, "ProtocolName"),
    (0x0018, 0x700A, "DetectorID"),
    (0x0020, 0x0200, "SynchronizationFrameOfReferenceUID"),
    (0x0020, 0x4000, "ImageComments"),
    (0x0020, 0x9161, "ConcatenationUID"),
    (0x0020, 0x9164, "DimensionOrganizationUID"),
    (0x0032, 0x1060, "RequestedProcedureDescription"),
    (0x0032, 0x4000, "StudyComments"),
    (0x0038, 0x0010, "AdmissionID"),
    (0x0040, 0x0241, "PerformedStationAETitle"),
    (0x0040, 0x0245, "PerformedProcedureStepStartTime"),
    (0x0040, 0x0253, "PerformedProcedureStepID"),
    (0x0040, 0x0254, "PerformedProcedureStepDescription"),
    (0x0040, 0x1001, "RequestedProcedureID"),
    (0x0040, 0x2016, "PlacerOrderNumberImagingServiceRequest"),
    (0x0040, 0x2017, "FillerOrderNumberImagingServiceRequest"),
    (0x0040, 0xA124, "UID"),
    (0x0088, 0x0140, "StorageMediaFileSetUID"),
    (0x3006, 0x0024, "ReferencedFrameOfReferenceUID"),
    (0x3006, 0x00C2, "RelatedFrameOfReferenceUID"),
];

/// Modalities whose pixels often carry burned-in text (ultrasound, secondary capture and
/// screenshots, document scans).
pub const BURNED_IN_MODALITIES: &[&str] = &["US", "SC", "OT", "DOC", "XC"];

/// The Basic Profile attributes `present` reports as carrying a non-empty value, by keyword, plus
/// `PrivateTags` when any odd-group (private) element is there.
pub fn detect(present: impl Fn(Tag) -> bool, has_private: bool) -> Vec<&'static str> {
    let mut out: Vec<&'static str> =
        BASIC_PROFILE.iter().filter(|(g, e, _)| present(Tag(*g, *e))).map(|(_, _, k)| *k).collect();
    if has_private {
        out.push("PrivateTags");
    }
    out
}

/// True for a private (odd) group; 0001–0007 are not allowed for private data, but files carry
/// them, and they are treated the same.
pub fn is_private(tag: Tag) -> bool {
    tag.group() % 2 == 1
}

/// Whether the keyword names a Basic Profile attribute.
pub fn is_basic_profile(tag: Tag) -> bool {
    BASIC_PROFILE.iter().any(|(g, e, _)| Tag(*g, *e) == tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_names_attributes_and_private_groups() {
        let present = |t: Tag| t == Tag(0x0010, 0x0010) || t == Tag(0x0008, 0x0050);
        assert_eq!(detect(present, true), ["AccessionNumber", "PatientName", "PrivateTags"]);
        assert!(detect(|_| false, false).is_empty());
        assert!(
            is_private(Tag(0x0009, 0x1010))
                && !is_private(Tag(0x0010, 0x0010))
                && is_private(Tag(0x0001, 0x0001))
                && !is_private(Tag(0x0002, 0x0010))
        );
        assert!(is_basic_profile(Tag(0x0010, 0x0020)) && !is_basic_profile(Tag(0x0028, 0x0010)));
    }
}
