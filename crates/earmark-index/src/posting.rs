//! The byte layout of postings, shared by every backend.
//!
//! A hash's stored value holds the postings of every track that has the hash, in
//! track order, coded in bits ([`packed`]): track numbers as Rice-coded differences,
//! frames at one width per value. A backend adds a track without reading the value:
//! it appends the track's postings of the hash as an *operand* in a simple byte form
//! ([`encode_operand`]), and folds operands into the value with [`merge`] when it
//! compacts or reads (RocksDB's merge operator does exactly that). Removing a track
//! ([`remove_track`]) decodes and codes the value again.
//!
//! An operand is one block: a varint of `track * 2 + (count != 1)`, the count as a
//! varint when it is not 1, then per posting the frame as a varint delta (ascending)
//! and the aux as a varint. Operands concatenate, so a backend may also append
//! several to one buffer.

mod packed;

use earmark_core::varint::{self, VarintError};

use crate::error::{Error, Result};

/// The largest track number a posting can name.
pub const MAX_TRACK: u32 = u32::MAX >> 1;

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

    /// Appends the list decoded from a stored value (see [`decode`]), or an empty
    /// list when the value holds more than `cap` postings.
    ///
    /// # Errors
    /// As [`decode`]; nothing is appended then.
    pub fn push_decoded(&mut self, value: &[u8], cap: usize) -> Result<()> {
        let start = self.postings.len();
        let mut n = 0usize;
        let decoded = decode(value, |posting| {
            n += 1;
            if n <= cap {
                self.postings.push(posting);
            }
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
/// aux, sorted ascending) to a hash's value.
///
/// # Errors
/// [`Error::Exhausted`] when `track` is above [`MAX_TRACK`]; nothing is appended then.
pub fn encode_operand(out: &mut Vec<u8>, track: u32, entries: &[(u32, u16)]) -> Result<()> {
    if track > MAX_TRACK {
        return Err(Error::Exhausted);
    }
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

/// Calls `visit` for every posting of the operands in `bytes`.
fn decode_operands(bytes: &[u8], mut visit: impl FnMut(Posting)) -> Result<()> {
    let mut pos = 0;
    while pos < bytes.len() {
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
            visit(Posting { track, frame, aux });
        }
    }
    Ok(())
}

/// Calls `visit` for every posting in a stored value, ascending by track.
///
/// # Errors
/// [`Error::Corrupt`] when the bytes are not a value.
pub fn decode(value: &[u8], visit: impl FnMut(Posting)) -> Result<()> {
    packed::decode(value, MAX_TRACK, visit)
}

/// Number of postings in a stored value.
#[cfg(test)]
fn count_postings(value: &[u8]) -> Result<u64> {
    let mut n = 0u64;
    decode(value, |_| n += 1)?;
    Ok(n)
}

/// `track + difference`, which must not pass `max_track`.
#[inline]
fn add_difference(track: u32, difference: u32, max_track: u32) -> Result<u32> {
    track
        .checked_add(difference)
        .filter(|&t| t <= max_track)
        .ok_or_else(|| Error::Corrupt("posting track number out of range".into()))
}

/// `value` without the postings of `track`; `None` when nothing is left.
///
/// # Errors
/// As [`decode`].
pub fn remove_track(value: &[u8], track: u32) -> Result<Option<Vec<u8>>> {
    let mut kept = Vec::new();
    decode(value, |posting| {
        if posting.track != track {
            kept.push(posting);
        }
    })?;
    Ok((!kept.is_empty()).then(|| packed::encode(&kept)))
}

/// The value holding the postings of `existing` (a stored value) and of `operands`
/// (each made by [`encode_operand`], possibly several concatenated), in order of
/// track; postings of equal tracks keep their order. This is a backend's merge: new
/// tracks take ever larger numbers, so postings usually arrive in order and are not
/// sorted again.
///
/// # Errors
/// As [`decode`], for either input; nothing is merged then.
pub fn merge<'a>(
    existing: Option<&[u8]>,
    operands: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<u8>> {
    let mut postings = Vec::new();
    let mut push = |posting| postings.push(posting);
    if let Some(value) = existing {
        decode(value, &mut push)?;
    }
    for operand in operands {
        decode_operands(operand, &mut push)?;
    }
    if !postings.is_sorted_by_key(|p| p.track) {
        postings.sort_by_key(|p| p.track);
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
