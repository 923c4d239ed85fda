//! The project file's SQLite schema and its forward-only migrations (`PRAGMA user_version`).
//!
//! Version 1 lays down every table the roadmap needs, so later features fill tables rather than
//! reshape them: items and images, the append-only edit log, dataset versions, difficulty
//! estimates, models, runs with checkpoints/metrics/rollouts, evaluation results and reviews.

use rusqlite::Connection;

/// `PRAGMA application_id` of a MedVLM project file ("MVLM").
pub const APPLICATION_ID: i32 = 0x4D56_4C4D;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i32 = 6;

/// Migration `i` brings a file from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6];

const V1: &str = r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- One row per import run: the provenance of the items it added.
CREATE TABLE import_batches (
    id           INTEGER PRIMARY KEY,
    format       TEXT NOT NULL,
    source_path  TEXT NOT NULL,
    tool_version TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,                    -- NULL while running or if the import was killed
    imported     INTEGER NOT NULL DEFAULT 0,
    duplicates   INTEGER NOT NULL DEFAULT 0,
    failed       INTEGER NOT NULL DEFAULT 0,
    report_json  TEXT
);

CREATE TABLE items (
    id           INTEGER PRIMARY KEY,
    uid          TEXT NOT NULL UNIQUE,
    question     TEXT NOT NULL,
    options_json TEXT NOT NULL,           -- JSON array of option texts, letter A first
    answer_json  TEXT NOT NULL,           -- {"kind":"choice","value":i} | {"kind":"open","value":"..."}
    modality     TEXT NOT NULL,
    body_part    TEXT,
    source       TEXT NOT NULL,
    split        TEXT NOT NULL CHECK (split IN ('train','val','test')),
    tags_json    TEXT NOT NULL DEFAULT '[]',
    meta_json    TEXT NOT NULL DEFAULT '{}',
    batch_id     INTEGER REFERENCES import_batches(id),
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX items_split ON items(split);
CREATE INDEX items_modality ON items(modality);
CREATE INDEX items_source ON items(source);

CREATE TABLE images (
    id      INTEGER PRIMARY KEY,
    path    TEXT NOT NULL UNIQUE,          -- relative to the project file's folder where possible
    sha256  TEXT,                          -- NULL: the file was missing when last checked
    bytes   INTEGER,
    width   INTEGER,
    height  INTEGER
);
CREATE INDEX images_sha256 ON images(sha256);

CREATE TABLE item_images (
    item_id  INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    ord      INTEGER NOT NULL,
    image_id INTEGER NOT NULL REFERENCES images(id),
    PRIMARY KEY (item_id, ord)
);
CREATE INDEX item_images_image ON item_images(image_id);

-- Append-only edit log. A group is one user action (a field edit, a bulk action, an undo, a redo).
-- `active` applies to kind='edit': 1 applied, 0 undone (redoable), -1 undone and abandoned.
CREATE TABLE edit_groups (
    id         INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    label      TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('edit','undo','redo')),
    target     INTEGER REFERENCES edit_groups(id),
    active     INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE edits (
    id       INTEGER PRIMARY KEY,
    group_id INTEGER NOT NULL REFERENCES edit_groups(id),
    item_id  INTEGER NOT NULL REFERENCES items(id),
    field    TEXT NOT NULL,
    old_json TEXT NOT NULL,
    new_json TEXT NOT NULL
);
CREATE INDEX edits_group ON edits(group_id);
CREATE INDEX edits_item ON edits(item_id);

-- Named, immutable snapshots of the item set (content hash per item, for diffs).
CREATE TABLE dataset_versions (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    note       TEXT NOT NULL DEFAULT '',
    edit_head  INTEGER REFERENCES edit_groups(id),
    item_count INTEGER NOT NULL
);
CREATE TABLE version_items (
    version_id   INTEGER NOT NULL REFERENCES dataset_versions(id),
    item_id      INTEGER NOT NULL REFERENCES items(id),
    content_hash TEXT NOT NULL,
    item_json    TEXT NOT NULL,
    PRIMARY KEY (version_id, item_id)
);

-- Models known to the project (built-in tiny model, Hugging Face checkpoint folders, run checkpoints).
CREATE TABLE models (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,             -- builtin | hf-dir | checkpoint
    path        TEXT,
    config_json TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL
);

-- Pass-count difficulty estimates; the key keeps estimates from different models/prompts/sampling apart.
CREATE TABLE difficulty_estimates (
    id            INTEGER PRIMARY KEY,
    item_id       INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    model_key     TEXT NOT NULL,
    prompt_key    TEXT NOT NULL,
    sampling_json TEXT NOT NULL,
    k             INTEGER NOT NULL,
    n_samples     INTEGER NOT NULL,
    n_correct     INTEGER NOT NULL,
    origin        TEXT NOT NULL,           -- 'passrate' job or 'run:<id>' (closed loop)
    updated_at    TEXT NOT NULL,
    UNIQUE (item_id, model_key, prompt_key, sampling_json, origin)
);

CREATE TABLE runs (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL,          -- grpo | sft | eval | passrate
    status         TEXT NOT NULL,          -- created | running | paused | stopped | finished | failed
    config_json    TEXT NOT NULL,
    version_id     INTEGER REFERENCES dataset_versions(id),
    model_id       INTEGER REFERENCES models(id),
    parent_run_id  INTEGER REFERENCES runs(id),
    seed           INTEGER NOT NULL,
    code_version   TEXT NOT NULL,
    started_at     TEXT NOT NULL,
    ended_at       TEXT,
    message        TEXT
);
CREATE TABLE run_steps (
    run_id       INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step         INTEGER NOT NULL,
    wall_time    REAL NOT NULL,            -- seconds since the Unix epoch
    samples_seen INTEGER NOT NULL,
    tokens_seen  INTEGER NOT NULL,
    PRIMARY KEY (run_id, step)
);
CREATE TABLE metrics (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step   INTEGER NOT NULL,
    name   TEXT NOT NULL,                  -- TRL names: reward, reward_std, rewards/<fn>/mean, kl, ...
    value  REAL NOT NULL,
    PRIMARY KEY (run_id, step, name)
);
CREATE TABLE checkpoints (
    id         INTEGER PRIMARY KEY,
    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step       INTEGER NOT NULL,
    path       TEXT NOT NULL,
    state_json TEXT NOT NULL DEFAULT '{}', -- data order cursor, RNG state, optimizer file
    created_at TEXT NOT NULL,
    UNIQUE (run_id, step)
);
CREATE TABLE rollouts (
    id           INTEGER PRIMARY KEY,
    run_id       INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step         INTEGER NOT NULL,
    item_id      INTEGER NOT NULL REFERENCES items(id),
    group_index  INTEGER NOT NULL,
    sample_index INTEGER NOT NULL,
    completion   TEXT NOT NULL,
    rewards_json TEXT NOT NULL,            -- {"format": 1.0, "accuracy": 0.5}
    reward       REAL NOT NULL,
    advantage    REAL NOT NULL,
    n_tokens     INTEGER NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX rollouts_run_step ON rollouts(run_id, step);
CREATE INDEX rollouts_item ON rollouts(item_id);
CREATE TABLE eval_results (
    run_id       INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    item_id      INTEGER NOT NULL REFERENCES items(id),
    sample_index INTEGER NOT NULL,
    output       TEXT NOT NULL,
    parsed_json  TEXT NOT NULL,            -- per parser: extracted answer and correctness
    PRIMARY KEY (run_id, item_id, sample_index)
);

-- Clinician reviews of an item or of one rollout, with what the reviewer saw.
CREATE TABLE reviews (
    id                 INTEGER PRIMARY KEY,
    item_id            INTEGER NOT NULL REFERENCES items(id),
    rollout_id         INTEGER REFERENCES rollouts(id),
    reviewer           TEXT NOT NULL,
    rubric_json        TEXT NOT NULL,
    verdict            TEXT,
    comment            TEXT NOT NULL DEFAULT '',
    guideline_version  TEXT,
    display_state_json TEXT NOT NULL DEFAULT '{}',
    seconds_on_task    REAL,
    created_at         TEXT NOT NULL
);
CREATE TABLE review_spans (
    id        INTEGER PRIMARY KEY,
    review_id INTEGER NOT NULL REFERENCES reviews(id) ON DELETE CASCADE,
    start     INTEGER NOT NULL,
    end       INTEGER NOT NULL,
    tag       TEXT NOT NULL,
    comment   TEXT NOT NULL DEFAULT '',
    roi_json  TEXT
);
"#;

/// Version 2: per-step, per-item outcomes of GRPO groups (the closed loop from training to
/// difficulty). Kept per step so that a resume's truncation keeps the running estimate exact.
const V2: &str = r#"
CREATE TABLE run_item_outcomes (
    run_id    INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step      INTEGER NOT NULL,
    item_id   INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    n_samples INTEGER NOT NULL,
    n_correct INTEGER NOT NULL,
    zero_std  INTEGER NOT NULL,
    PRIMARY KEY (run_id, step, item_id)
);
CREATE INDEX run_item_outcomes_item ON run_item_outcomes(item_id);
CREATE INDEX difficulty_estimates_key ON difficulty_estimates(model_key, prompt_key, sampling_json);
"#;

/// Version 3: images that exist but cannot be used (why), the owner and heartbeat of a running run
/// (one process per run; a dead owner's run reads as interrupted), and checkpoint scores in a table
/// of their own (they were `eval` runs whose config held the score: moved here, the eval runs kept
/// and linked to their training run).
const V3: &str = r#"
ALTER TABLE images ADD COLUMN unreadable TEXT;          -- NULL: the file decodes
ALTER TABLE runs ADD COLUMN owner_pid INTEGER;
ALTER TABLE runs ADD COLUMN owner_host TEXT;
ALTER TABLE runs ADD COLUMN heartbeat_at REAL;          -- Unix seconds of the owner's last sign of life
CREATE TABLE checkpoint_scores (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,  -- the training run
    eval_run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,  -- kind eval, parent_run_id = run_id
    step        INTEGER NOT NULL,                       -- 0: the base model
    label       TEXT NOT NULL,
    split       TEXT NOT NULL,
    scores_json TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX checkpoint_scores_run ON checkpoint_scores(run_id, split, step);
INSERT INTO checkpoint_scores(run_id, eval_run_id, step, label, split, scores_json, created_at)
    SELECT json_extract(config_json, '$.run'), id, json_extract(config_json, '$.step'),
           json_extract(config_json, '$.label'), json_extract(config_json, '$.split'), config_json, started_at
    FROM runs
    WHERE kind = 'eval' AND json_valid(config_json)
      AND json_extract(config_json, '$.run') IN (SELECT id FROM runs);
UPDATE runs SET parent_run_id = json_extract(config_json, '$.run')
    WHERE kind = 'eval' AND parent_run_id IS NULL AND json_valid(config_json)
      AND json_extract(config_json, '$.run') IN (SELECT id FROM runs);
"#;

/// Version 4: rubric ratings of traces (`reviews` rows without a verdict) carry the checkpoint and
/// the trace the reviewer saw; versioned review guidelines.
const V4: &str = r#"
ALTER TABLE reviews ADD COLUMN checkpoint TEXT NOT NULL DEFAULT '';
ALTER TABLE reviews ADD COLUMN trace TEXT NOT NULL DEFAULT '';
CREATE INDEX reviews_item ON reviews(item_id);
CREATE TABLE guidelines (
    version    INTEGER PRIMARY KEY,
    markdown   TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"#;

/// Version 5: blind pairwise judgments of two checkpoints' traces of an item.
const V5: &str = r#"
CREATE TABLE pairwise (
    id                INTEGER PRIMARY KEY,
    run_id            INTEGER NOT NULL REFERENCES runs(id),
    item_id           INTEGER NOT NULL REFERENCES items(id),
    rollout_a         INTEGER NOT NULL,
    step_a            INTEGER NOT NULL,
    rollout_b         INTEGER NOT NULL,
    step_b            INTEGER NOT NULL,
    a_left            INTEGER NOT NULL,
    choice            TEXT NOT NULL CHECK (choice IN ('a', 'b', 'tie')),
    reviewer          TEXT NOT NULL,
    seconds           REAL NOT NULL,
    guideline_version INTEGER,
    created_at        TEXT NOT NULL
);
CREATE INDEX pairwise_run ON pairwise(run_id);
"#;

/// Version 6: the regions blacked out of an image (burned-in text), so that a de-identified DICOM
/// copy of its source blacks out the same.
const V6: &str = r#"
ALTER TABLE images ADD COLUMN redacted_json TEXT;       -- [[x0, y0, x1, y1], ...]; NULL: none
"#;

/// Brings `conn` to [`SCHEMA_VERSION`], one transaction per migration.
///
/// # Errors
/// SQLite errors, or [`MigrateError::TooNew`] for a file written by a newer build.
pub fn migrate(conn: &mut Connection) -> Result<i32, MigrateError> {
    let current: i32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > SCHEMA_VERSION {
        return Err(MigrateError::TooNew { found: current, supported: SCHEMA_VERSION });
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", from as i32 + 1)?;
        tx.commit()?;
    }
    Ok(SCHEMA_VERSION)
}

/// Why a migration failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The file was written by a newer version of the workbench.
    #[error("schema version {found} is newer than this build supports ({supported}); update medvlm")]
    TooNew {
        /// Version in the file.
        found: i32,
        /// Highest version this build knows.
        supported: i32,
    },
    /// SQLite failed.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}
