//! `earmark fingerprint`: what a file-sharing client computes and sends.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use earmark_core::Fingerprinter;

use crate::output::outln;

/// Arguments of `earmark fingerprint`.
#[derive(clap::Args)]
pub struct Args {
    /// Audio file.
    file: PathBuf,
    /// Write the compact binary fingerprint here (without it, JSON goes to stdout).
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,
    /// Write JSON rather than binary to OUT.
    #[arg(long)]
    json: bool,
}

/// Runs the command.
pub fn run(args: Args) -> Result<ExitCode> {
    let fp = Fingerprinter::default()
        .fingerprint_file(&args.file)
        .with_context(|| format!("cannot fingerprint {}", args.file.display()))?;
    match &args.output {
        Some(out) => {
            let bytes = if args.json {
                fp.to_json().into_bytes()
            } else {
                fp.to_bytes()
            };
            std::fs::write(out, &bytes)
                .with_context(|| format!("cannot write {}", out.display()))?;
            eprintln!(
                "{}: {:.1} s, {} peaks, {} bytes written to {}",
                args.file.display(),
                fp.duration_s(),
                fp.peaks().len(),
                bytes.len(),
                out.display()
            );
        }
        None => outln!("{}", fp.to_json())?,
    }
    Ok(ExitCode::SUCCESS)
}
