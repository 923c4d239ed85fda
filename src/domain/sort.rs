//! Sorting the item table by a column (a click on its header; again to reverse), stable so that
//! equal keys keep store order.

use std::cmp::Ordering;

use super::ItemRow;

/// A sortable column of the item table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortKey {
    /// Item id (uid).
    Id,
    /// Question text.
    Question,
    /// Answer letter (open answers last).
    Answer,
    /// Modality.
    Modality,
    /// Split.
    Split,
    /// Source.
    Source,
    /// Number of images.
    Images,
    /// Pass rate of the chosen estimate (items without one last).
    Pass,
}

impl SortKey {
    /// The table's columns, in order, with their titles.
    pub const COLUMNS: [(SortKey, &'static str); 8] = [
        (Self::Id, "ID"),
        (Self::Question, "Question"),
        (Self::Answer, "Answer"),
        (Self::Modality, "Modality"),
        (Self::Split, "Split"),
        (Self::Source, "Source"),
        (Self::Images, "Img"),
        (Self::Pass, "Pass"),
    ];

    /// The column's title.
    pub fn title(self) -> &'static str {
        Self::COLUMNS.iter().find(|(k, _)| *k == self).map_or("", |(_, t)| t)
    }
}

/// Sorts `visible` (indices into `rows`) by `key`; `pass(i)` is row `i`'s pass rate. Rows without
/// a value (open answers, no estimate) go last in both directions.
pub fn sort_rows(
    visible: &mut [usize],
    rows: &[ItemRow],
    key: SortKey,
    ascending: bool,
    pass: impl Fn(usize) -> Option<f64>,
) {
    let dir = |o: Ordering| if ascending { o } else { o.reverse() };
    let missing_last = |a: Option<Ordering>, x: bool, y: bool| match (x, y) {
        (true, true) => a.map_or(Ordering::Equal, dir),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => Ordering::Equal,
    };
    visible.sort_by(|&i, &j| {
        let (a, b) = (&rows[i], &rows[j]);
        match key {
            SortKey::Id => dir(natural(&a.uid, &b.uid)),
            SortKey::Question => dir(a.question.to_lowercase().cmp(&b.question.to_lowercase())),
            SortKey::Answer => missing_last(
                a.answer_letter.zip(b.answer_letter).map(|(x, y)| x.cmp(&y)),
                a.answer_letter.is_some(),
                b.answer_letter.is_some(),
            ),
            SortKey::Modality => dir(a.modality.as_str().cmp(b.modality.as_str())),
            SortKey::Split => dir(a.split.as_str().cmp(b.split.as_str())),
            SortKey::Source => dir(a.source.cmp(&b.source)),
            SortKey::Images => dir(a.n_images.cmp(&b.n_images)),
            SortKey::Pass => {
                let (x, y) = (pass(i), pass(j));
                missing_last(x.zip(y).map(|(x, y)| x.total_cmp(&y)), x.is_some(), y.is_some())
            }
        }
    });
}

/// Text order with digit runs compared as numbers (`train/9` before `train/10`).
fn natural(a: &str, b: &str) -> Ordering {
    let split = |s: &str| -> Vec<(bool, String)> {
        let mut out: Vec<(bool, String)> = Vec::new();
        for c in s.chars() {
            let d = c.is_ascii_digit();
            match out.last_mut() {
                Some((kind, run)) if *kind == d => run.push(c),
                _ => out.push((d, c.to_string())),
            }
        }
        out
    };
    let (x, y) = (split(a), split(b));
    for (p, q) in x.iter().zip(&y) {
        let o = match (p.0, q.0) {
            (true, true) => (p.1.len(), &p.1).cmp(&(q.1.len(), &q.1)),
            _ => p.1.cmp(&q.1),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    x.len().cmp(&y.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(uid: &str, answer: Option<char>) -> ItemRow {
        ItemRow { uid: uid.into(), answer_letter: answer, ..ItemRow::default() }
    }

    #[test]
    fn columns_sort_both_ways_with_numbers_in_order_and_missing_values_last() {
        let rows = vec![row("vqa/10", Some('B')), row("vqa/9", None), row("vqa/2", Some('A'))];
        let mut v = vec![0, 1, 2];
        sort_rows(&mut v, &rows, SortKey::Id, true, |_| None);
        assert_eq!(v, [2, 1, 0], "2, 9, 10");
        sort_rows(&mut v, &rows, SortKey::Id, false, |_| None);
        assert_eq!(v, [0, 1, 2]);
        sort_rows(&mut v, &rows, SortKey::Answer, true, |_| None);
        assert_eq!(v, [2, 0, 1], "A, B, open");
        sort_rows(&mut v, &rows, SortKey::Answer, false, |_| None);
        assert_eq!(v, [0, 2, 1], "B, A, open still last");
        let pass = |i: usize| [Some(0.5), None, Some(0.25)][i];
        sort_rows(&mut v, &rows, SortKey::Pass, false, pass);
        assert_eq!(v, [0, 2, 1]);
        assert_eq!(SortKey::Pass.title(), "Pass");
    }
}
