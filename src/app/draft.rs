//! The item editor's draft: the fields as typed, validated as the item's invariants require
//! into field edits (one undoable action in the project's edit log). Drawn by [`crate::ui::editor`].

use serde_json::Value;

use crate::domain::edit::{FieldEdit, ItemField};
use crate::domain::{Answer, Modality, Split, VqaItem};

/// What the editor holds while open.
#[derive(Debug, Clone, PartialEq)]
pub struct EditorDraft {
    /// Store id.
    pub id: i64,
    /// The item as loaded.
    pub original: VqaItem,
    /// Question text.
    pub question: String,
    /// Options, one per line.
    pub options: String,
    /// Answer letter index (multiple choice) or open answer text.
    pub answer_index: usize,
    /// Open-ended answer text.
    pub open_answer: String,
    /// Modality.
    pub modality: Modality,
    /// Body part.
    pub body_part: String,
    /// Split.
    pub split: Split,
    /// Tags, comma-separated.
    pub tags: String,
    /// Validation message of the last save attempt.
    pub error: Option<String>,
}

impl EditorDraft {
    /// A draft of `item`.
    pub fn new(id: i64, item: &VqaItem) -> Self {
        let (answer_index, open_answer) = match &item.answer {
            Answer::Choice(i) => (*i, String::new()),
            Answer::Open(s) => (0, s.clone()),
        };
        Self {
            id,
            original: item.clone(),
            question: item.question.clone(),
            options: item.options.join("\n"),
            answer_index,
            open_answer,
            modality: item.modality,
            body_part: item.body_part.clone().unwrap_or_default(),
            split: item.split,
            tags: item.tags.join(", "),
            error: None,
        }
    }

    /// The edits this draft makes, after validating the edited item.
    ///
    /// # Errors
    /// A message naming the field at fault.
    pub fn edits(&self) -> Result<Vec<(i64, FieldEdit)>, String> {
        let item = &self.original;
        let options: Vec<String> =
            self.options.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect();
        let answer = if item.options.is_empty() && options.is_empty() {
            Answer::Open(self.open_answer.trim().to_string())
        } else {
            Answer::Choice(self.answer_index)
        };
        let tags: Vec<String> =
            self.tags.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_string).collect();
        let body = self.body_part.trim();
        let wanted = [
            (ItemField::Question, Value::from(self.question.trim())),
            (ItemField::Options, Value::from(options)),
            (ItemField::Answer, serde_json::to_value(&answer).map_err(|e| e.to_string())?),
            (ItemField::Modality, Value::from(self.modality.as_str())),
            (ItemField::BodyPart, if body.is_empty() { Value::Null } else { Value::from(body) }),
            (ItemField::Split, Value::from(self.split.as_str())),
            (ItemField::Tags, Value::from(tags)),
        ];
        let mut edited = item.clone();
        let mut out = Vec::new();
        for (field, new) in wanted {
            if field.get(&edited) == new {
                continue;
            }
            let e = FieldEdit::set(&edited, field, new);
            // Validation happens on the whole item at the end; apply field by field without it.
            edited = match e.apply(&edited) {
                Ok(next) => next,
                Err(err) if field != ItemField::Answer && field != ItemField::Options => return Err(err.to_string()),
                Err(_) => {
                    let mut next = edited.clone();
                    if field == ItemField::Options {
                        next.options = serde_json::from_value(e.new.clone()).unwrap_or_default();
                    } else {
                        next.answer = answer.clone();
                    }
                    next
                }
            };
            out.push((self.id, e));
        }
        edited.normalize_tags();
        edited.validate().map_err(|e| e.to_string())?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item() -> VqaItem {
        VqaItem { modality: Modality::Mri, source: "s".into(), ..VqaItem::choice("x", "Q?", &["Yes", "No"], 0) }
    }

    #[test]
    fn answer_outside_the_options_is_refused_with_a_message() {
        let mut d = EditorDraft::new(1, &item());
        d.options = "Yes".into();
        assert!(d.edits().unwrap_err().contains("option"));
        let mut d = EditorDraft::new(1, &item());
        d.answer_index = 1;
        d.tags = "checked, hard".into();
        let e = d.edits().unwrap();
        assert_eq!(e.len(), 2);
    }
}
