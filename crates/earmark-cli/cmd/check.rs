//! `earmark check --server URL FILE ...`: what a file-sharing client embeds. The audio
//! is fingerprinted here, in-process; only the compact fingerprint (a few KB) goes to
//! the service's `POST /v1/check`, which answers allow, block or review.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use earmark_core::Fingerprinter;
use earmark_service::FINGERPRINT_MEDIA_TYPE;
use serde_json::{Value, json};

use crate::output::outln;

/// Arguments of `earmark check`.
#[derive(clap::Args)]
pub struct Args {
    /// The service's base URL, e.g. `http://127.0.0.1:8080` (https through a proxy).
    #[arg(long, value_name = "URL")]
    server: String,
    /// A network (or admin) API key; `EARMARK_API_KEY` when not given.
    #[arg(
        long,
        value_name = "KEY",
        env = "EARMARK_API_KEY",
        hide_env_values = true
    )]
    key: String,
    /// Where the file is shared: an ISO 3166-1 alpha-2 territory code.
    #[arg(long, value_name = "CC")]
    territory: Option<String>,
    /// The network's name (admin keys only; a network key speaks for its network).
    #[arg(long, value_name = "NAME")]
    network: Option<String>,
    /// Print the service's JSON answer, one line per file.
    #[arg(long)]
    json: bool,
    /// Seconds to wait for each answer.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    timeout: f64,
    /// Audio files to check.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// Runs the command: exit code 1 when any file could not be checked.
pub fn run(args: Args) -> Result<ExitCode> {
    if !(args.timeout > 0.0 && args.timeout.is_finite()) {
        bail!("--timeout needs a positive number of seconds");
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs_f64(args.timeout)))
        .build()
        .into();
    let url = check_url(&args)?;
    let fingerprinter = Fingerprinter::default();
    let mut failed = false;
    for file in &args.files {
        match check_one(&agent, &url, &args.key, &fingerprinter, file) {
            Ok(answer) if args.json => {
                outln!(
                    "{}",
                    json!({"file": file.display().to_string(), "answer": answer})
                )?;
            }
            Ok(answer) => outln!("{}: {}", file.display(), describe(&answer))?,
            Err(e) => {
                failed = true;
                if args.json {
                    outln!(
                        "{}",
                        json!({"file": file.display().to_string(), "error": format!("{e:#}")})
                    )?;
                } else {
                    eprintln!("{}: {e:#}", file.display());
                }
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `<server>/v1/check` with the context as query parameters (the body is binary).
fn check_url(args: &Args) -> Result<String> {
    let base = args.server.trim_end_matches('/');
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        bail!("--server must be an http:// or https:// URL, not {base:?}");
    }
    let mut params = Vec::new();
    for (name, value) in [("territory", &args.territory), ("network", &args.network)] {
        if let Some(v) = value {
            if !v
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_. ".contains(c))
            {
                bail!("--{name} may only hold letters, digits, spaces and -_.");
            }
            params.push(format!("{name}={}", v.replace(' ', "+")));
        }
    }
    Ok(if params.is_empty() {
        format!("{base}/v1/check")
    } else {
        format!("{base}/v1/check?{}", params.join("&"))
    })
}

fn check_one(
    agent: &ureq::Agent,
    url: &str,
    key: &str,
    fingerprinter: &Fingerprinter,
    file: &Path,
) -> Result<Value> {
    let fingerprint = fingerprinter
        .fingerprint_file(file)
        .context("cannot fingerprint")?;
    let mut response = agent
        .post(url)
        .header("authorization", &format!("Bearer {key}"))
        .content_type(FINGERPRINT_MEDIA_TYPE)
        .send(&fingerprint.to_bytes()[..])
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let text = response
        .body_mut()
        .read_to_string()
        .context("cannot read the answer")?;
    let body: Value = serde_json::from_str(&text)
        .map_err(|_| anyhow!("HTTP {status}: the answer is not JSON: {text:.200}"))?;
    if !status.is_success() {
        let message = body["error"]["message"]
            .as_str()
            .or_else(|| body["message"].as_str())
            .unwrap_or("no message");
        bail!("HTTP {status}: {message}");
    }
    Ok(body)
}

/// One line for a person: the decision, and what decided it.
fn describe(answer: &Value) -> String {
    let decision = answer["decision"].as_str().unwrap_or("?");
    let rule = answer["rule"].as_str().unwrap_or("?");
    match answer["track"]["id"].as_str() {
        Some(id) => format!(
            "{decision} ({rule}): {id} \"{}\" of {}, confidence {}",
            answer["track"]["title"].as_str().unwrap_or(""),
            answer["rights_holder"].as_str().unwrap_or("unknown holder"),
            answer["confidence"]
        ),
        None => format!("{decision} ({rule}): no catalog match"),
    }
}
