//! `medvlm reward`: a completion scored by a preset's reward functions against an answer key, each
//! component printed (or one JSON object with `total` and one key per component), for debugging
//! rewards against the seeds' code without a project or a model.

use std::path::PathBuf;

use anyhow::{Context as _, bail};

use crate::domain::{Answer, VqaItem};
use crate::train::grpo::config::GrpoConfig;

/// `medvlm reward`.
#[derive(Debug, clap::Args)]
pub struct RewardArgs {
    /// The reward functions and weights of this preset (medvlm-r1, medvlthinker, tiny-demo, ...).
    #[arg(long, default_value = "medvlm-r1")]
    pub preset: String,
    /// A run config (TOML) whose rewards, `[[custom_rewards]]` included, score the completion
    /// (instead of `--preset`'s).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The completion text (`-` reads it from standard input).
    #[arg(long, required_unless_present = "completion_file")]
    pub completion: Option<String>,
    /// Read the completion from this file.
    #[arg(long, value_name = "FILE")]
    pub completion_file: Option<PathBuf>,
    /// The key: a letter (`A`), an option's text, or the answer of an open question.
    #[arg(long)]
    pub answer: String,
    /// The options as JSON: a list (`["Yes", "No"]`) or letters to texts (`{"A": "Yes", "B": "No"}`);
    /// none for an open question.
    #[arg(long)]
    pub options: Option<String>,
    /// One JSON object: `total` and one key per component.
    #[arg(long)]
    pub json: bool,
}

/// The options of `--options`, in letter order.
///
/// # Errors
/// Not a JSON list of strings or an object of letters to strings.
pub fn parse_options(json: &str) -> anyhow::Result<Vec<String>> {
    let v: serde_json::Value = serde_json::from_str(json).context("--options: not JSON")?;
    let text = |x: &serde_json::Value| -> anyhow::Result<String> {
        x.as_str().map(str::to_string).with_context(|| format!("--options: {x} is not a string"))
    };
    match v {
        serde_json::Value::Array(a) => a.iter().map(text).collect(),
        serde_json::Value::Object(m) => {
            let mut pairs: Vec<(String, String)> =
                m.iter().map(|(k, x)| Ok((k.trim().to_uppercase(), text(x)?))).collect::<anyhow::Result<_>>()?;
            pairs.sort();
            for (i, (k, _)) in pairs.iter().enumerate() {
                if *k != crate::domain::letter(i).to_string() {
                    bail!("--options: keys must be the letters A, B, C, ... in order (found {k:?})");
                }
            }
            Ok(pairs.into_iter().map(|(_, t)| t).collect())
        }
        _ => bail!("--options: use a JSON list or an object of letters to texts"),
    }
}

/// The item a completion is scored against.
///
/// # Errors
/// An answer that is neither a letter of the options nor one of their texts.
pub fn item(options: &[String], answer: &str) -> anyhow::Result<VqaItem> {
    let a = answer.trim();
    if options.is_empty() {
        return Ok(VqaItem { answer: Answer::Open(a.to_string()), ..VqaItem::choice("reward", "", &[], 0) });
    }
    let by_letter = (a.len() == 1)
        .then(|| a.chars().next())
        .flatten()
        .map(|c| c.to_ascii_uppercase())
        .and_then(|c| (0..options.len()).find(|&i| crate::domain::letter(i) == c));
    let by_text = || options.iter().position(|o| o.trim().eq_ignore_ascii_case(a));
    let Some(i) = by_letter.or_else(by_text) else {
        bail!("--answer {a:?} is neither a letter of the {} options nor one of their texts", options.len());
    };
    let opts: Vec<&str> = options.iter().map(String::as_str).collect();
    Ok(VqaItem::choice("reward", "", &opts, i))
}

pub(super) fn run(a: &RewardArgs) -> anyhow::Result<i32> {
    let cfg = match &a.config {
        Some(path) => GrpoConfig::from_file(path).map_err(anyhow::Error::msg)?,
        None => match GrpoConfig::preset(&a.preset) {
            Some(c) => c,
            None => bail!("--preset {:?}: unknown (use one of {})", a.preset, GrpoConfig::PRESETS.join(", ")),
        },
    };
    let completion = match (&a.completion, &a.completion_file) {
        (_, Some(f)) => std::fs::read_to_string(f).with_context(|| format!("--completion-file {}", f.display()))?,
        (Some(c), None) if c == "-" => std::io::read_to_string(std::io::stdin()).context("reading the completion")?,
        (Some(c), None) => c.clone(),
        (None, None) => bail!("give --completion TEXT or --completion-file FILE"),
    };
    let options = a.options.as_deref().map(parse_options).transpose()?.unwrap_or_default();
    let item = item(&options, &a.answer)?;
    let spec = cfg.reward_spec();
    let (parts, total) = spec.score(&completion, &item);
    if a.json {
        let mut m = serde_json::Map::new();
        m.insert("total".into(), serde_json::json!(total));
        for (k, v) in &parts {
            m.insert(k.clone(), serde_json::json!(v));
        }
        outln!("{}", serde_json::Value::Object(m));
    } else {
        for (name, w, v) in spec.breakdown(&parts) {
            outln!("{name:<24} {v:.2}  (weight {w})");
        }
        outln!("{:<24} {total:.2}", "total");
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_and_answers_are_read_as_the_seeds_write_them() {
        assert_eq!(parse_options(r#"["Yes","No"]"#).unwrap(), ["Yes", "No"]);
        assert_eq!(parse_options(r#"{"B":"No","A":"Yes"}"#).unwrap(), ["Yes", "No"]);
        assert!(parse_options(r#"{"A":"Yes","C":"No"}"#).unwrap_err().to_string().contains("letters"));
        let opts = vec!["Yes".to_string(), "No".to_string()];
        assert_eq!(item(&opts, "b").unwrap().answer, Answer::Choice(1));
        assert_eq!(item(&opts, "yes").unwrap().answer, Answer::Choice(0));
        assert!(item(&opts, "maybe").unwrap_err().to_string().contains("neither"));
        assert_eq!(item(&[], "left lung").unwrap().answer, Answer::Open("left lung".into()));
    }
}
