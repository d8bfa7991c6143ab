//! `earmark keys`: the service's API keys, managed on the machine that runs it.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use earmark_service::Role;

use super::serve::ConfigArgs;

use crate::output::outln;

/// Arguments of `earmark keys`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Make a key and print it once; only its hash is stored.
    Add {
        /// network (identify and check), label (its own rights holder's catalog and
        /// reports) or admin (everything).
        #[arg(long)]
        role: Role,
        /// The rights holder of a label key, the network of a network key, a note for
        /// an admin key.
        #[arg(long, default_value = "")]
        subject: String,
    },
    /// List the keys (ids, roles and subjects; never the keys).
    List,
    /// Remove a key by its id.
    Revoke {
        /// The key's id, as `list` shows it.
        id: String,
    },
}

/// Runs the command. A running service looks at the keys file every second and
/// reloads it when it changed.
pub fn run(args: Args) -> Result<ExitCode> {
    let config = args.config.load()?;
    let path = config.keys_path();
    match args.action {
        Action::Add { role, subject } => {
            let (entry, key) = earmark_service::add_key(&path, role, &subject)
                .with_context(|| format!("cannot add a key to {}", path.display()))?;
            eprintln!(
                "added {:?} key {} ({}) to {}; it is shown only now",
                entry.role,
                entry.id,
                entry.subject,
                path.display()
            );
            outln!("{key}")?;
        }
        Action::List => {
            let entries = earmark_service::list_keys(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            for e in entries {
                outln!(
                    "{}\t{}\t{}\t{}",
                    e.id,
                    format!("{:?}", e.role).to_lowercase(),
                    e.subject,
                    e.created_unix_s
                )?;
            }
        }
        Action::Revoke { id } => {
            let removed = earmark_service::revoke_key(&path, &id)
                .with_context(|| format!("cannot revoke a key in {}", path.display()))?;
            eprintln!("revoked key {} ({})", removed.id, removed.subject);
        }
    }
    Ok(ExitCode::SUCCESS)
}
