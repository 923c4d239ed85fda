//! `medvlm info`: a project's counts, as text or one JSON object.

use anyhow::Context as _;
use serde_json::json;

use super::{Cli, require_project};
use crate::store::Project;

/// `medvlm info`.
#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// Print one JSON object (`items`, `missing_images`, `by_split`, `by_modality`, `by_source`, ...).
    #[arg(long)]
    pub json: bool,
}

pub(super) fn run(cli: &Cli, args: &InfoArgs) -> anyhow::Result<i32> {
    let path = require_project(cli)?;
    let project = Project::open(path).with_context(|| format!("opening project {}", path.display()))?;
    let stats = project.stats()?;
    let imports = project.provenance()?;
    let damaged = project.damaged_items()?;
    if args.json {
        let v = json!({
            "project": project.path(),
            "schema_version": project.schema_version()?,
            "items": stats.items,
            "multiple_choice": stats.multiple_choice,
            "open_ended": stats.open_ended,
            "missing_images": stats.missing_images,
            "unreadable_images": stats.unreadable_images,
            "damaged_items": damaged.iter().map(|(id, uid, why)| json!({"id": id, "uid": uid, "problem": why})).collect::<Vec<_>>(),
            "by_split": stats.by_split,
            "by_modality": stats.by_modality,
            "by_source": stats.by_source,
            "imports": imports,
        });
        outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    outln!("project        {}", project.path().display());
    outln!("schema version {}", project.schema_version()?);
    outln!(
        "items          {} ({} multiple choice, {} open-ended)",
        stats.items,
        stats.multiple_choice,
        stats.open_ended
    );
    outln!("missing images {}", stats.missing_images);
    if stats.unreadable_images > 0 {
        outln!("unreadable     {} images (they do not decode; jobs skip their items)", stats.unreadable_images);
    }
    if !damaged.is_empty() {
        outln!("damaged items  {} (left out of every view and export):", damaged.len());
        for (id, uid, why) in damaged.iter().take(20) {
            outln!("  item {id} ({uid}): {why}");
        }
    }
    for (title, map) in
        [("by split", &stats.by_split), ("by modality", &stats.by_modality), ("by source", &stats.by_source)]
    {
        let parts: Vec<String> = map.iter().map(|(k, v)| format!("{k} {v}")).collect();
        outln!("{title:<14} {}", parts.join(", "));
    }
    outln!("imports        {}", imports.len());
    for p in imports {
        outln!("  {} {} ({})", p.imported_at, p.source_path, p.format);
    }
    Ok(0)
}
