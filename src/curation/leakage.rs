//! Leakage check across splits: items in different splits that share an image (same content hash)
//! or the same normalised question about the same image file name. Pure; the CLI lists the pairs.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::domain::{Split, VqaItem};

/// Why two items leak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum LeakKind {
    /// The same image bytes.
    SameImage,
    /// The same normalised question on an image with the same file name.
    SameQuestionAndImageName,
}

/// One offending pair (`a` in the earlier split of train < val < test).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leak {
    /// Why.
    pub kind: LeakKind,
    /// First item uid and split.
    pub a: (String, Split),
    /// Second item uid and split.
    pub b: (String, Split),
}

fn normalise(q: &str) -> String {
    q.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

fn rank(s: Split) -> u8 {
    match s {
        Split::Train => 0,
        Split::Val => 1,
        Split::Test => 2,
    }
}

/// Every cross-split pair; at most `per_key` pairs are listed per shared image / question key.
pub fn find_leaks(items: &[VqaItem], per_key: usize) -> Vec<Leak> {
    let mut groups: BTreeMap<(LeakKind, String), Vec<(String, Split)>> = BTreeMap::new();
    for it in items {
        for img in &it.images {
            if let Some(sha) = &img.sha256 {
                groups.entry((LeakKind::SameImage, sha.clone())).or_default().push((it.uid.clone(), it.split));
            }
            let name = img.path.rsplit(['/', '\\']).next().unwrap_or(&img.path).to_string();
            let key = format!("{}\u{1}{name}", normalise(&it.question));
            groups.entry((LeakKind::SameQuestionAndImageName, key)).or_default().push((it.uid.clone(), it.split));
        }
    }
    let mut out = Vec::new();
    for ((kind, _), mut members) in groups {
        members.sort_by_key(|m| rank(m.1));
        members.dedup();
        let mut n = 0;
        'pairs: for (i, a) in members.iter().enumerate() {
            for b in &members[i + 1..] {
                if a.1 != b.1 {
                    out.push(Leak { kind, a: a.clone(), b: b.clone() });
                    n += 1;
                    if n >= per_key {
                        break 'pairs;
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ImageRef, Modality};

    fn item(uid: &str, split: Split, sha: &str, path: &str, q: &str) -> VqaItem {
        VqaItem {
            images: vec![ImageRef {
                path: path.into(),
                sha256: Some(sha.into()),
                bytes: None,
                width: None,
                height: None,
                unreadable: None,
                redacted: Vec::new(),
            }],
            modality: Modality::Ct,
            source: "s".into(),
            split,
            ..VqaItem::choice(uid, q, &["Yes", "No"], 0)
        }
    }

    #[test]
    fn cross_split_duplicates_are_listed_and_same_split_ones_are_not() {
        let items = vec![
            item("a", Split::Train, "h1", "x/1.png", "Is there a lesion?"),
            item("b", Split::Test, "h1", "y/1b.png", "Other?"),
            item("c", Split::Train, "h2", "x/2.png", "Is there  a LESION"),
            item("d", Split::Test, "h3", "z/2.png", "is there a lesion?"),
            item("e", Split::Train, "h4", "x/4.png", "Q"),
            item("f", Split::Train, "h4", "x/4b.png", "Q2"),
        ];
        let leaks = find_leaks(&items, 10);
        assert_eq!(leaks.len(), 2, "{leaks:?}");
        assert!(leaks.iter().any(|l| l.kind == LeakKind::SameImage && l.a.0 == "a" && l.b.0 == "b"));
        assert!(leaks.iter().any(|l| l.kind == LeakKind::SameQuestionAndImageName && l.a.0 == "c" && l.b.0 == "d"));
    }
}
