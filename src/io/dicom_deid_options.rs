//! The PS3.15 E.3 options a de-identified DICOM copy may be made with, beyond the Basic Profile:
//! Retain Patient Characteristics (age, sex, size, weight, ethnic group, smoking and pregnancy
//! status), Retain Device Identity (station, serial numbers, detector and plate IDs), Retain
//! Institution Identity (institution, department, trial site): the attributes whose Table E.1-1
//! column says K; and Retain Longitudinal Temporal Information, with Full Dates (kept) or Modified
//! Dates (every date of a patient moved back by one number of days, drawn per patient from the
//! export's secret, so intervals between studies stay true); and Retain UIDs (none replaced).
//! The dates are the date and time attributes the table lists, but for the patient's birth date
//! and time, which no option keeps. The codes of CID 7050 name what was done.

use dicom_core::{Tag, VR};

use crate::util::{civil_from_days, days_from_civil};

/// What happens to the dates and times the profile lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dates {
    /// The Basic Profile: removed or emptied.
    #[default]
    Remove,
    /// Retain Longitudinal Temporal Information with Full Dates (113106): kept as they are.
    Full,
    /// ... with Modified Dates (113107): moved back by the patient's number of days; times kept.
    Shifted,
}

impl Dates {
    /// From its command-line name: `remove`, `full` or `shift`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "remove" => Some(Self::Remove),
            "full" | "keep" => Some(Self::Full),
            "shift" | "shifted" | "modified" => Some(Self::Shifted),
            _ => None,
        }
    }
}

/// The options of one export's copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct DeidOptions {
    /// Retain Patient Characteristics (113108).
    pub patient_characteristics: bool,
    /// Retain Device Identity (113109).
    pub device_identity: bool,
    /// Retain Institution Identity (113112).
    pub institution_identity: bool,
    /// Retain UIDs (113110): every UID the profile would replace is kept, so copies still match
    /// the source's studies, series and instances (and whatever else refers to them).
    pub uids: bool,
    /// The dates.
    pub dates: Dates,
}

/// The attributes Retain Patient Characteristics keeps (Table E.1-1, column K): Patient's Sex,
/// Age, Size and Weight, Ethnic Group, Smoking Status, Pregnancy Status, Patient's Sex Neutered.
/// Those it would clean (allergies, special needs, patient state, pre-medication: free text) are
/// removed, as no cleaning is done.
const PATIENT_CHARACTERISTICS: [u32; 8] =
    [0x0010_0040, 0x0010_1010, 0x0010_1020, 0x0010_1030, 0x0010_2160, 0x0010_21A0, 0x0010_21C0, 0x0010_2203];

/// The attributes Retain Device Identity keeps (Table E.1-1, column K): station names and AE
/// titles, device, detector, plate, cassette, gantry, generator, lens and source identifiers and
/// serial numbers, device UIDs, the UDI and transducer sequences, treatment machine name.
const DEVICE_IDENTITY: [u32; 36] = [
    0x0008_1010,
    0x0016_004E,
    0x0016_004F,
    0x0016_0050,
    0x0016_0051,
    0x0018_1000,
    0x0018_1002,
    0x0018_1004,
    0x0018_1005,
    0x0018_1007,
    0x0018_1008,
    0x0018_1009,
    0x0018_100A,
    0x0018_100B,
    0x0018_5011,
    0x0018_700A,
    0x0018_9367,
    0x0018_9371,
    0x0018_9373,
    0x0032_1020,
    0x0032_1021,
    0x0040_0001,
    0x0040_0010,
    0x0040_0011,
    0x0040_0241,
    0x0040_0242,
    0x0040_4025,
    0x0040_4027,
    0x0040_4028,
    0x0040_4030,
    0x0050_0020,
    0x3008_0105,
    0x300A_00B2,
    0x300A_0216,
    0x3010_002D,
    0x3010_0043,
];

/// The attributes Retain Institution Identity keeps (Table E.1-1, column K): Institution Name,
/// Address and Code Sequence, Institutional Department Name and Type, and the clinical trial's
/// site, site name, coordinating centre and ethics committee.
const INSTITUTION_IDENTITY: [u32; 9] = [
    0x0008_0080,
    0x0008_0081,
    0x0008_0082,
    0x0008_1040,
    0x0008_1041,
    0x0012_0030,
    0x0012_0031,
    0x0012_0060,
    0x0012_0081,
];

/// The birth date and time: no option keeps them.
const BIRTH: [u32; 2] = [0x0010_0030, 0x0010_0032];

/// Timezone Offset From UTC (SH, not a date VR): kept with the dates.
const TIMEZONE: u32 = 0x0008_0201;

/// What an option does to a listed attribute instead of the profile's action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Instead {
    /// Kept as it is.
    Keep,
    /// Its dates moved back by the patient's days.
    Shift,
}

impl DeidOptions {
    /// What the options do to the listed attribute `tag` of `vr`; `None`: the profile's action.
    pub(crate) fn instead(&self, tag: Tag, vr: VR) -> Option<Instead> {
        let key = (u32::from(tag.group()) << 16) | u32::from(tag.element());
        let kept = (self.patient_characteristics && PATIENT_CHARACTERISTICS.contains(&key))
            || (self.device_identity && DEVICE_IDENTITY.contains(&key))
            || (self.institution_identity && INSTITUTION_IDENTITY.contains(&key));
        if kept {
            return Some(Instead::Keep);
        }
        let dated = matches!(vr, VR::DA | VR::DT | VR::TM) || key == TIMEZONE;
        match self.dates {
            _ if !dated || BIRTH.contains(&key) => None,
            Dates::Remove => None,
            Dates::Full => Some(Instead::Keep),
            Dates::Shifted if matches!(vr, VR::DA | VR::DT) => Some(Instead::Shift),
            Dates::Shifted => Some(Instead::Keep),
        }
    }

    /// The codes (CID 7050) of what a copy was made with: the Basic Profile, Clean Pixel Data
    /// when regions were blacked out, and these options; as `(code, meaning)`.
    pub fn codes(&self, cleaned: bool) -> Vec<(&'static str, &'static str)> {
        let mut out = vec![("113100", "Basic Application Confidentiality Profile")];
        if cleaned {
            out.push(("113101", "Clean Pixel Data Option"));
        }
        match self.dates {
            Dates::Remove => {}
            Dates::Full => out.push(("113106", "Retain Longitudinal Temporal Information Full Dates Option")),
            Dates::Shifted => out.push(("113107", "Retain Longitudinal Temporal Information Modified Dates Option")),
        }
        if self.patient_characteristics {
            out.push(("113108", "Retain Patient Characteristics Option"));
        }
        if self.device_identity {
            out.push(("113109", "Retain Device Identity Option"));
        }
        if self.uids {
            out.push(("113110", "Retain UIDs Option"));
        }
        if self.institution_identity {
            out.push(("113112", "Retain Institution Identity Option"));
        }
        out
    }

    /// Longitudinal Temporal Information Modified (0028,0303).
    pub fn temporal(&self) -> &'static str {
        match self.dates {
            Dates::Remove => "REMOVED",
            Dates::Full => "UNMODIFIED",
            Dates::Shifted => "MODIFIED",
        }
    }
}

/// `value` (a DA, or a DT whose first 8 characters are its date; multi-valued with `\`) with every
/// date moved by `days`; `None` when a value is not a full date (a range, a year alone): the
/// attribute is then removed rather than kept unshifted.
pub(crate) fn shift_dates(value: &str, days: i64) -> Option<String> {
    let shifted: Option<Vec<String>> = value
        .trim_end_matches(['\0', ' '])
        .split('\\')
        .map(|v| {
            // The `yyyy.mm.dd` of files older than DICOM 3.0 (PS3.5 6.2 asks readers to take it).
            let v = v.trim();
            let dotted = v.len() == 10 && v.as_bytes()[4] == b'.' && v.as_bytes()[7] == b'.';
            let v = if dotted { v.replace('.', "") } else { v.to_string() };
            let date = v.get(..8).filter(|d| d.bytes().all(|b| b.is_ascii_digit()))?;
            // A DT's time and its UTC offset (`+HHMM`); anything else (a range) is not a date.
            let rest = &v[8..];
            let (time, offset) = rest.split_at(rest.find(['+', '-']).unwrap_or(rest.len()));
            let time_ok = time.bytes().all(|b| b.is_ascii_digit() || b == b'.');
            let offset_ok = offset.is_empty() || (offset.len() == 5 && offset[1..].bytes().all(|b| b.is_ascii_digit()));
            if !(time_ok && offset_ok) {
                return None;
            }
            let (y, m, d) = (date[..4].parse().ok()?, date[4..6].parse().ok()?, date[6..].parse().ok()?);
            if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
                return None;
            }
            let (y, m, d) = civil_from_days(days_from_civil(y, m, d) + days);
            (0..=9999).contains(&y).then(|| format!("{y:04}{m:02}{d:02}{rest}"))
        })
        .collect();
    shifted.map(|v| v.join("\\"))
}

/// The ways free text writes the date `yyyymmdd`, in a fixed order: as DICOM stores it, then
/// ISO order, day first and month first with `-`, `/` and `.`; empty when it is not a date.
fn spellings(yyyymmdd: &str) -> Vec<String> {
    let ok = yyyymmdd.len() == 8 && yyyymmdd.bytes().all(|b| b.is_ascii_digit());
    if !ok {
        return Vec::new();
    }
    let (y, m, d) = (&yyyymmdd[..4], &yyyymmdd[4..6], &yyyymmdd[6..]);
    let mut out = vec![yyyymmdd.to_string()];
    for sep in ['-', '/', '.'] {
        out.push(format!("{y}{sep}{m}{sep}{d}"));
        out.push(format!("{d}{sep}{m}{sep}{y}"));
        out.push(format!("{m}{sep}{d}{sep}{y}"));
    }
    out
}

/// [`spellings`], each once, for [`super::dicom_deid`]'s sweep.
pub(crate) fn date_spellings(yyyymmdd: &str) -> Vec<String> {
    let mut out = spellings(yyyymmdd);
    out.sort();
    out.dedup();
    out
}

/// How free text quoting the record's `dates` is rewritten when they move by `days`: each
/// spelling to the same spelling of the moved date, and the spellings that cannot be rewritten
/// (one that reads as two dates, day first and month first, whose moved spellings differ): text
/// quoting those is removed instead.
pub(crate) fn shifted_spellings(dates: &[String], days: i64) -> (Vec<(String, String)>, Vec<String>) {
    let mut to: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    let mut ambiguous: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    for date in dates {
        let Some(moved) = shift_dates(date, days) else {
            ambiguous.extend(spellings(date));
            continue;
        };
        for (from, into) in spellings(date).into_iter().zip(spellings(&moved)) {
            match to.get(&from) {
                Some(other) if *other != into => {
                    ambiguous.insert(from);
                }
                _ => {
                    to.insert(from, into);
                }
            }
        }
    }
    let pairs = to.into_iter().filter(|(from, _)| !ambiguous.contains(from)).collect();
    (pairs, ambiguous.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_move_by_whole_days_across_months_years_and_leap_days() {
        assert_eq!(shift_dates("20240301", -1).as_deref(), Some("20240229"));
        assert_eq!(shift_dates("20230101", -1).as_deref(), Some("20221231"));
        assert_eq!(shift_dates("20240102\\20240110", -400).as_deref(), Some("20221128\\20221206"));
        // A DT keeps its time and offset.
        assert_eq!(shift_dates("20240102153000.5+0100", -2).as_deref(), Some("20231231153000.5+0100"));
        assert_eq!(shift_dates("1995.05.01", -1).as_deref(), Some("19950430"), "an ACR-NEMA-era date");
        // Not a full date: refused, so the attribute is removed.
        assert_eq!(shift_dates("2024", -1), None);
        assert_eq!(shift_dates("20241340", -1), None);
        assert_eq!(shift_dates("20240101-20240201", -1), None);
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        let spelt = date_spellings("20240102");
        for s in ["20240102", "2024-01-02", "02/01/2024", "01/02/2024", "02.01.2024", "2024/01/02"] {
            assert!(spelt.contains(&s.to_string()), "{s}");
        }
        assert!(date_spellings("2024").is_empty());
        // Quoted dates move with the record: each spelling into the same spelling.
        let (pairs, ambiguous) = shifted_spellings(&["20240102".to_string()], -2);
        assert!(pairs.contains(&("2024-01-02".into(), "2023-12-31".into())));
        assert!(pairs.contains(&("02.01.2024".into(), "31.12.2023".into())));
        // "01/02/2024" is the 2nd of January month first, and the 1st of February day first:
        // with both dates in the record, it cannot be rewritten.
        let (_, ambiguous2) = shifted_spellings(&["20240102".to_string(), "20240201".to_string()], -2);
        assert!(ambiguous.is_empty() && ambiguous2.contains(&"01/02/2024".to_string()));
        assert_eq!(civil_from_days(days_from_civil(2000, 2, 29)), (2000, 2, 29));
    }

    #[test]
    fn each_option_keeps_only_its_own_attributes() {
        let none = DeidOptions::default();
        let sex = Tag(0x0010, 0x0040);
        assert_eq!(none.instead(sex, VR::CS), None);
        let chars = DeidOptions { patient_characteristics: true, ..none };
        assert_eq!(chars.instead(sex, VR::CS), Some(Instead::Keep));
        assert_eq!(chars.instead(Tag(0x0010, 0x2110), VR::LO), None, "allergies: cleaned in the table, removed here");
        let shifted = DeidOptions { dates: Dates::Shifted, ..none };
        assert_eq!(shifted.instead(Tag(0x0008, 0x0020), VR::DA), Some(Instead::Shift));
        assert_eq!(shifted.instead(Tag(0x0008, 0x0030), VR::TM), Some(Instead::Keep));
        assert_eq!(shifted.instead(Tag(0x0010, 0x0030), VR::DA), None, "the birth date");
        assert_eq!(shifted.instead(sex, VR::CS), None);
        let full = DeidOptions { dates: Dates::Full, ..none };
        assert_eq!(full.instead(Tag(0x0008, 0x0201), VR::SH), Some(Instead::Keep), "the time zone");
        assert_eq!(chars.codes(true).iter().map(|c| c.0).collect::<Vec<_>>(), ["113100", "113101", "113108"]);
        let site = DeidOptions { device_identity: true, institution_identity: true, ..none };
        assert_eq!(site.instead(Tag(0x0008, 0x1010), VR::SH), Some(Instead::Keep), "station name");
        assert_eq!(site.instead(Tag(0x0008, 0x0080), VR::LO), Some(Instead::Keep), "institution name");
        assert_eq!(site.instead(Tag(0x0008, 0x0090), VR::PN), None, "the referring physician is not the site");
        assert_eq!(none.instead(Tag(0x0008, 0x1010), VR::SH), None);
        assert!(
            DEVICE_IDENTITY.windows(2).all(|w| w[0] < w[1]) && INSTITUTION_IDENTITY.windows(2).all(|w| w[0] < w[1])
        );
        assert_eq!(shifted.temporal(), "MODIFIED");
    }
}
