//! Inter-rater agreement per rubric dimension: Cohen's κ for two reviewers, Fleiss' κ for more,
//! over the units (item × checkpoint × rollout) every counted reviewer rated, and the units they
//! disagree on, for adjudication.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::Rating;

/// Cohen's κ of paired labels: `(p_o - p_e) / (1 - p_e)`. `None` without pairs, or when chance
/// agreement is 1 (both raters used one and the same label throughout: κ is undefined).
pub fn cohen_kappa(pairs: &[(i64, i64)]) -> Option<f64> {
    let n = pairs.len() as f64;
    if pairs.is_empty() {
        return None;
    }
    let p_o = pairs.iter().filter(|(a, b)| a == b).count() as f64 / n;
    let labels: BTreeSet<i64> = pairs.iter().flat_map(|&(a, b)| [a, b]).collect();
    let p_e: f64 = labels
        .iter()
        .map(|l| {
            let a = pairs.iter().filter(|p| p.0 == *l).count() as f64 / n;
            let b = pairs.iter().filter(|p| p.1 == *l).count() as f64 / n;
            a * b
        })
        .sum();
    (p_e < 1.0).then(|| (p_o - p_e) / (1.0 - p_e))
}

/// Fleiss' κ of a subjects × categories count table whose rows all sum to the same number of
/// raters `n >= 2`. `None` for an empty or ragged table, or when chance agreement is 1.
pub fn fleiss_kappa(table: &[Vec<usize>]) -> Option<f64> {
    let n = table.first()?.iter().sum::<usize>();
    if n < 2 || table.iter().any(|r| r.iter().sum::<usize>() != n) {
        return None;
    }
    let (subjects, nf) = (table.len() as f64, n as f64);
    let p_bar =
        table.iter().map(|r| (r.iter().map(|&c| (c * c) as f64).sum::<f64>() - nf) / (nf * (nf - 1.0))).sum::<f64>()
            / subjects;
    let cats = table.iter().map(Vec::len).max().unwrap_or(0);
    let p_e: f64 = (0..cats)
        .map(|j| {
            let p = table.iter().map(|r| r.get(j).copied().unwrap_or(0)).sum::<usize>() as f64 / (subjects * nf);
            p * p
        })
        .sum();
    (p_e < 1.0).then(|| (p_bar - p_e) / (1.0 - p_e))
}

/// A rated unit: the same trace seen by several reviewers.
pub type Unit = (String, String, Option<i64>);

/// One dimension's agreement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DimensionAgreement {
    /// Rubric key.
    pub key: String,
    /// `cohen` (two reviewers) or `fleiss` (more).
    pub method: &'static str,
    /// κ, when defined.
    pub kappa: Option<f64>,
    /// Units every counted reviewer rated on this dimension.
    pub units: usize,
    /// Units where they disagree, with each reviewer's value.
    pub disagreements: Vec<(Unit, BTreeMap<String, i64>)>,
}

/// Agreement on every dimension that at least two reviewers rated. A reviewer's newest rating of
/// a unit counts; units not rated by all of the dimension's reviewers are left out.
pub fn per_dimension(ratings: &[Rating], keys: &[String]) -> Vec<DimensionAgreement> {
    let mut out = Vec::new();
    for key in keys {
        // unit -> reviewer -> value (newest wins: ratings come oldest first).
        let mut by_unit: BTreeMap<Unit, BTreeMap<String, i64>> = BTreeMap::new();
        for r in ratings {
            if let Some(&v) = r.values.get(key) {
                let unit = (r.item.clone(), r.checkpoint.clone(), r.rollout_id);
                by_unit.entry(unit).or_default().insert(r.reviewer.clone(), v);
            }
        }
        let reviewers: BTreeSet<&String> = by_unit.values().flat_map(BTreeMap::keys).collect();
        if reviewers.len() < 2 {
            continue;
        }
        let complete: Vec<(&Unit, &BTreeMap<String, i64>)> =
            by_unit.iter().filter(|(_, m)| m.len() == reviewers.len()).collect();
        let disagreements = complete
            .iter()
            .filter(|(_, m)| m.values().collect::<BTreeSet<_>>().len() > 1)
            .map(|(u, m)| ((*u).clone(), (*m).clone()))
            .collect();
        let (method, kappa) = if reviewers.len() == 2 {
            let pairs: Vec<(i64, i64)> = complete
                .iter()
                .map(|(_, m)| {
                    let v: Vec<i64> = m.values().copied().collect();
                    (v[0], v[1])
                })
                .collect();
            ("cohen", cohen_kappa(&pairs))
        } else {
            let labels: Vec<i64> =
                complete.iter().flat_map(|(_, m)| m.values().copied()).collect::<BTreeSet<_>>().into_iter().collect();
            let table: Vec<Vec<usize>> = complete
                .iter()
                .map(|(_, m)| labels.iter().map(|l| m.values().filter(|v| *v == l).count()).collect())
                .collect();
            ("fleiss", fleiss_kappa(&table))
        };
        out.push(DimensionAgreement { key: key.clone(), method, kappa, units: complete.len(), disagreements });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cohen_on_the_textbook_example() {
        // 50 proposals: both yes 20, A yes B no 5, A no B yes 10, both no 15 -> p_o 0.7, p_e 0.5.
        let mut pairs = vec![(1, 1); 20];
        pairs.extend(vec![(1, 0); 5]);
        pairs.extend(vec![(0, 1); 10]);
        pairs.extend(vec![(0, 0); 15]);
        assert!((cohen_kappa(&pairs).unwrap() - 0.4).abs() < 1e-12);
        assert_eq!(cohen_kappa(&[(1, 1), (1, 1)]), None, "one label only: undefined");
        assert_eq!(cohen_kappa(&[(1, 1), (0, 0)]), Some(1.0));
    }

    #[test]
    fn fleiss_on_the_textbook_example() {
        // Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories -> 0.210.
        let t = [
            [0, 0, 0, 0, 14],
            [0, 2, 6, 4, 2],
            [0, 0, 3, 5, 6],
            [0, 3, 9, 2, 0],
            [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0],
            [3, 2, 6, 3, 0],
            [2, 5, 3, 2, 2],
            [6, 5, 2, 1, 0],
            [0, 2, 2, 3, 7],
        ];
        let table: Vec<Vec<usize>> = t.iter().map(|r| r.to_vec()).collect();
        let k = fleiss_kappa(&table).unwrap();
        assert!((k - 0.20993).abs() < 1e-4, "{k}");
        assert_eq!(fleiss_kappa(&[vec![1, 1], vec![3, 0]]), None, "different numbers of raters");
    }

    fn rating(item: &str, reviewer: &str, v: i64) -> Rating {
        Rating {
            id: 0,
            item: item.into(),
            rollout_id: None,
            checkpoint: "ck".into(),
            trace: String::new(),
            reviewer: reviewer.into(),
            values: [("answer_correct".to_string(), v)].into(),
            comment: String::new(),
            spans: vec![],
            guideline_version: None,
            seen: Default::default(),
            seconds: 0.0,
            created_at: String::new(),
        }
    }

    #[test]
    fn per_dimension_picks_the_method_and_lists_disagreements() {
        let mut rs = vec![rating("a", "ann", 1), rating("a", "bob", 1), rating("b", "ann", 0), rating("b", "bob", 1)];
        rs.push(rating("c", "ann", 0)); // bob never rated c: left out
        let keys = vec!["answer_correct".to_string()];
        let a = per_dimension(&rs, &keys);
        assert_eq!((a[0].method, a[0].units, a[0].disagreements.len()), ("cohen", 2, 1));
        assert_eq!(a[0].disagreements[0].0.0, "b");
        // p_o 0.5; ann: yes 0.5, bob: yes 1 -> p_e 0.5 -> kappa 0.
        assert!(a[0].kappa.unwrap().abs() < 1e-12);
        rs.push(rating("a", "cy", 1));
        rs.push(rating("b", "cy", 0));
        assert_eq!(per_dimension(&rs, &keys)[0].method, "fleiss");
        // A newer rating by the same reviewer replaces the older one.
        rs.push(rating("b", "bob", 0));
        rs.push(rating("b", "cy", 0));
        assert!(per_dimension(&rs, &keys)[0].disagreements.is_empty());
    }
}
