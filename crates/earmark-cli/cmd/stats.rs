//! `earmark stats`.

use std::process::ExitCode;

use anyhow::Result;
use earmark_index::Store;

use crate::DbArg;
use crate::output::outln;

/// Arguments of `earmark stats`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArg,
    /// As one JSON object.
    #[arg(long)]
    json: bool,
}

/// Runs the command.
pub fn run(args: Args) -> Result<ExitCode> {
    let store = crate::store::open_for_reading(&args.db.db)?;
    let stats = store.stats()?;
    if args.json {
        let mut value = serde_json::to_value(&stats)?;
        value["bytes_per_hour"] = serde_json::json!(stats.bytes_per_hour().round());
        value["hash_config"] = serde_json::json!(store.hash_config()?.name);
        value["layout_version"] = serde_json::json!(earmark_rocksdb::FORMAT_VERSION);
        outln!("{value}")?;
    } else {
        outln!("tracks          {}", stats.tracks)?;
        outln!("hours of audio  {:.2}", stats.hours)?;
        outln!("postings        {}", stats.postings)?;
        outln!("postings keys   {}", stats.keys)?;
        outln!("bytes           {}", stats.bytes)?;
        outln!("bytes per hour  {:.0}", stats.bytes_per_hour())?;
        outln!("hash config     {}", store.hash_config()?.name)?;
        outln!("layout          {}", earmark_rocksdb::FORMAT_VERSION)?;
    }
    Ok(ExitCode::SUCCESS)
}
