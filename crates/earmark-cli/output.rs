//! Standard output for the commands. A reader that stops reading early
//! (`earmark stats | head -1`) ends the command quietly: `println!` would panic.

use std::fmt;
use std::io::{self, Write};

/// The reader of standard output has gone: the command stops, successfully, since
/// nobody is left to tell anything.
#[derive(Debug)]
pub struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("standard output is closed")
    }
}

impl std::error::Error for Closed {}

/// Writes one line to standard output.
///
/// # Errors
/// [`Closed`] when the reader has gone, other write errors as they are.
pub fn line(args: fmt::Arguments<'_>) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .map_err(|e| match e.kind() {
            io::ErrorKind::BrokenPipe => anyhow::Error::new(Closed),
            _ => anyhow::Error::new(e).context("cannot write to standard output"),
        })
}

/// `println!` for the commands, returning the write's result: see [`line`].
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}
pub(crate) use outln;
