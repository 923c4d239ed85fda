//! A word diff of two reasoning traces (the same item under two checkpoints): the longest common
//! subsequence of their words, as runs of kept, removed and added words.

/// What a run of words is in the second text compared with the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// In both.
    Same,
    /// Only in the first.
    Removed,
    /// Only in the second.
    Added,
}

/// Longest inputs diffed word by word (the LCS table is `n × m`); longer ones are compared as
/// whole texts.
const MAX_WORDS: usize = 4000;

/// The word diff of `a` → `b`: runs of words joined by single spaces, in reading order.
pub fn word_diff(a: &str, b: &str) -> Vec<(Change, String)> {
    let (x, y): (Vec<&str>, Vec<&str>) = (a.split_whitespace().collect(), b.split_whitespace().collect());
    if x.len() > MAX_WORDS || y.len() > MAX_WORDS {
        return if x == y {
            vec![(Change::Same, x.join(" "))]
        } else {
            vec![(Change::Removed, x.join(" ")), (Change::Added, y.join(" "))]
        };
    }
    let (n, m) = (x.len(), y.len());
    // lcs[i][j]: LCS length of x[i..] and y[j..].
    let mut lcs = vec![0u32; (n + 1) * (m + 1)];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i * (m + 1) + j] = if x[i] == y[j] {
                lcs[(i + 1) * (m + 1) + j + 1] + 1
            } else {
                lcs[(i + 1) * (m + 1) + j].max(lcs[i * (m + 1) + j + 1])
            };
        }
    }
    let mut out: Vec<(Change, String)> = Vec::new();
    let mut push = |c: Change, w: &str| match out.last_mut() {
        Some((last, text)) if *last == c => {
            text.push(' ');
            text.push_str(w);
        }
        _ => out.push((c, w.to_string())),
    };
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && x[i] == y[j] {
            push(Change::Same, x[i]);
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i * (m + 1) + j + 1] > lcs[(i + 1) * (m + 1) + j]) {
            push(Change::Added, y[j]);
            j += 1;
        } else {
            push(Change::Removed, x[i]);
            i += 1;
        }
    }
    out
}

/// Words changed (removed + added) over all words of both texts: 0 for equal texts, 1 for disjoint.
pub fn changed_fraction(diff: &[(Change, String)]) -> f64 {
    let count =
        |c: Change| -> usize { diff.iter().filter(|(k, _)| *k == c).map(|(_, t)| t.split_whitespace().count()).sum() };
    let (same, removed, added) = (count(Change::Same), count(Change::Removed), count(Change::Added));
    let total = 2 * same + removed + added;
    if total == 0 { 0.0 } else { (removed + added) as f64 / total as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_laterality_is_one_removed_and_one_added_word() {
        let d = word_diff("opacity in the left lower lobe", "opacity in the right lower lobe");
        assert_eq!(
            d,
            vec![
                (Change::Same, "opacity in the".into()),
                (Change::Removed, "left".into()),
                (Change::Added, "right".into()),
                (Change::Same, "lower lobe".into()),
            ]
        );
        assert!((changed_fraction(&d) - 2.0 / 12.0).abs() < 1e-9);
    }

    #[test]
    fn equal_empty_and_disjoint_texts() {
        assert_eq!(word_diff("a  b\nc", "a b c"), vec![(Change::Same, "a b c".into())]);
        assert!(word_diff("", "").is_empty());
        assert_eq!(word_diff("", "x y"), vec![(Change::Added, "x y".into())]);
        let d = word_diff("p q", "r");
        assert_eq!(changed_fraction(&d), 1.0);
        // Reconstructing both sides from the runs gives the inputs back.
        let (a, b) = ("the lung is clear no effusion", "lung clear but small effusion seen");
        let d = word_diff(a, b);
        let side = |keep: Change| {
            d.iter()
                .filter(|(c, _)| *c == Change::Same || *c == keep)
                .map(|(_, t)| t.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(side(Change::Removed), a);
        assert_eq!(side(Change::Added), b);
    }
}
