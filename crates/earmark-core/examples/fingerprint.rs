//! Fingerprints audio files and prints what a client would send for each.
//!
//! `cargo run --release -p earmark-core --example fingerprint -- FILE...`

use std::time::Instant;

use earmark_core::{Fingerprinter, HashConfig};

fn main() {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: fingerprint FILE...");
        std::process::exit(2);
    }
    let fingerprinter = Fingerprinter::default();
    let mut failed = false;
    for path in &paths {
        let started = Instant::now();
        match fingerprinter.decode_file(path) {
            Ok(decoded) => {
                let fp = &decoded.fingerprint;
                let secs = started.elapsed().as_secs_f64();
                let bytes = fp.to_bytes().len();
                println!(
                    "{path}: {:.1} s of audio, {} peaks ({:.1}/s), {} landmarks, {} wire bytes \
                     ({:.0} B/min), {:.0}x real time{}",
                    fp.duration_s(),
                    fp.peaks().len(),
                    fp.peaks().len() as f64 / fp.duration_s().max(1e-9),
                    fp.catalog_landmarks(&HashConfig::default()).len(),
                    bytes,
                    bytes as f64 * 60.0 / fp.duration_s().max(1e-9),
                    fp.duration_s() / secs.max(1e-9),
                    if decoded.report.bad_packets > 0 || decoded.report.truncated {
                        format!(" (damaged: {:?})", decoded.report)
                    } else {
                        String::new()
                    }
                );
            }
            Err(e) => {
                failed = true;
                println!("{path}: error: {e}");
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
