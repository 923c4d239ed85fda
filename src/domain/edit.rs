//! Field-level edits of an item with their inverses: the unit of the project's append-only edit log (pure).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::item::{Answer, ItemError, Modality, Split, VqaItem};

/// An editable field of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemField {
    /// Question text (string).
    Question,
    /// Option texts (array of strings).
    Options,
    /// Answer (`{"kind":"choice","value":0}` or `{"kind":"open","value":"..."}`).
    Answer,
    /// Modality (string, e.g. `"CT"`).
    Modality,
    /// Body part (string or null).
    BodyPart,
    /// Split (`"train"`, `"val"`, `"test"`).
    Split,
    /// Tags (array of strings).
    Tags,
    /// Images (array of image references; a redaction replaces a rendering by its blacked-out copy).
    Images,
}

impl ItemField {
    /// Storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Question => "question",
            Self::Options => "options",
            Self::Answer => "answer",
            Self::Modality => "modality",
            Self::BodyPart => "body_part",
            Self::Split => "split",
            Self::Tags => "tags",
            Self::Images => "images",
        }
    }

    /// Parses a storage name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Question,
            Self::Options,
            Self::Answer,
            Self::Modality,
            Self::BodyPart,
            Self::Split,
            Self::Tags,
            Self::Images,
        ]
        .into_iter()
        .find(|f| f.as_str() == s)
    }

    /// The field's current value in `item`, as JSON.
    pub fn get(self, item: &VqaItem) -> Value {
        match self {
            Self::Question => Value::from(item.question.clone()),
            Self::Options => Value::from(item.options.clone()),
            Self::Answer => serde_json::to_value(&item.answer).unwrap_or(Value::Null),
            Self::Modality => Value::from(item.modality.as_str()),
            Self::BodyPart => item.body_part.clone().map_or(Value::Null, Value::from),
            Self::Split => Value::from(item.split.as_str()),
            Self::Tags => Value::from(item.tags.clone()),
            Self::Images => serde_json::to_value(&item.images).unwrap_or(Value::Null),
        }
    }
}

/// Why an edit cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The value has the wrong JSON type or an unknown name.
    #[error("field `{field}`: {reason}")]
    BadValue {
        /// Field name.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The edited item would break an invariant.
    #[error("field `{field}`: {source}")]
    Invalid {
        /// Field name.
        field: &'static str,
        /// The broken rule.
        source: ItemError,
    },
}

/// One field change with the value it replaces, so it can be undone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldEdit {
    /// The field.
    pub field: ItemField,
    /// Value before the edit.
    pub old: Value,
    /// Value after the edit.
    pub new: Value,
}

impl FieldEdit {
    /// An edit setting `field` of `item` to `new`, recording the current value.
    pub fn set(item: &VqaItem, field: ItemField, new: Value) -> Self {
        Self { field, old: field.get(item), new }
    }

    /// The edit that undoes this one.
    pub fn inverse(&self) -> Self {
        Self { field: self.field, old: self.new.clone(), new: self.old.clone() }
    }

    /// Applies the edit to a copy of `item` and validates the result.
    ///
    /// # Errors
    /// [`EditError`] when the value is malformed or the edited item is invalid.
    pub fn apply(&self, item: &VqaItem) -> Result<VqaItem, EditError> {
        let name = self.field.as_str();
        let bad = |reason: &str| EditError::BadValue { field: name, reason: reason.to_string() };
        let mut out = item.clone();
        match self.field {
            ItemField::Question => {
                out.question = self.new.as_str().ok_or_else(|| bad("expected a string"))?.to_string()
            }
            ItemField::Options => {
                out.options = string_list(&self.new).ok_or_else(|| bad("expected a list of strings"))?
            }
            ItemField::Answer => {
                out.answer = serde_json::from_value::<Answer>(self.new.clone())
                    .map_err(|e| bad(&format!("expected an answer object: {e}")))?;
            }
            ItemField::Modality => {
                let s = self.new.as_str().ok_or_else(|| bad("expected a string"))?;
                out.modality = Modality::parse(s).ok_or_else(|| bad(&format!("unknown modality {s:?}")))?;
            }
            ItemField::BodyPart => {
                out.body_part = match &self.new {
                    Value::Null => None,
                    Value::String(s) if s.trim().is_empty() => None,
                    Value::String(s) => Some(s.trim().to_string()),
                    _ => return Err(bad("expected a string or null")),
                };
            }
            ItemField::Split => {
                let s = self.new.as_str().ok_or_else(|| bad("expected a string"))?;
                out.split = Split::parse(s).ok_or_else(|| bad(&format!("unknown split {s:?}")))?;
            }
            ItemField::Tags => {
                out.tags = string_list(&self.new).ok_or_else(|| bad("expected a list of strings"))?;
                out.normalize_tags();
            }
            ItemField::Images => {
                out.images = serde_json::from_value(self.new.clone())
                    .map_err(|e| bad(&format!("expected a list of image references: {e}")))?;
            }
        }
        out.validate().map_err(|source| EditError::Invalid { field: name, source })?;
        Ok(out)
    }
}

fn string_list(v: &Value) -> Option<Vec<String>> {
    v.as_array()?.iter().map(|x| x.as_str().map(str::to_string)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::item::ImageRef;
    use std::collections::BTreeMap;

    fn item() -> VqaItem {
        VqaItem {
            uid: "x/1".into(),
            images: vec![ImageRef::missing("a.png")],
            question: "Is there a lesion?".into(),
            options: vec!["Yes".into(), "No".into()],
            answer: Answer::Choice(0),
            modality: Modality::Mri,
            body_part: None,
            source: "sample".into(),
            split: Split::Train,
            tags: vec![],
            meta: BTreeMap::new(),
        }
    }

    #[test]
    fn edit_and_inverse_round_trip() {
        let it = item();
        let e = FieldEdit::set(&it, ItemField::Split, Value::from("test"));
        let edited = e.apply(&it).unwrap();
        assert_eq!(edited.split, Split::Test);
        assert_eq!(e.inverse().apply(&edited).unwrap(), it);
    }

    #[test]
    fn invalid_edits_are_rejected_with_the_field_name() {
        let it = item();
        let e = FieldEdit::set(&it, ItemField::Answer, serde_json::json!({"kind":"choice","value":5}));
        let err = e.apply(&it).unwrap_err().to_string();
        assert!(err.contains("answer"), "{err}");
        let e = FieldEdit::set(&it, ItemField::Modality, Value::from("sonar"));
        assert!(e.apply(&it).unwrap_err().to_string().contains("unknown modality"));
        let e = FieldEdit::set(&it, ItemField::Tags, serde_json::json!([" b", "a", "b", ""]));
        assert_eq!(e.apply(&it).unwrap().tags, vec!["a", "b"]);
    }
}
