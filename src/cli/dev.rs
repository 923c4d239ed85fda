//! Hidden developer subcommands. `medvlm dev stress` writes items and edits in acknowledged
//! transactions, printing `ack items N` / `ack edit G` after each commit, so a test can kill it at
//! any moment and check that everything acknowledged is still in the project.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;

use crate::domain::{Answer, FieldEdit, ImageRef, ItemField, Modality, Split, VqaItem};
use crate::store::Project;

/// `medvlm dev`.
#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: DevCommand,
}

/// Developer subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum DevCommand {
    /// Insert `--chunks` chunks of `--chunk` items, editing one item after each chunk.
    Stress {
        /// Project file (created if missing).
        #[arg(long)]
        project: PathBuf,
        /// Number of chunks.
        #[arg(long, default_value_t = 1000)]
        chunks: usize,
        /// Items per chunk (one transaction each).
        #[arg(long, default_value_t = 50)]
        chunk: usize,
    },
    /// Applies `--rounds` bulk actions, each tagging every item `bulk-R` in one transaction.
    BulkStress {
        /// Project file.
        #[arg(long)]
        project: PathBuf,
        /// Number of bulk actions.
        #[arg(long, default_value_t = 1000)]
        rounds: usize,
    },
}

pub(super) fn run(args: &DevArgs) -> anyhow::Result<i32> {
    match &args.command {
        DevCommand::Stress { project, chunks, chunk } => {
            let (mut p, _) = Project::open_or_create(project)?;
            let mut out = std::io::stdout().lock();
            let mut n = p.item_count()?;
            for c in 0..*chunks {
                let items: Vec<VqaItem> = (0..*chunk).map(|i| synthetic(n + i)).collect();
                p.insert_items(None, &items)?;
                n += items.len();
                writeln!(out, "ack items {n}")?;
                let id = p.item_id(&items[0].uid)?;
                let item = p.item(id)?;
                let tag = format!("stress-{c}");
                let g = p.apply_edits(
                    "stress tag",
                    &[(id, FieldEdit::set(&item, ItemField::Tags, serde_json::json!([tag])))],
                )?;
                writeln!(out, "ack edit {g} {} {tag}", item.uid)?;
                out.flush()?;
            }
            Ok(0)
        }
        DevCommand::BulkStress { project, rounds } => {
            let mut p = Project::open(project)?;
            let mut out = std::io::stdout().lock();
            let ids: Vec<i64> = p.item_rows()?.iter().map(|r| r.id).collect();
            for r in 0..*rounds {
                let edits: Vec<_> = ids
                    .iter()
                    .map(|&id| {
                        Ok((
                            id,
                            FieldEdit::set(&p.item(id)?, ItemField::Tags, serde_json::json!([format!("bulk-{r}")])),
                        ))
                    })
                    .collect::<anyhow::Result<_>>()?;
                p.apply_edits(&format!("bulk {r}"), &edits)?;
                writeln!(out, "ack bulk {r}")?;
                out.flush()?;
            }
            Ok(0)
        }
    }
}

fn synthetic(i: usize) -> VqaItem {
    VqaItem {
        uid: format!("stress/{i}"),
        images: vec![ImageRef::missing(format!("/nonexistent/{i}.png"))],
        question: format!("Stress question {i} — 压力测试?"),
        options: vec!["Yes".into(), "No".into()],
        answer: Answer::Choice(i % 2),
        modality: Modality::Mri,
        body_part: None,
        source: "stress".into(),
        split: Split::Train,
        tags: vec![],
        meta: BTreeMap::new(),
    }
}
