//! Bulk actions over a set of items (the GUI's filter result, or `medvlm curate filter --apply`):
//! tag, untag, exclude, move split, set the difficulty band by hand. Each becomes one undoable group
//! in the project's edit log, applied in one transaction (all or nothing).

use serde_json::Value;

use super::Difficulty;
use crate::domain::Split;
use crate::domain::edit::{FieldEdit, ItemField};
use crate::io::export::EXCLUDED_TAG;
use crate::store::{Project, StoreError};

/// Prefix of the tag that records a curator's difficulty band, e.g. `difficulty:medium`.
pub const BAND_TAG_PREFIX: &str = "difficulty:";

/// A bulk action over items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkAction {
    /// Add a tag.
    Tag(String),
    /// Remove a tag.
    Untag(String),
    /// Tag as excluded from exports and training.
    Exclude,
    /// Move to a split.
    MoveSplit(Split),
    /// Set the difficulty band by hand (overrides the pass-count class); `None` clears it.
    SetBand(Option<Difficulty>),
    /// Black out the burned-in text found in the first image ([`super::redact::found_text_edits`]).
    BlackOutText,
}

/// Why a bulk action could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    /// The action is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The store failed (nothing was applied).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl BulkAction {
    /// Edit-log label.
    pub fn label(&self, n: usize) -> String {
        match self {
            Self::Tag(t) => format!("tag {n} items {t:?}"),
            Self::Untag(t) => format!("untag {n} items {t:?}"),
            Self::Exclude => format!("exclude {n} items"),
            Self::MoveSplit(s) => format!("move {n} items to {s}"),
            Self::SetBand(Some(d)) => format!("set band of {n} items to {}", d.slug()),
            Self::SetBand(None) => format!("clear the set band of {n} items"),
            Self::BlackOutText => format!("black out the text found in {n} items"),
        }
    }

    /// Parses the CLI form: `tag:NAME`, `untag:NAME`, `exclude`, `split:train|val|test`,
    /// `band:too-hard|medium|easy|solved|clear`, `black-out-text`.
    ///
    /// # Errors
    /// [`BulkError::Invalid`] naming what is wrong.
    pub fn parse(s: &str) -> Result<Self, BulkError> {
        let (verb, arg) = s.split_once(':').map_or((s, ""), |(a, b)| (a, b.trim()));
        let need = |what: &str| BulkError::Invalid(format!("{verb}: needs {what}, e.g. {verb}:{what}"));
        match verb.trim() {
            "tag" if !arg.is_empty() => Ok(Self::Tag(arg.into())),
            "untag" if !arg.is_empty() => Ok(Self::Untag(arg.into())),
            "tag" | "untag" => Err(need("NAME")),
            "exclude" => Ok(Self::Exclude),
            "black-out-text" => Ok(Self::BlackOutText),
            "split" => Split::parse(arg)
                .map(Self::MoveSplit)
                .ok_or_else(|| BulkError::Invalid(format!("split:{arg}: unknown split (train, val, test)"))),
            "band" if arg == "clear" => Ok(Self::SetBand(None)),
            "band" => Difficulty::from_slug(arg).map(|d| Self::SetBand(Some(d))).ok_or_else(|| {
                BulkError::Invalid(format!("band:{arg}: unknown band (too-hard, medium, easy, solved, clear)"))
            }),
            other => Err(BulkError::Invalid(format!(
                "unknown action {other:?} (tag:NAME, untag:NAME, exclude, split:S, band:B, black-out-text)"
            ))),
        }
    }
}

/// The field edits `action` makes on the items `ids` (items it would not change are left out).
///
/// # Errors
/// [`BulkError`] for an empty tag or a store failure.
pub fn bulk_edits(project: &Project, ids: &[i64], action: &BulkAction) -> Result<Vec<(i64, FieldEdit)>, BulkError> {
    if let BulkAction::Tag(t) | BulkAction::Untag(t) = action
        && t.trim().is_empty()
    {
        return Err(BulkError::Invalid("empty tag".into()));
    }
    if *action == BulkAction::BlackOutText {
        return super::redact::found_text_edits(project, ids).map_err(BulkError::Invalid);
    }
    let mut edits = Vec::with_capacity(ids.len());
    for &id in ids {
        let item = project.item(id)?;
        let with_tag = |t: &str| {
            let mut tags = item.tags.clone();
            if !tags.iter().any(|x| x == t) {
                tags.push(t.to_string());
            }
            tags
        };
        let (field, new) = match action {
            BulkAction::Tag(t) => (ItemField::Tags, Value::from(with_tag(t.trim()))),
            BulkAction::Untag(t) => {
                (ItemField::Tags, Value::from(item.tags.iter().filter(|x| *x != t.trim()).cloned().collect::<Vec<_>>()))
            }
            BulkAction::Exclude => (ItemField::Tags, Value::from(with_tag(EXCLUDED_TAG))),
            BulkAction::MoveSplit(s) => (ItemField::Split, Value::from(s.as_str())),
            BulkAction::SetBand(d) => {
                let mut tags: Vec<String> =
                    item.tags.iter().filter(|t| !t.starts_with(BAND_TAG_PREFIX)).cloned().collect();
                if let Some(d) = d {
                    tags.push(format!("{BAND_TAG_PREFIX}{}", d.slug()));
                }
                (ItemField::Tags, Value::from(tags))
            }
            BulkAction::BlackOutText => continue,
        };
        if field.get(&item) != new {
            edits.push((id, FieldEdit::set(&item, field, new)));
        }
    }
    Ok(edits)
}

/// Applies `action` to `ids` as one undoable edit group; returns the label, or `None` when
/// nothing would change.
///
/// # Errors
/// [`BulkError`]; on error nothing is applied.
pub fn apply(project: &mut Project, ids: &[i64], action: &BulkAction) -> Result<Option<String>, BulkError> {
    let edits = bulk_edits(project, ids, action)?;
    if edits.is_empty() {
        return Ok(None);
    }
    // Items changed (a black-out edits an item's images and tags).
    let items = edits.iter().map(|(id, _)| *id).collect::<std::collections::BTreeSet<_>>().len();
    let label = action.label(items);
    project.apply_edits(&label, &edits)?;
    Ok(Some(label))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_cli_forms_and_names_what_is_wrong() {
        assert_eq!(BulkAction::parse("tag:hard").unwrap(), BulkAction::Tag("hard".into()));
        assert_eq!(BulkAction::parse("split:val").unwrap(), BulkAction::MoveSplit(Split::Val));
        assert_eq!(BulkAction::parse("band:medium").unwrap(), BulkAction::SetBand(Some(Difficulty::Medium)));
        assert_eq!(BulkAction::parse("band:clear").unwrap(), BulkAction::SetBand(None));
        assert_eq!(BulkAction::parse("exclude").unwrap(), BulkAction::Exclude);
        assert!(BulkAction::parse("band:hardish").unwrap_err().to_string().contains("too-hard, medium"));
        assert!(BulkAction::parse("tag").unwrap_err().to_string().contains("needs NAME"));
        assert!(BulkAction::parse("delete").unwrap_err().to_string().contains("unknown action"));
    }
}
