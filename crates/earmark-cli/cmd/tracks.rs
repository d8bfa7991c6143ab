//! `earmark tracks list|show|rm`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use earmark_index::{Store, TrackId, TrackRecord};

use crate::output::outln;

/// Arguments of `earmark tracks`.
#[derive(clap::Args)]
pub struct Args {
    /// Index directory (RocksDB), before or after the action.
    // Optional only because clap refuses a required global argument.
    #[arg(long, global = true, value_name = "DIR")]
    db: Option<PathBuf>,
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// List tracks in id order.
    List {
        /// Start after this id (paging).
        #[arg(long)]
        after: Option<String>,
        /// At most this many tracks.
        #[arg(long)]
        limit: Option<usize>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Show one track as JSON.
    Show {
        /// Track id.
        id: String,
    },
    /// Remove a track and all of its postings.
    Rm {
        /// Track id.
        id: String,
    },
}

fn line(t: &TrackRecord) -> String {
    format!(
        "{}\t{:.1} s\t{}\t{}\t{}",
        t.id,
        t.duration_s,
        t.meta.title.as_deref().unwrap_or("-"),
        t.meta.rights_holder.as_deref().unwrap_or("-"),
        t.meta.policy.as_deref().unwrap_or("-"),
    )
}

/// Runs the command.
pub fn run(args: Args) -> Result<ExitCode> {
    let Some(db) = args.db else {
        bail!("the index is missing: give --db DIR");
    };
    match args.action {
        Action::List { after, limit, json } => {
            let store = crate::store::open_for_reading(&db)?;
            let mut after = after.map(TrackId::new).transpose()?;
            let mut left = limit.unwrap_or(usize::MAX);
            while left > 0 {
                let page = store.list_tracks(after.as_ref(), left.min(1000))?;
                let Some(last) = page.last() else { break };
                after = Some(last.id.clone());
                left -= page.len();
                for t in &page {
                    if json {
                        outln!("{}", serde_json::to_string(t)?)?;
                    } else {
                        outln!("{}", line(t))?;
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Action::Show { id } => {
            let store = crate::store::open_for_reading(&db)?;
            let id = TrackId::new(id)?;
            match store.track(&id)? {
                Some(t) => {
                    outln!("{}", serde_json::to_string_pretty(&t)?)?;
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    eprintln!("earmark: no track with id {id}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        Action::Rm { id } => {
            let store = crate::store::open_existing_for_writing(&db)?;
            let id = TrackId::new(id)?;
            if store.delete_track(&id)? {
                outln!("removed {id}")?;
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("earmark: no track with id {id}");
                Ok(ExitCode::from(1))
            }
        }
    }
}
