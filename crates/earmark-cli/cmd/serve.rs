//! `earmark serve`: the rights-filtering HTTP service over the index.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use earmark_index::Store;
use earmark_rocksdb::{CatchUp, Follower};
use earmark_service::Config;
use tracing_subscriber::EnvFilter;

use crate::store;

/// Where the service's configuration comes from; shared with `earmark keys`.
#[derive(clap::Args, Clone)]
pub struct ConfigArgs {
    /// Index directory (RocksDB); overrides the configuration's `index`.
    #[arg(long, global = true, value_name = "DIR")]
    pub db: Option<PathBuf>,
    /// JSON configuration file (any subset of the fields; see docs/service.md).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The hashed API keys file; overrides the configuration's `keys_file`.
    #[arg(long, global = true, value_name = "FILE")]
    pub keys: Option<PathBuf>,
}

impl ConfigArgs {
    /// Defaults, then the file, then `EARMARK_*` variables, then these flags.
    pub fn load(&self) -> Result<Config> {
        let mut config = Config::load(self.config.as_deref()).context("bad configuration")?;
        if let Some(db) = &self.db {
            config.index.clone_from(db);
        }
        if let Some(keys) = &self.keys {
            config.keys_file = Some(keys.clone());
        }
        Ok(config)
    }
}

/// Arguments of `earmark serve`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    /// Address to listen on; overrides the configuration's `listen`.
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Serve an index another process writes (such as `earmark ingest`): open it as a
    /// RocksDB secondary, and every SECONDS reopen it if the writer changed its files.
    /// Catalog writes through the API are refused in this mode.
    #[arg(long, value_name = "SECONDS")]
    follow: Option<f64>,
    /// Log JSON lines rather than text (the level comes from `RUST_LOG`, default info).
    #[arg(long)]
    log_json: bool,
}

/// Runs the service until Ctrl-C or SIGTERM; requests in flight finish first.
pub fn run(args: Args) -> Result<ExitCode> {
    init_logging(args.log_json);
    let mut config = args.config.load()?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // Kept until the service stops: dropping it stops the catch-up thread.
    let mut _catching_up = None;
    let store: Arc<dyn Store> = match args.follow {
        None => Arc::new(
            store::open_for_writing(&config.index)?
                .with_postings_cache(config.postings_cache_bytes()),
        ),
        Some(seconds) => {
            if !(0.05..=86_400.0).contains(&seconds) {
                bail!("--follow needs a number of seconds from 0.05 to 86400");
            }
            let follower = Arc::new(open_follower(&config.index, config.postings_cache_bytes())?);
            let every = Duration::from_secs_f64(seconds);
            _catching_up = Some(
                follower
                    .spawn_catch_up(every, |outcome, elapsed| match outcome {
                        Ok(CatchUp::Unchanged) => {}
                        Ok(CatchUp::Reopened) => tracing::debug!(
                            elapsed_ms = elapsed.as_secs_f64() * 1e3,
                            "reopened the index to catch up with the writer"
                        ),
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot catch up with the writer yet")
                        }
                    })
                    .context("cannot start following the index")?,
            );
            follower
        }
    };
    // An index from a newer release: refuse to start rather than fail every query.
    store.hash_config()?;
    tracing::info!(
        index = %config.index.display(),
        keys = %config.keys_path().display(),
        decisions = %config.decisions_path().display(),
        follow = args.follow.is_some(),
        "starting"
    );
    runtime
        .block_on(earmark_service::serve(
            config,
            store,
            earmark_service::shutdown_signal(),
        ))
        .context("the service stopped")?;
    Ok(ExitCode::SUCCESS)
}

/// A secondary instance with its own scratch directory (RocksDB keeps its info log
/// there), one per process so that several followers can run.
fn open_follower(index: &Path, postings_cache_bytes: u64) -> Result<Follower> {
    let scratch = std::env::temp_dir().join(format!("earmark-follower-{}", std::process::id()));
    Follower::open_with_postings_cache(index, &scratch, postings_cache_bytes)
        .with_context(|| format!("cannot follow index {}", index.display()))
}

fn init_logging(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    // A second subscriber (in tests that call `run` twice) is harmless; ignore it.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
