//! The SHA-256 of a file's bytes, computed as the decoder reads them, so that ingest
//! reads each file once: the content hash names an exact copy of a catalog file, and
//! decoding gives its fingerprint.
//!
//! The decoder reads mostly front to back. Bytes read in order from the start are
//! hashed as they pass; when the decoder seeks ahead (to an index at the end of an MP4
//! file, say) the bytes it skipped are read once more at the end, from where the
//! hashing stopped, so the hash always covers the whole file in order.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex, PoisonError};

use sha2::{Digest, Sha256};
use symphonia::core::io::MediaSource;

/// How far the bytes were hashed, in order from the start.
struct Progress {
    hasher: Sha256,
    hashed_to: u64,
}

/// A file that hashes what is read from it; given to the decoder as a
/// [`MediaSource`].
pub(crate) struct HashingFile {
    file: File,
    len: u64,
    pos: u64,
    progress: Arc<Mutex<Progress>>,
}

/// The other end of a [`HashingFile`]: gives the hash once decoding is done.
pub(crate) struct ContentHash {
    file: File,
    progress: Arc<Mutex<Progress>>,
}

/// A hashing reader over `file`, and the handle that finishes its hash.
pub(crate) fn hashing(file: File) -> io::Result<(HashingFile, ContentHash)> {
    let len = file.metadata()?.len();
    let finisher = file.try_clone()?;
    let progress = Arc::new(Mutex::new(Progress {
        hasher: Sha256::new(),
        hashed_to: 0,
    }));
    Ok((
        HashingFile {
            file,
            len,
            pos: 0,
            progress: progress.clone(),
        },
        ContentHash {
            file: finisher,
            progress,
        },
    ))
}

impl Read for HashingFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        let end = self.pos + n as u64;
        let mut progress = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
        // Only bytes that continue the hashed prefix: a read after a seek ahead leaves
        // a gap that `finish` fills.
        if (self.pos..end).contains(&progress.hashed_to) {
            let from = (progress.hashed_to - self.pos) as usize;
            progress.hasher.update(&buf[from..n]);
            progress.hashed_to = end;
        }
        self.pos = end;
        Ok(n)
    }
}

impl Seek for HashingFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = self.file.seek(to)?;
        Ok(self.pos)
    }
}

impl MediaSource for HashingFile {
    fn is_seekable(&self) -> bool {
        true
    }

    fn byte_len(&self) -> Option<u64> {
        Some(self.len)
    }
}

impl ContentHash {
    /// The SHA-256 of the whole file, hex: what the decoder did not read in order is
    /// read now.
    pub(crate) fn finish(mut self) -> io::Result<String> {
        let mut progress = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
        self.file.seek(SeekFrom::Start(progress.hashed_to))?;
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = self.file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            progress.hasher.update(&buf[..n]);
        }
        Ok(hex::encode(std::mem::take(&mut progress.hasher).finalize()))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn sha256_hex(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    #[test]
    fn the_hash_covers_the_whole_file_however_it_was_read() {
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(&bytes).expect("writes");
        file.flush().expect("flush");
        let expected = sha256_hex(&bytes);
        // In order, to the end; a part only; seeking ahead and back.
        type Reads = fn(&mut HashingFile);
        let patterns: [Reads; 4] = [
            |f| {
                let mut all = Vec::new();
                f.read_to_end(&mut all).expect("read");
            },
            |f| {
                let mut some = [0u8; 1000];
                f.read_exact(&mut some).expect("read");
            },
            |f| {
                let mut some = [0u8; 5000];
                f.read_exact(&mut some).expect("read");
                f.seek(SeekFrom::End(-3000)).expect("seek");
                f.read_exact(&mut some[..3000]).expect("read");
                f.seek(SeekFrom::Start(2000)).expect("seek");
                f.read_exact(&mut some).expect("read");
            },
            |f| {
                f.seek(SeekFrom::Start(10)).expect("seek");
                let mut some = [0u8; 100];
                f.read_exact(&mut some).expect("read");
            },
        ];
        for read in patterns {
            let (mut reader, hash) =
                hashing(file.reopen().expect("reopen")).expect("hashing reader");
            read(&mut reader);
            drop(reader);
            assert_eq!(hash.finish().expect("finishes"), expected);
        }
    }
}
