//! `medvlm review`: rate a trace from a script, export and import ratings (JSONL / CSV, one row per
//! rating), inter-rater agreement per rubric dimension, the right-answer / wrong-reason matrix,
//! and the project's rubric and guidelines.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context as _, bail};

use super::{Cli, require_project};
use crate::review::{Rating, Rubric, Span, SpanTag, agreement, matrix};
use crate::store::Project;

/// `medvlm review`.
#[derive(Debug, clap::Args)]
pub struct ReviewArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ReviewCommand,
}

/// Review subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ReviewCommand {
    /// Record one rating (stored at once).
    Rate {
        /// The item's uid.
        #[arg(long)]
        item: String,
        /// Reviewer name.
        #[arg(long)]
        reviewer: String,
        /// The model that wrote the trace.
        #[arg(long, default_value = "")]
        checkpoint: String,
        /// The reasoning rated (spans index its characters).
        #[arg(long, default_value = "")]
        trace: String,
        /// A rubric value, `key=value` (repeatable), e.g. `answer_correct=1`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        values: Vec<String>,
        /// Free-text comment.
        #[arg(long, default_value = "")]
        comment: String,
        /// A span comment `start:end:tag[:comment]` (tags: hallucination, wrong-laterality,
        /// wrong-modality, irrelevant).
        #[arg(long = "span")]
        spans: Vec<String>,
    },
    /// Write every rating, one row each (`.jsonl` or `.csv`, by extension).
    Export {
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Read ratings written by `review export` (`.jsonl` or `.csv`); bad rows are named by line.
    Import {
        /// Input file.
        file: PathBuf,
    },
    /// Agreement per rubric dimension (Cohen's κ for two reviewers, Fleiss' κ for more) and the
    /// disagreements to adjudicate.
    Agreement {
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Answer correct × reasoning supported, per checkpoint.
    Matrix {
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Blind A/B judgments of each run's first and last checkpoint (made in the Review
    /// workspace): per run, the later checkpoint's wins, losses, ties, win rate and sign test.
    Pairwise {
        /// Only this run.
        #[arg(long)]
        run: Option<i64>,
        /// One JSON object per run.
        #[arg(long)]
        json: bool,
    },
    /// Print the rubric, or set it from a JSON file.
    Rubric {
        /// A rubric JSON file (`{"dimensions": [{"key", "label", "type": "yes_no" | "scale", "min", "max"}]}`).
        #[arg(long)]
        set: Option<PathBuf>,
    },
    /// Print the newest guidelines, or store a new version from a markdown file.
    Guidelines {
        /// A markdown file.
        #[arg(long)]
        set: Option<PathBuf>,
    },
}

pub(super) fn run(cli: &Cli, a: &ReviewArgs) -> anyhow::Result<i32> {
    let path = require_project(cli)?;
    let mut p = Project::open(path).with_context(|| format!("opening {}", path.display()))?;
    match &a.command {
        ReviewCommand::Rate { item, reviewer, checkpoint, trace, values, comment, spans } => {
            let r = Rating {
                id: 0,
                item: item.clone(),
                rollout_id: None,
                checkpoint: checkpoint.clone(),
                trace: trace.clone(),
                reviewer: reviewer.clone(),
                values: parse_values(values)?,
                comment: comment.clone(),
                spans: spans.iter().map(|s| parse_span(s)).collect::<anyhow::Result<_>>()?,
                guideline_version: p.guidelines()?.map(|g| g.0),
                seen: Default::default(),
                seconds: 0.0,
                created_at: String::new(),
            };
            let id = p.add_rating(&r)?;
            outln!("rating {id} stored");
            Ok(0)
        }
        ReviewCommand::Export { out } => {
            let ratings = p.ratings()?;
            let keys: Vec<String> = p.rubric()?.dimensions.into_iter().map(|d| d.key).collect();
            match ext(out).as_str() {
                "jsonl" => {
                    let mut text = String::new();
                    for r in &ratings {
                        text.push_str(&serde_json::to_string(r)?);
                        text.push('\n');
                    }
                    crate::util::write_atomic(out, text.as_bytes())
                        .with_context(|| format!("writing {}", out.display()))?;
                }
                "csv" => write_csv(out, &ratings, &keys)?,
                e => bail!("--out {}: use a .jsonl or .csv file (not {e:?})", out.display()),
            }
            outln!("{} ratings written to {}", ratings.len(), out.display());
            Ok(0)
        }
        ReviewCommand::Import { file } => import(&mut p, file),
        ReviewCommand::Agreement { json } => {
            let keys: Vec<String> = p.rubric()?.dimensions.into_iter().map(|d| d.key).collect();
            let a = agreement::per_dimension(&p.ratings()?, &keys);
            if *json {
                outln!("{}", serde_json::to_string(&a)?);
                return Ok(0);
            }
            if a.is_empty() {
                outln!("no dimension was rated by two or more reviewers");
            }
            for d in &a {
                let k = d.kappa.map_or("undefined".into(), |k| format!("{k:.3}"));
                outln!(
                    "{:<22} {} κ {k} over {} units, {} disagreements",
                    d.key,
                    d.method,
                    d.units,
                    d.disagreements.len()
                );
                for ((item, ck, _), by) in d.disagreements.iter().take(20) {
                    let who: Vec<String> = by.iter().map(|(r, v)| format!("{r}={v}")).collect();
                    outln!("    {item} [{ck}]: {}", who.join(", "));
                }
            }
            Ok(0)
        }
        ReviewCommand::Matrix { json } => matrix_table(&p, *json),
        ReviewCommand::Pairwise { run, json } => pairwise(&p, *run, *json),
        ReviewCommand::Rubric { set } => {
            if let Some(f) = set {
                let text = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
                let r: Rubric =
                    serde_json::from_str(&text).with_context(|| format!("{}: not a rubric", f.display()))?;
                p.set_rubric(&r)?;
            }
            outln!("{}", serde_json::to_string_pretty(&p.rubric()?)?);
            Ok(0)
        }
        ReviewCommand::Guidelines { set } => {
            if let Some(f) = set {
                let text = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
                let v = p.add_guidelines(&text)?;
                outln!("guidelines version {v} stored");
                return Ok(0);
            }
            match p.guidelines()? {
                Some((v, md)) => outln!("# version {v}\n{md}"),
                None => outln!("no guidelines yet: medvlm review guidelines --set FILE.md"),
            }
            Ok(0)
        }
    }
}

fn ext(p: &std::path::Path) -> String {
    p.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase()
}

fn parse_values(values: &[String]) -> anyhow::Result<BTreeMap<String, i64>> {
    values
        .iter()
        .map(|kv| {
            let (k, v) = kv.split_once('=').with_context(|| format!("--set {kv:?}: expected KEY=VALUE"))?;
            let v: i64 = v.trim().parse().with_context(|| format!("--set {kv:?}: the value is not an integer"))?;
            Ok((k.trim().to_string(), v))
        })
        .collect()
}

fn parse_span(s: &str) -> anyhow::Result<Span> {
    let mut parts = s.splitn(4, ':');
    let (Some(a), Some(b), Some(t)) = (parts.next(), parts.next(), parts.next()) else {
        bail!("--span {s:?}: expected start:end:tag[:comment]");
    };
    let tag = SpanTag::parse(t).with_context(|| {
        let all: Vec<&str> = SpanTag::ALL.iter().map(|t| t.as_str()).collect();
        format!("--span {s:?}: unknown tag {t:?} (one of {})", all.join(", "))
    })?;
    Ok(Span {
        start: a.parse().with_context(|| format!("--span {s:?}: bad start"))?,
        end: b.parse().with_context(|| format!("--span {s:?}: bad end"))?,
        tag,
        comment: parts.next().unwrap_or("").to_string(),
        roi: None,
    })
}

/// CSV columns: the fixed fields, one column per rubric key, then comment and spans (JSON).
fn write_csv(out: &std::path::Path, ratings: &[Rating], keys: &[String]) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> =
        ["id", "item", "checkpoint", "rollout_id", "reviewer", "created_at", "guideline_version", "seconds"]
            .map(String::from)
            .to_vec();
    header.extend(keys.iter().cloned());
    header.extend(["comment", "trace", "spans", "seen"].map(String::from));
    w.write_record(&header)?;
    for r in ratings {
        let mut row = vec![
            r.id.to_string(),
            r.item.clone(),
            r.checkpoint.clone(),
            r.rollout_id.map(|v| v.to_string()).unwrap_or_default(),
            r.reviewer.clone(),
            r.created_at.clone(),
            r.guideline_version.map(|v| v.to_string()).unwrap_or_default(),
            format!("{:.1}", r.seconds),
        ];
        row.extend(keys.iter().map(|k| r.values.get(k).map(ToString::to_string).unwrap_or_default()));
        row.extend([
            r.comment.clone(),
            r.trace.clone(),
            serde_json::to_string(&r.spans)?,
            serde_json::to_string(&r.seen)?,
        ]);
        w.write_record(&row)?;
    }
    let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    crate::util::write_atomic(out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

fn read_csv(file: &std::path::Path, keys: &[String]) -> anyhow::Result<Vec<(usize, anyhow::Result<Rating>)>> {
    let mut rd = csv::Reader::from_path(file).with_context(|| format!("reading {}", file.display()))?;
    let header: Vec<String> = rd.headers()?.iter().map(String::from).collect();
    let col = |name: &str| header.iter().position(|h| h == name);
    let mut out = Vec::new();
    for (i, rec) in rd.records().enumerate() {
        let line = i + 2;
        let parsed = rec.map_err(anyhow::Error::from).and_then(|rec| {
            let get = |name: &str| col(name).and_then(|c| rec.get(c)).unwrap_or("").to_string();
            let mut values = BTreeMap::new();
            for k in keys {
                let v = get(k);
                if !v.is_empty() {
                    values
                        .insert(k.clone(), v.parse::<i64>().with_context(|| format!("{k} = {v:?} is not an integer"))?);
                }
            }
            let opt_i64 = |s: String| -> anyhow::Result<Option<i64>> {
                if s.is_empty() { Ok(None) } else { Ok(Some(s.parse()?)) }
            };
            Ok(Rating {
                id: 0,
                item: get("item"),
                rollout_id: opt_i64(get("rollout_id"))?,
                checkpoint: get("checkpoint"),
                trace: get("trace"),
                reviewer: get("reviewer"),
                values,
                comment: get("comment"),
                spans: if get("spans").is_empty() { vec![] } else { serde_json::from_str(&get("spans"))? },
                guideline_version: opt_i64(get("guideline_version"))?,
                seen: if get("seen").is_empty() { Default::default() } else { serde_json::from_str(&get("seen"))? },
                seconds: get("seconds").parse().unwrap_or(0.0),
                created_at: String::new(),
            })
        });
        out.push((line, parsed));
    }
    Ok(out)
}

fn import(p: &mut Project, file: &std::path::Path) -> anyhow::Result<i32> {
    let rows: Vec<(usize, anyhow::Result<Rating>)> = match ext(file).as_str() {
        "jsonl" => std::fs::read_to_string(file)
            .with_context(|| format!("reading {}", file.display()))?
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| (i + 1, serde_json::from_str::<Rating>(l).map_err(anyhow::Error::from)))
            .collect(),
        "csv" => {
            let keys: Vec<String> = p.rubric()?.dimensions.into_iter().map(|d| d.key).collect();
            read_csv(file, &keys)?
        }
        e => bail!("{}: use a .jsonl or .csv file (not {e:?})", file.display()),
    };
    let (mut ok, mut bad) = (0, 0);
    for (line, r) in rows {
        match r.and_then(|r| p.add_rating(&r).map_err(anyhow::Error::from)) {
            Ok(_) => ok += 1,
            Err(e) => {
                bad += 1;
                eprintln!("{}:{line}: {e:#}", file.display());
            }
        }
    }
    outln!("{ok} ratings imported, {bad} skipped");
    Ok(if ok == 0 && bad > 0 { 1 } else { 0 })
}

/// `medvlm review pairwise`: per run, the blind A/B tally.
fn pairwise(p: &Project, run: Option<i64>, json: bool) -> anyhow::Result<i32> {
    let judged = p.judgments(run)?;
    let mut by_run: std::collections::BTreeMap<i64, Vec<crate::review::pairwise::Choice>> =
        std::collections::BTreeMap::new();
    for j in &judged {
        by_run.entry(j.run).or_default().push(j.choice);
    }
    if by_run.is_empty() {
        outln!("no pairwise judgments yet: Review workspace → Blind A/B");
    }
    for (r, choices) in by_run {
        let t = crate::review::pairwise::Tally::of(choices);
        if json {
            let v = serde_json::json!({"run": r, "later": t.b, "earlier": t.a, "ties": t.ties,
                "later_win_rate": t.b_win_rate(), "sign_test_p": t.sign_test_p()});
            outln!("{v}");
        } else {
            outln!("run {r}: {}", t.describe());
        }
    }
    Ok(0)
}

/// `medvlm review matrix`: answer correct × reasoning supported, per checkpoint.
fn matrix_table(p: &Project, json: bool) -> anyhow::Result<i32> {
    let m = matrix::by_checkpoint(&p.ratings()?);
    if json {
        outln!("{}", serde_json::to_string(&m)?);
        return Ok(0);
    }
    outln!(
        "{:<28} {:>14} {:>16} {:>14} {:>16}  right for wrong reasons",
        "checkpoint",
        "right+support",
        "right+unsupport",
        "wrong+support",
        "wrong+unsupport"
    );
    for (ck, c) in &m {
        let share = c.right_for_wrong_reasons().map_or("-".into(), |s| format!("{:.1} %", 100.0 * s));
        outln!(
            "{:<28} {:>14} {:>16} {:>14} {:>16}  {share}",
            ck,
            c.right_supported,
            c.right_unsupported,
            c.wrong_supported,
            c.wrong_unsupported
        );
    }
    Ok(0)
}
