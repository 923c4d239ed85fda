//! The item editor's draft: the fields as typed, validated as the item's invariants require
//! into field edits (one undoable action in the project's edit log). The answer key follows its
//! option's text through reorders and in-place edits; if that option is deleted, Save is refused
//! until a key is chosen. Drawn by [`crate::ui::editor`].

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
    /// The key's option text (multiple choice; `None`: no key chosen).
    pub key: Option<String>,
    /// The option lines when the key was last followed.
    pub prev_options: Vec<String>,
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
        let (key, open_answer) = match &item.answer {
            Answer::Choice(i) => (item.options.get(*i).cloned(), String::new()),
            Answer::Open(s) => (None, s.clone()),
        };
        Self {
            id,
            original: item.clone(),
            question: item.question.clone(),
            options: item.options.join("\n"),
            key,
            prev_options: item.options.clone(),
            open_answer,
            modality: item.modality,
            body_part: item.body_part.clone().unwrap_or_default(),
            split: item.split,
            tags: item.tags.join(", "),
            error: None,
        }
    }

    /// The option lines as typed (trimmed, blank lines dropped).
    pub fn option_lines(&self) -> Vec<String> {
        self.options.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect()
    }

    /// The key's letter index among the options typed now.
    pub fn key_index(&self) -> Option<usize> {
        let k = self.key.as_ref()?;
        self.option_lines().iter().position(|o| o == k)
    }

    /// Makes option `i` the key.
    pub fn set_key_index(&mut self, i: usize) {
        self.key = self.option_lines().get(i).cloned();
    }

    /// Follows the key after the options changed: kept when its text is still an option (a
    /// reorder), moved to the edited line when the key's own line was edited in place (same number
    /// of lines), dropped when its option was deleted.
    pub fn sync_key(&mut self) {
        let now = self.option_lines();
        if let Some(k) = &self.key
            && !now.contains(k)
        {
            let old = self.prev_options.iter().position(|o| o == k);
            self.key = match old {
                Some(p) if now.len() == self.prev_options.len() => now.get(p).cloned(),
                _ => None,
            };
        }
        self.prev_options = now;
    }

    /// The edits this draft makes, after validating the edited item.
    ///
    /// # Errors
    /// A message naming the field at fault.
    pub fn edits(&self) -> Result<Vec<(i64, FieldEdit)>, String> {
        let item = &self.original;
        let options = self.option_lines();
        let answer = if item.options.is_empty() && options.is_empty() {
            Answer::Open(self.open_answer.trim().to_string())
        } else {
            Answer::Choice(self.key_index().ok_or("Answer: no key is chosen (its option was removed); pick one")?)
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
        d.set_key_index(1);
        d.tags = "checked, hard".into();
        let e = d.edits().unwrap();
        assert_eq!(e.len(), 2);
    }

    #[test]
    fn the_key_follows_its_option_through_reorders_and_edits() {
        let small = VqaItem {
            modality: Modality::Mri,
            source: "s".into(),
            ..VqaItem::choice("x", "Q?", &["Small", "Large"], 0)
        };
        let mut d = EditorDraft::new(1, &small);
        // Reordered: the key is still "Small", now B.
        d.options = "Large\nSmall".into();
        d.sync_key();
        assert_eq!(d.key_index(), Some(1));
        let edits = d.edits().unwrap();
        assert!(
            edits.iter().any(
                |(_, e)| e.field == ItemField::Answer && e.new == serde_json::json!({"kind": "choice", "value": 1})
            ),
            "{edits:?}"
        );
        // The key's own line edited in place: it follows the line.
        d.options = "Large\nSmall (< 1 cm)".into();
        d.sync_key();
        assert_eq!(d.key.as_deref(), Some("Small (< 1 cm)"));
        // Its option deleted: no key, and Save is refused until one is chosen.
        d.options = "Large\nMedium\nHuge".into();
        d.sync_key();
        assert_eq!(d.key, None);
        assert!(d.edits().unwrap_err().contains("no key"));
        d.set_key_index(0);
        assert!(d.edits().is_ok());
    }
}
