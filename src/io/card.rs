//! The dataset card written beside every export (`<out>.card.md`): rows, format, order, prompt
//! template, the difficulty estimate and band, counts by split and modality, and the imports'
//! provenance, with no file or folder names.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::export::ExportOptions;
use crate::curation::{Band, Difficulty};
use crate::domain::VqaItem;
use crate::store::{PassCount, Project};

/// The card's markdown.
pub fn dataset_card(
    project: &Project,
    items: &[(i64, VqaItem)],
    est: &HashMap<i64, PassCount>,
    opts: &ExportOptions,
    out: &Path,
) -> String {
    let mut by: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut bands: BTreeMap<&str, usize> = BTreeMap::new();
    for (id, it) in items {
        *by.entry((it.split.as_str().to_string(), it.modality.as_str().to_string())).or_default() += 1;
        if let Some((key, band)) = &opts.difficulty {
            let b = band.unwrap_or_else(|| Band::medium(key.k));
            *bands.entry(Difficulty::of_item(&it.tags, est.get(id).copied(), b).label()).or_default() += 1;
        }
    }
    let mut s = format!(
        "# Dataset card: {}\n\nExported by medvlm {} on {} from project `{}`{}.\n\n",
        out.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default(),
        crate::VERSION,
        crate::util::now_rfc3339(),
        project.name(),
        opts.version.as_ref().map(|v| format!(", dataset version `{v}`")).unwrap_or_default()
    );
    s += &format!(
        "- Rows: {}\n- Format: {:?}\n- Order: {:?} (seed {})\n- Prompt template: {}\n",
        items.len(),
        opts.format,
        opts.order,
        opts.seed,
        opts.template.name()
    );
    if let Some((key, band)) = &opts.difficulty {
        s += &format!(
            "- Difficulty: pass counts of k = {} samples from `{}` with prompt `{}`, sampling {}\n",
            key.k, key.model_key, key.prompt_key, key.sampling_json
        );
        if let Some(b) = band {
            s += &format!("- Kept band: {}…{} correct of {}\n", b.lo, b.hi, key.k);
        }
    }
    s += "\n## Counts by split and modality\n\n| split | modality | items |\n|---|---|---|\n";
    for ((split, m), n) in &by {
        s += &format!("| {split} | {m} | {n} |\n");
    }
    if !bands.is_empty() {
        s += "\n## Difficulty bands\n\n| band | items |\n|---|---|\n";
        for (b, n) in &bands {
            s += &format!("| {b} | {n} |\n");
        }
    }
    s += "\n## Provenance\n\n";
    // No file or folder names: they are local, and real data name folders after patients.
    for p in project.provenance().unwrap_or_default() {
        s += &format!("- {} import on {} (medvlm {})\n", p.format, p.imported_at, p.tool_version);
    }
    s += "\nImages are named by the SHA-256 of their content; item metadata is limited to the dataset \
          fields the workbench knows (de-identification is best effort: check burned-in text yourself).\n";
    s
}
