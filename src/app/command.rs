//! Every user action as one `Command`: its label, description and shortcut drive the menus, the
//! keyboard handling, the command palette (Ctrl+K) and the `?` cheat sheet (rerun's `UICommand`).

use std::path::PathBuf;

use super::review::ReviewAction;
use eframe::egui::{Key, KeyboardShortcut, Modifiers};
use serde::{Deserialize, Serialize};

/// The four workspaces of the design card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Workspace {
    /// Item table, filters, (later) difficulty histogram and editor.
    Curation,
    /// GRPO launcher and live reward curves.
    Training,
    /// The selected item: image, question, options, answer.
    Inspector,
    /// Clinician review of reasoning traces.
    Review,
}

impl Workspace {
    /// All workspaces in tab order.
    pub const ALL: [Workspace; 4] = [Self::Curation, Self::Training, Self::Inspector, Self::Review];

    /// Tab title.
    pub fn title(self) -> &'static str {
        match self {
            Self::Curation => "Curation",
            Self::Training => "Training",
            Self::Inspector => "Inspector",
            Self::Review => "Review",
        }
    }
}

/// A user action. Commands are queued by the UI and applied by the app at the start of the next frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Pick a project file with a dialog.
    OpenProject,
    /// Type a project path (for systems without a file dialog).
    OpenProjectByPath,
    /// Open this project file.
    OpenProjectPath(PathBuf),
    /// Open the bundled sample project.
    OpenSampleProject,
    /// Create a new empty project (save dialog).
    NewProject,
    /// Pick files or a folder to import into the open project.
    ImportFiles,
    /// Pick a folder of images with a manifest to import.
    ImportFolder,
    /// Type the paths to import (for systems without a file dialog).
    ImportByPath,
    /// Ask to import these paths (shows the confirmation dialog).
    ImportPaths(Vec<PathBuf>),
    /// Re-read the open project from disk.
    ReloadProject,
    /// Stop running background jobs.
    CancelJobs,
    /// Stop one background job by name.
    CancelJob(String),
    /// Import these paths (the confirmation dialog's Import button).
    ConfirmImport {
        /// What to import.
        paths: Vec<PathBuf>,
        /// `None` = detect.
        format: Option<crate::io::import::ImportFormat>,
        /// Also read images outside each input's folder.
        allow_outside: bool,
    },
    /// Sort the item table by this column (again: the other way).
    SortTable(crate::domain::sort::SortKey),
    /// Hide or show one series of the training curves (its legend name).
    ToggleCurve(String),
    /// Show the About box.
    About,
    /// Store this markdown as the next version of the project's review guidelines.
    SaveGuidelines(String),
    /// Start a GRPO run with the Training form.
    StartTraining,
    /// Fill the Training form from a TOML run config (custom rewards included).
    LoadTrainingConfig,
    /// Fill the Training form with a run's settings.
    UseRunSettings(i64),
    /// Pause the running GRPO run before its next step.
    PauseTraining,
    /// Continue a paused run.
    ContinueTraining,
    /// Stop the running GRPO run (a checkpoint is written).
    StopTraining,
    /// Resume a stopped or interrupted run from its last checkpoint.
    ResumeTrainingRun(i64),
    /// Write the curves shown as CSV (raw and smoothed).
    ExportCurves,
    /// Open the export dialog (format, split, file, the patient-data confirmation).
    ExportData,
    /// Black out the region drawn on the inspected image (burned-in text), as an undoable edit.
    BlackOutRegion,
    /// Black out the text found in the inspected image at import (the boxes outlined on it).
    BlackOutFoundText,
    /// Export with the dialog's settings.
    ConfirmExport(Box<super::export::ExportDraft>),
    /// Estimate pass counts of the filtered items with the Curation panel's settings (a background job).
    EstimatePassCounts,
    /// Show only items whose pass count is this (a click on a histogram bar); `None` clears it.
    FilterPassCount(Option<usize>),
    /// Show only items inside the difficulty band (toggle).
    ToggleBandFilter,
    /// Evaluate a run's base model and checkpoints on the test split (greedy).
    CompareCheckpoints(i64),
    /// Show what changed since a dataset version.
    DiffVersion(String),
    /// Open the editor on the selected item.
    EditSelected,
    /// Save edits of one item (from the editor) as one undoable action.
    SaveEdits(String, Vec<(i64, crate::domain::edit::FieldEdit)>),
    /// Undo the last edit or bulk action.
    Undo,
    /// Redo the last undone action.
    Redo,
    /// Ask for a tag and add it to every item of the filter result.
    BulkTagPrompt,
    /// Apply a bulk action to every item of the filter result.
    Bulk(crate::curation::bulk::BulkAction),
    /// Record a review verdict on the selected item.
    ReviewSelected(crate::domain::ReviewStatus),
    /// An action of the Review workspace.
    Review(ReviewAction),
    /// Look for items shared across splits (same image bytes, or same question on the same image).
    CheckLeakage,
    /// Ask for a name and snapshot the items as a dataset version.
    CreateVersionPrompt,
    /// Snapshot the items under this name.
    CreateVersion(String),
    /// Show the command palette.
    CommandPalette,
    /// Show the keyboard shortcut sheet.
    ShortcutSheet,
    /// Bring a workspace to the front.
    ShowWorkspace(Workspace),
    /// Select the next item in the table.
    NextItem,
    /// Select the previous item in the table.
    PrevItem,
    /// Select an item by store id.
    SelectItem(i64),
    /// Put the keyboard focus in the search box.
    FocusSearch,
    /// Clear every filter.
    ClearFilters,
    /// Switch between dark and light theme.
    ToggleTheme,
    /// Restore the default tile layout.
    ResetLayout,
    /// Quit the application.
    Quit,
}

const fn ctrl(key: Key) -> KeyboardShortcut {
    KeyboardShortcut::new(Modifiers::COMMAND, key)
}

const fn plain(key: Key) -> KeyboardShortcut {
    KeyboardShortcut::new(Modifiers::NONE, key)
}

impl Command {
    /// The parameterless commands, in the order the palette and the cheat sheet list them.
    pub fn listed() -> Vec<Command> {
        let mut v = vec![
            Self::CommandPalette,
            Self::ShortcutSheet,
            Self::About,
            Self::OpenProject,
            Self::OpenProjectByPath,
            Self::NewProject,
            Self::OpenSampleProject,
            Self::ImportFiles,
            Self::ImportFolder,
            Self::ImportByPath,
            Self::ReloadProject,
            Self::CancelJobs,
            Self::StartTraining,
            Self::LoadTrainingConfig,
            Self::PauseTraining,
            Self::ContinueTraining,
            Self::StopTraining,
            Self::ExportCurves,
            Self::ExportData,
            Self::BlackOutRegion,
            Self::BlackOutFoundText,
            Self::EstimatePassCounts,
            Self::ToggleBandFilter,
            Self::EditSelected,
            Self::Undo,
            Self::Redo,
            Self::BulkTagPrompt,
            Self::Bulk(crate::curation::bulk::BulkAction::Exclude),
            Self::Bulk(crate::curation::bulk::BulkAction::MoveSplit(crate::domain::Split::Train)),
            Self::Bulk(crate::curation::bulk::BulkAction::MoveSplit(crate::domain::Split::Val)),
            Self::Bulk(crate::curation::bulk::BulkAction::MoveSplit(crate::domain::Split::Test)),
            Self::Bulk(crate::curation::bulk::BulkAction::SetBand(Some(crate::curation::Difficulty::Medium))),
            Self::Bulk(crate::curation::bulk::BulkAction::SetBand(Some(crate::curation::Difficulty::Easy))),
            Self::Bulk(crate::curation::bulk::BulkAction::SetBand(Some(crate::curation::Difficulty::TooHard))),
            Self::Bulk(crate::curation::bulk::BulkAction::SetBand(None)),
            Self::Bulk(crate::curation::bulk::BulkAction::BlackOutText),
            Self::ReviewSelected(crate::domain::ReviewStatus::Accepted),
            Self::ReviewSelected(crate::domain::ReviewStatus::NeedsChanges),
            Self::ReviewSelected(crate::domain::ReviewStatus::Rejected),
            Self::Review(ReviewAction::Load),
            Self::Review(ReviewAction::Submit),
            Self::CheckLeakage,
            Self::CreateVersionPrompt,
        ];
        v.extend(Workspace::ALL.map(Self::ShowWorkspace));
        v.extend([
            Self::NextItem,
            Self::PrevItem,
            Self::FocusSearch,
            Self::ClearFilters,
            Self::ToggleTheme,
            Self::ResetLayout,
            Self::Quit,
        ]);
        v
    }

    /// Short label, used in menus and the palette.
    pub fn label(&self) -> String {
        match self {
            Self::OpenProject => "Open project…".into(),
            Self::OpenProjectByPath => "Open project by path…".into(),
            Self::OpenProjectPath(p) => format!("Open {}", p.display()),
            Self::OpenSampleProject => "Open sample project".into(),
            Self::NewProject => "New project…".into(),
            Self::ImportFiles => "Import data…".into(),
            Self::ImportFolder => "Import folder…".into(),
            Self::ImportByPath => "Import by path…".into(),
            Self::ImportPaths(p) => format!("Import {} path(s)", p.len()),
            Self::ReloadProject => "Reload project".into(),
            Self::CancelJobs => "Cancel background jobs".into(),
            Self::CancelJob(name) => format!("Cancel {name}"),
            Self::ConfirmImport { paths, .. } => format!("Import {} path(s) now", paths.len()),
            Self::About => "About MedVLM Workbench".into(),
            Self::SortTable(k) => format!("Sort items by {}", k.title()),
            Self::ToggleCurve(name) => format!("Hide or show {name}"),
            Self::SaveGuidelines(_) => "Save review guidelines".into(),
            Self::StartTraining => "Start training run".into(),
            Self::LoadTrainingConfig => "Load training config…".into(),
            Self::UseRunSettings(id) => format!("Use the settings of run {id}"),
            Self::PauseTraining => "Pause training".into(),
            Self::ContinueTraining => "Continue training".into(),
            Self::StopTraining => "Stop training".into(),
            Self::ResumeTrainingRun(id) => format!("Resume run {id}"),
            Self::ExportCurves => "Export curves as CSV".into(),
            Self::ExportData => "Export data…".into(),
            Self::BlackOutRegion => "Black out the drawn region".into(),
            Self::BlackOutFoundText => "Black out the text found".into(),
            Self::Bulk(crate::curation::bulk::BulkAction::BlackOutText) => {
                "Black out the text found in filtered items".into()
            }
            Self::ConfirmExport(d) => format!("Export to {}", d.out),
            Self::EstimatePassCounts => "Estimate pass counts…".into(),
            Self::FilterPassCount(Some(n)) => format!("Show items solved {n} times"),
            Self::FilterPassCount(None) => "Show every pass count".into(),
            Self::ToggleBandFilter => "Toggle difficulty band filter".into(),
            Self::EditSelected => "Edit selected item…".into(),
            Self::DiffVersion(n) => format!("Diff version {n:?} with the live items"),
            Self::CompareCheckpoints(run) => format!("Evaluate checkpoints of run {run}"),
            Self::SaveEdits(label, _) => format!("Save: {label}"),
            Self::Undo => "Undo".into(),
            Self::Redo => "Redo".into(),
            Self::BulkTagPrompt => "Tag all filtered items…".into(),
            Self::Bulk(crate::curation::bulk::BulkAction::Exclude) => "Exclude all filtered items".into(),
            Self::Bulk(crate::curation::bulk::BulkAction::MoveSplit(s)) => format!("Move filtered items to {s}"),
            Self::Bulk(crate::curation::bulk::BulkAction::Tag(t)) => format!("Tag filtered items {t:?}"),
            Self::Bulk(crate::curation::bulk::BulkAction::Untag(t)) => format!("Untag filtered items {t:?}"),
            Self::Bulk(crate::curation::bulk::BulkAction::SetBand(Some(d))) => {
                format!("Set band of filtered items: {}", d.slug())
            }
            Self::Bulk(crate::curation::bulk::BulkAction::SetBand(None)) => {
                "Clear the set band of filtered items".into()
            }
            Self::ReviewSelected(crate::domain::ReviewStatus::Accepted) => "Review: accept item".into(),
            Self::ReviewSelected(crate::domain::ReviewStatus::NeedsChanges) => "Review: item needs changes".into(),
            Self::ReviewSelected(crate::domain::ReviewStatus::Rejected) => "Review: reject item".into(),
            Self::ReviewSelected(crate::domain::ReviewStatus::Unreviewed) => "Review: (no verdict)".into(),
            Self::Review(a) => a.label(),
            Self::CheckLeakage => "Check leakage across splits".into(),
            Self::CreateVersionPrompt => "Save dataset version…".into(),
            Self::CreateVersion(n) => format!("Save version {n:?}"),
            Self::CommandPalette => "Command palette".into(),
            Self::ShortcutSheet => "Keyboard shortcuts".into(),
            Self::ShowWorkspace(w) => format!("Show {}", w.title()),
            Self::NextItem => "Next item".into(),
            Self::PrevItem => "Previous item".into(),
            Self::SelectItem(id) => format!("Select item {id}"),
            Self::FocusSearch => "Search items".into(),
            Self::ClearFilters => "Clear filters".into(),
            Self::ToggleTheme => "Toggle dark/light theme".into(),
            Self::ResetLayout => "Reset layout".into(),
            Self::Quit => "Quit".into(),
        }
    }

    /// One-line description for tooltips and the palette.
    pub fn description(&self) -> &'static str {
        match self {
            Self::OpenProject => "Open a .medvlm project file",
            Self::OpenProjectByPath => "Type the path of a .medvlm project file",
            Self::OpenProjectPath(_) => "Open this project",
            Self::OpenSampleProject => "Open the bundled synthetic sample project",
            Self::NewProject => "Create a new, empty project file",
            Self::ImportFiles => {
                "Import VQA-RAD, SLAKE, MedVLM-R1, MedVLThinker, Parquet or a manifest, or DICOM/NIfTI scans (each an item to author)"
            }
            Self::ImportByPath => "Type the paths of files or folders to import",
            Self::ImportFolder => {
                "Import a folder: PNG/JPEG images with manifest.jsonl or manifest.csv, or DICOM/NIfTI scans (a DICOMDIR is followed)"
            }
            Self::ImportPaths(_) => "Import these files into the open project",
            Self::ReloadProject => "Re-read the project from disk",
            Self::CancelJobs => "Stop imports and other background work at the next safe point",
            Self::CancelJob(_) => "Stop this background job at its next safe point",
            Self::ConfirmImport { .. } => "Import the confirmed paths into the open project",
            Self::About => "Version, licences and what the workbench is for",
            Self::SortTable(_) => "Sort the item table by this column; again for the other direction",
            Self::ToggleCurve(_) => "Hide or show this series on the charts (a click on its legend entry)",
            Self::SaveGuidelines(_) => {
                "Store the edited guidelines as a new version (ratings record the version in force)"
            }
            Self::StartTraining => "Start GRPO on this project with the Training form's settings",
            Self::LoadTrainingConfig => {
                "Fill the Training form from a TOML config (custom rewards, dynamic sampling, every setting)"
            }
            Self::UseRunSettings(_) => "Fill the Training form with this run's settings, to start another like it",
            Self::PauseTraining => "Hold the run before its next step",
            Self::ContinueTraining => "Continue a paused run",
            Self::StopTraining => "Stop after the current step and write a checkpoint",
            Self::ResumeTrainingRun(_) => "Continue a stopped or interrupted run from its last checkpoint",
            Self::ExportCurves => "Write every curve shown (raw and smoothed) to a CSV file next to the project",
            Self::ExportData => "Export the items as unified JSONL, verl Parquet or TRL JSONL with a dataset card",
            Self::BlackOutRegion => {
                "Fill the region drawn with shift + drag on the image with black (burned-in patient text), in a copy, undoably"
            }
            Self::BlackOutFoundText => {
                "Fill the lines of text found in the image at import (outlined in amber) with black, in a copy, undoably"
            }
            Self::ConfirmExport(_) => "Export with the dialog's settings",
            Self::EstimatePassCounts => "Sample each filtered item k times from the model and count correct answers",
            Self::FilterPassCount(_) => "Filter the table by pass count (click a histogram bar)",
            Self::ToggleBandFilter => "Keep only items inside the medium band (MedVLThinker: 1–7 of 16)",
            Self::CompareCheckpoints(_) => "Greedy test accuracy of the base model and each checkpoint, per modality",
            Self::DiffVersion(_) => "Added, removed and edited items since the version was saved",
            Self::EditSelected => "Edit question, options, answer, modality, body part, split and tags",
            Self::SaveEdits(..) => "Write the edit to the project's edit log",
            Self::Undo => "Undo the last edit or bulk action (kept in the project, survives restarts)",
            Self::Redo => "Redo the last undone action",
            Self::BulkTagPrompt => "Add a tag to every item of the filter result (one undoable action)",
            Self::Bulk(_) => "Apply to every item of the filter result, all or nothing (one undoable action)",
            Self::ReviewSelected(_) => "Record your verdict on the selected item (kept with reviewer and time)",
            Self::Review(a) => a.description(),
            Self::CheckLeakage => "List item pairs across splits with the same image bytes or question + image",
            Self::CreateVersionPrompt => "Snapshot every item as a named, immutable dataset version",
            Self::CreateVersion(_) => "Snapshot every item under this name",
            Self::CommandPalette => "Search and run any command",
            Self::ShortcutSheet => "Show every keyboard shortcut",
            Self::ShowWorkspace(Workspace::Curation) => "Item table with filters",
            Self::ShowWorkspace(Workspace::Training) => "GRPO runs and live reward curves",
            Self::ShowWorkspace(Workspace::Inspector) => "Image, question, options and answer of the selected item",
            Self::ShowWorkspace(Workspace::Review) => "Review reasoning traces next to the image",
            Self::NextItem => "Select the next item of the filtered table",
            Self::PrevItem => "Select the previous item of the filtered table",
            Self::SelectItem(_) => "Select an item",
            Self::FocusSearch => "Put the cursor in the item search box",
            Self::ClearFilters => "Show all items again",
            Self::ToggleTheme => "Dark is the default; light is for bright rooms",
            Self::ResetLayout => "Put the workspaces back where they started",
            Self::Quit => "Close the workbench (everything is already saved)",
        }
    }

    /// Keyboard shortcuts; the first is shown in menus.
    pub fn shortcuts(&self) -> Vec<KeyboardShortcut> {
        match self {
            Self::OpenProject => vec![ctrl(Key::O)],
            Self::NewProject => vec![ctrl(Key::N)],
            Self::ImportFiles => vec![ctrl(Key::I)],
            Self::ReloadProject => vec![ctrl(Key::R)],
            Self::CommandPalette => vec![ctrl(Key::K), ctrl(Key::P)],
            Self::ShortcutSheet => vec![plain(Key::Questionmark), KeyboardShortcut::new(Modifiers::SHIFT, Key::Slash)],
            Self::ShowWorkspace(Workspace::Curation) => vec![ctrl(Key::Num1)],
            Self::ShowWorkspace(Workspace::Training) => vec![ctrl(Key::Num2)],
            Self::ShowWorkspace(Workspace::Inspector) => vec![ctrl(Key::Num3)],
            Self::ShowWorkspace(Workspace::Review) => vec![ctrl(Key::Num4)],
            Self::NextItem => vec![plain(Key::J), plain(Key::ArrowDown)],
            Self::PrevItem => vec![plain(Key::K), plain(Key::ArrowUp)],
            Self::FocusSearch => vec![ctrl(Key::F), plain(Key::Slash)],
            Self::ClearFilters => vec![KeyboardShortcut::new(Modifiers::COMMAND.plus(Modifiers::SHIFT), Key::X)],
            Self::ToggleTheme => vec![KeyboardShortcut::new(Modifiers::COMMAND.plus(Modifiers::SHIFT), Key::T)],
            Self::Quit => vec![ctrl(Key::Q)],
            Self::ToggleBandFilter => vec![ctrl(Key::B)],
            Self::EditSelected => vec![ctrl(Key::E)],
            Self::Undo => vec![ctrl(Key::Z)],
            Self::Redo => vec![KeyboardShortcut::new(Modifiers::COMMAND.plus(Modifiers::SHIFT), Key::Z), ctrl(Key::Y)],
            Self::ReviewSelected(crate::domain::ReviewStatus::Accepted) => vec![plain(Key::A)],
            Self::ReviewSelected(crate::domain::ReviewStatus::NeedsChanges) => vec![plain(Key::N)],
            Self::ReviewSelected(crate::domain::ReviewStatus::Rejected) => vec![plain(Key::X)],
            _ => vec![],
        }
    }

    /// True for shortcuts without Ctrl/Cmd, which must not fire while typing in a text field.
    pub fn is_plain_key(shortcut: &KeyboardShortcut) -> bool {
        !shortcut.modifiers.command && !shortcut.modifiers.ctrl && !shortcut.modifiers.alt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_two_commands_share_a_shortcut() {
        let mut seen = std::collections::HashMap::new();
        for c in Command::listed() {
            for s in c.shortcuts() {
                if let Some(prev) = seen.insert((s.modifiers.command, s.modifiers.shift, s.logical_key), c.label()) {
                    panic!("{} and {} share {:?}", prev, c.label(), s);
                }
            }
        }
    }

    #[test]
    fn every_listed_command_is_described() {
        for c in Command::listed() {
            assert!(!c.label().is_empty() && !c.description().is_empty());
        }
    }
}
