//! The byte layout of postings, shared by every backend.
//!
//! Postings are stored by *bucket*: the hash without its low [`RESIDUAL_BITS`] bits
//! ([`split_hash`]). A bucket's value holds the postings of all its hashes, each with
//! its hash's residual, ascending by residual and then by track, coded in bits
//! ([`packed`]). One key per bucket instead of one per hash: at catalog scale a hash
//! rarely has more than one posting, and a key per posting cost more than the
//! posting. A backend adds a track without reading the value: it appends the
//! track's postings in the bucket as an *operand* in a simple byte form
//! ([`encode_operand`]), and folds operands into the value with [`merge`] when it
//! compacts or reads (RocksDB's merge operator does exactly that). Removing a track
//! ([`remove_track`]) decodes and codes the value again.
//!
//! An operand is one block per hash: the residual (2 bytes, big-endian), a varint of
//! `track * 2 + (count != 1)`, the count as a varint when it is not 1, then per
//! posting the frame as a varint delta (ascending) and the aux as a varint. Operands
//! concatenate, so a backend may also append several to one buffer.

mod packed;

use earmark_core::varint::{self, VarintError};

use crate::error::{Error, Result};

/// The largest track number a posting can name.
pub const MAX_TRACK: u32 = u32::MAX >> 1;

/// Low bits of a hash that its bucket's value holds with each posting; the rest
/// names the bucket.
pub const RESIDUAL_BITS: u32 = 16;

/// A hash's bucket and its residual within it.
pub fn split_hash(hash: u64) -> (u64, u16) {
    (hash >> RESIDUAL_BITS, hash as u16)
}

/// One occurrence of a hash: in which track, at which frame, and the group's span
/// and anchor pitch ([`earmark_core::Aux`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Posting {
    /// The track's internal number.
    pub track: u32,
    /// Frame of the landmark's anchor peak in the track.
    pub frame: u32,
    /// The landmark's [`aux`](earmark_core::Landmark::aux).
    pub aux: u16,
}

/// The postings of many hashes in one buffer, list `i` for the `i`-th hash looked up.
/// A query looks up thousands of hashes; one buffer instead of a `Vec` per hash spares
/// the allocator on the hottest path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostingLists {
    postings: Vec<Posting>,
    /// List `i` is `postings[bounds[i]..bounds[i + 1]]`; starts with 0.
    bounds: Vec<usize>,
}

impl Default for PostingLists {
    fn default() -> Self {
        Self {
            postings: Vec::new(),
            bounds: vec![0],
        }
    }
}

impl PostingLists {
    /// No lists.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of lists.
    pub fn len(&self) -> usize {
        self.bounds.len() - 1
    }

    /// Whether there are no lists.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Postings in all lists together.
    pub fn total_postings(&self) -> usize {
        self.postings.len()
    }

    /// List `i`, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<&[Posting]> {
        let (&start, &end) = (self.bounds.get(i)?, self.bounds.get(i + 1)?);
        Some(&self.postings[start..end])
    }

    /// The lists in order.
    pub fn iter(&self) -> impl Iterator<Item = &[Posting]> + '_ {
        self.bounds.windows(2).map(|w| &self.postings[w[0]..w[1]])
    }

    /// Appends one list.
    pub fn push(&mut self, list: impl IntoIterator<Item = Posting>) {
        self.postings.extend(list);
        self.bounds.push(self.postings.len());
    }

    /// Appends the list of the hash whose residual is `residual` from its bucket's
    /// stored value (see [`decode`]), or an empty list when it has more than `cap`
    /// postings.
    ///
    /// # Errors
    /// As [`decode`]; nothing is appended then.
    pub fn push_decoded(&mut self, value: &[u8], residual: u16, cap: usize) -> Result<()> {
        let start = self.postings.len();
        let mut n = 0usize;
        // Residuals ascend: the list ends at the first larger one.
        let decoded = packed::decode(value, MAX_TRACK, |r, posting| {
            if r == residual {
                n += 1;
                if n <= cap {
                    self.postings.push(posting);
                }
            }
            r <= residual
        });
        if decoded.is_err() || n > cap {
            self.postings.truncate(start);
        }
        decoded?;
        self.bounds.push(self.postings.len());
        Ok(())
    }
}

impl std::ops::Index<usize> for PostingLists {
    type Output = [Posting];

    fn index(&self, i: usize) -> &[Posting] {
        self.get(i)
            .unwrap_or_else(|| panic!("list {i} of {}", self.len()))
    }
}

fn damaged_operand(e: VarintError) -> Error {
    Error::Corrupt(format!("posting operand: {e}"))
}

/// Appends to `out` the operand that adds `track`'s postings at `entries` (frame and
/// aux, sorted ascending) of the hash with residual `residual` to its bucket's value.
///
/// # Errors
/// [`Error::Exhausted`] when `track` is above [`MAX_TRACK`]; nothing is appended then.
pub fn encode_operand(
    out: &mut Vec<u8>,
    residual: u16,
    track: u32,
    entries: &[(u32, u16)],
) -> Result<()> {
    if track > MAX_TRACK {
        return Err(Error::Exhausted);
    }
    out.extend_from_slice(&residual.to_be_bytes());
    match entries.len() {
        1 => varint::put(out, u64::from(track) << 1),
        count => {
            varint::put(out, (u64::from(track) << 1) | 1);
            varint::put(out, count as u64);
        }
    }
    let mut prev = 0;
    for &(frame, aux) in entries {
        varint::put(out, u64::from(frame.wrapping_sub(prev)));
        varint::put(out, u64::from(aux));
        prev = frame;
    }
    Ok(())
}

/// Calls `visit` for every posting of the operands in `bytes`, with its residual.
fn decode_operands(bytes: &[u8], mut visit: impl FnMut(u16, Posting)) -> Result<()> {
    let mut pos = 0;
    while pos < bytes.len() {
        let residual = bytes
            .get(pos..pos + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| Error::Corrupt("posting operand: truncated residual".into()))?;
        pos += 2;
        let head = varint::read_u32(bytes, &mut pos).map_err(damaged_operand)?;
        let count = if head & 1 == 1 {
            varint::read_u32(bytes, &mut pos).map_err(damaged_operand)?
        } else {
            1
        };
        // Each posting takes at least two bytes: a larger count is damage.
        if count as usize > (bytes.len() - pos) / 2 {
            return Err(Error::Corrupt("posting count exceeds the operand".into()));
        }
        let track = head >> 1;
        let mut frame = 0u32;
        for _ in 0..count {
            frame = frame.wrapping_add(varint::read_u32(bytes, &mut pos).map_err(damaged_operand)?);
            let aux = varint::read_u32(bytes, &mut pos).map_err(damaged_operand)?;
            let aux = u16::try_from(aux)
                .map_err(|_| Error::Corrupt("posting aux out of range".into()))?;
            visit(residual, Posting { track, frame, aux });
        }
    }
    Ok(())
}

/// Calls `visit` for every posting in a stored value with its hash's residual,
/// ascending by residual, then by track.
///
/// # Errors
/// [`Error::Corrupt`] when the bytes are not a value.
pub fn decode(value: &[u8], mut visit: impl FnMut(u16, Posting)) -> Result<()> {
    packed::decode(value, MAX_TRACK, |residual, posting| {
        visit(residual, posting);
        true
    })
}

/// Number of postings in a stored value.
#[cfg(test)]
fn count_postings(value: &[u8]) -> Result<u64> {
    let mut n = 0u64;
    decode(value, |_, _| n += 1)?;
    Ok(n)
}

/// `value` without the postings of `track`; `None` when nothing is left.
///
/// # Errors
/// As [`decode`].
pub fn remove_track(value: &[u8], track: u32) -> Result<Option<Vec<u8>>> {
    let mut kept = Vec::new();
    decode(value, |residual, posting| {
        if posting.track != track {
            kept.push((residual, posting));
        }
    })?;
    Ok((!kept.is_empty()).then(|| packed::encode(&kept)))
}

/// The value holding the postings of `existing` (a stored value) and of `operands`
/// (each made by [`encode_operand`], possibly several concatenated), in order of
/// residual and track; postings of equal residual and track keep their order. This
/// is a backend's merge.
///
/// # Errors
/// As [`decode`], for either input; nothing is merged then.
pub fn merge<'a>(
    existing: Option<&[u8]>,
    operands: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<u8>> {
    let mut postings = Vec::new();
    let mut push = |residual, posting| postings.push((residual, posting));
    if let Some(value) = existing {
        decode(value, &mut push)?;
    }
    for operand in operands {
        decode_operands(operand, &mut push)?;
    }
    let order = |&(residual, posting): &(u16, Posting)| (residual, posting.track);
    if !postings.is_sorted_by_key(order) {
        postings.sort_by_key(order);
    }
    Ok(packed::encode(&postings))
}

/// One track's postings of one hash: `(frame, aux)`, ascending.
pub type HashEntries = Vec<(u32, u16)>;

/// Groups one track's landmarks by hash: `(hash, sorted entries)`, hashes ascending,
/// at most `max_per_hash` entries per hash (a loop repeating one landmark many times
/// adds cost and no information past a few occurrences).
pub fn group_by_hash(
    landmarks: &[earmark_core::Landmark],
    max_per_hash: usize,
) -> Vec<(u64, HashEntries)> {
    let mut sorted: Vec<(u64, u32, u16)> =
        landmarks.iter().map(|l| (l.hash, l.frame, l.aux)).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out: Vec<(u64, HashEntries)> = Vec::new();
    for (hash, frame, aux) in sorted {
        match out.last_mut() {
            Some((h, entries)) if *h == hash => {
                if entries.len() < max_per_hash {
                    entries.push((frame, aux));
                }
            }
            _ => out.push((hash, vec![(frame, aux)])),
        }
    }
    out
}

#[cfg(test)]
mod tests;
