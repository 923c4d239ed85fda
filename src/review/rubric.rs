//! The review rubric: typed dimensions (yes/no or an integer scale) and a free-text comment. The
//! default follows the clinician rubric; a project may store its own (`review rubric`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A dimension's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum DimensionKind {
    /// 1 = yes, 0 = no.
    YesNo,
    /// An integer from `min` to `max`.
    Scale {
        /// Lowest value.
        min: i64,
        /// Highest value.
        max: i64,
    },
}

/// One rubric question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dimension {
    /// Stable key (`answer_correct`), used in exports.
    pub key: String,
    /// The question shown.
    pub label: String,
    /// Its values.
    #[serde(flatten)]
    pub kind: DimensionKind,
}

/// A project's rubric.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rubric {
    /// The questions, in order (digit keys rate the focused one).
    pub dimensions: Vec<Dimension>,
}

impl Default for Rubric {
    /// Answer correct? Reasoning supported by the image? Hallucinated finding? Clinically unsafe?
    /// Confidence 1–5.
    fn default() -> Self {
        let yes_no =
            |key: &str, label: &str| Dimension { key: key.into(), label: label.into(), kind: DimensionKind::YesNo };
        Self {
            dimensions: vec![
                yes_no("answer_correct", "Answer correct?"),
                yes_no("reasoning_supported", "Reasoning supported by the image?"),
                yes_no("hallucinated_finding", "Hallucinated finding?"),
                yes_no("clinically_unsafe", "Clinically unsafe?"),
                Dimension {
                    key: "confidence".into(),
                    label: "Your confidence".into(),
                    kind: DimensionKind::Scale { min: 1, max: 5 },
                },
            ],
        }
    }
}

impl Dimension {
    /// The allowed values, in order.
    pub fn values(&self) -> Vec<i64> {
        match self.kind {
            DimensionKind::YesNo => vec![0, 1],
            DimensionKind::Scale { min, max } => (min..=max).collect(),
        }
    }
}

impl Rubric {
    /// Checks the rubric itself: keys unique and non-empty, scales non-empty and small.
    ///
    /// # Errors
    /// A message naming the dimension.
    pub fn validate(&self) -> Result<(), String> {
        if self.dimensions.is_empty() {
            return Err("rubric: at least one dimension".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for d in &self.dimensions {
            if d.key.trim().is_empty() || !seen.insert(d.key.as_str()) {
                return Err(format!("rubric: dimension key {:?} is empty or repeated", d.key));
            }
            if let DimensionKind::Scale { min, max } = d.kind
                && !(min < max && max - min <= 100)
            {
                return Err(format!("rubric: {}: scale {min}..{max} must rise by 1 to 100 steps", d.key));
            }
        }
        Ok(())
    }

    /// Checks a rating's values against the rubric: every key known, every value allowed. Missing
    /// dimensions are allowed (a partial rating), unknown keys are not.
    ///
    /// # Errors
    /// A message naming the dimension and the value.
    pub fn check(&self, values: &BTreeMap<String, i64>) -> Result<(), String> {
        for (k, v) in values {
            let Some(d) = self.dimensions.iter().find(|d| &d.key == k) else {
                return Err(format!("rating: unknown rubric dimension {k:?}"));
            };
            if !d.values().contains(v) {
                return Err(format!("rating: {k} = {v} is not one of {:?}", d.values()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rubric_is_valid_and_checks_values() {
        let r = Rubric::default();
        r.validate().unwrap();
        let ok: BTreeMap<String, i64> = [("answer_correct".to_string(), 1), ("confidence".to_string(), 5)].into();
        r.check(&ok).unwrap();
        let bad: BTreeMap<String, i64> = [("confidence".to_string(), 6)].into();
        assert!(r.check(&bad).unwrap_err().contains("confidence = 6"));
        let unknown: BTreeMap<String, i64> = [("mood".to_string(), 1)].into();
        assert!(r.check(&unknown).unwrap_err().contains("mood"));
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Rubric>(&json).unwrap(), r);
    }
}
