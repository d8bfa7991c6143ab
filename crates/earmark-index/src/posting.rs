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
//! varint when it is not 1, then the frames as varint deltas, ascending. Operands
//! concatenate, so a backend may also append several to one buffer.

mod packed;

use earmark_core::varint::{self, VarintError};

use crate::error::{Error, Result};

/// The largest track number a posting can name.
pub const MAX_TRACK: u32 = u32::MAX >> 1;

/// One occurrence of a hash: in which track and at which frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Posting {
    /// The track's internal number.
    pub track: u32,
    /// Frame of the landmark's anchor peak in the track.
    pub frame: u32,
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
        let decoded = decode(value, |track, frame| {
            n += 1;
            if n <= cap {
                self.postings.push(Posting { track, frame });
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

/// Appends to `out` the operand that adds `track`'s postings at `frames` (sorted
/// ascending) to a hash's value.
///
/// # Errors
/// [`Error::Exhausted`] when `track` is above [`MAX_TRACK`]; nothing is appended then.
pub fn encode_operand(out: &mut Vec<u8>, track: u32, frames: &[u32]) -> Result<()> {
    if track > MAX_TRACK {
        return Err(Error::Exhausted);
    }
    match frames.len() {
        1 => varint::put(out, u64::from(track) << 1),
        count => {
            varint::put(out, (u64::from(track) << 1) | 1);
            varint::put(out, count as u64);
        }
    }
    let mut prev = 0;
    for &f in frames {
        varint::put(out, u64::from(f.wrapping_sub(prev)));
        prev = f;
    }
    Ok(())
}

/// Calls `visit(track, frame)` for every posting of the operands in `bytes`.
fn decode_operands(bytes: &[u8], mut visit: impl FnMut(u32, u32)) -> Result<()> {
    let mut pos = 0;
    while pos < bytes.len() {
        let head = varint::read_u32(bytes, &mut pos).map_err(damaged_operand)?;
        let count = if head & 1 == 1 {
            varint::read_u32(bytes, &mut pos).map_err(damaged_operand)?
        } else {
            1
        };
        // Each frame takes at least one byte: a larger count is damage.
        if count as usize > bytes.len() - pos {
            return Err(Error::Corrupt("posting count exceeds the operand".into()));
        }
        let track = head >> 1;
        let mut frame = 0u32;
        for _ in 0..count {
            frame = frame.wrapping_add(varint::read_u32(bytes, &mut pos).map_err(damaged_operand)?);
            visit(track, frame);
        }
    }
    Ok(())
}

/// Calls `visit(track, frame)` for every posting in a stored value, ascending by track.
///
/// # Errors
/// [`Error::Corrupt`] when the bytes are not a value.
pub fn decode(value: &[u8], visit: impl FnMut(u32, u32)) -> Result<()> {
    packed::decode(value, MAX_TRACK, visit)
}

/// Number of postings in a stored value.
#[cfg(test)]
fn count_postings(value: &[u8]) -> Result<u64> {
    let mut n = 0u64;
    decode(value, |_, _| n += 1)?;
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
    decode(value, |t, frame| {
        if t != track {
            kept.push(Posting { track: t, frame });
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
    let mut push = |track, frame| postings.push(Posting { track, frame });
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

/// Groups one track's landmarks by hash: `(hash, sorted frames)`, hashes ascending,
/// at most `max_per_hash` frames per hash (a loop repeating one landmark many times
/// adds cost and no information past a few occurrences).
pub fn group_by_hash(
    landmarks: &[earmark_core::Landmark],
    max_per_hash: usize,
) -> Vec<(u64, Vec<u32>)> {
    let mut sorted: Vec<(u64, u32)> = landmarks.iter().map(|l| (l.hash, l.frame)).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out: Vec<(u64, Vec<u32>)> = Vec::new();
    for (hash, frame) in sorted {
        match out.last_mut() {
            Some((h, frames)) if *h == hash => {
                if frames.len() < max_per_hash {
                    frames.push(frame);
                }
            }
            _ => out.push((hash, vec![frame])),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(value: &[u8]) -> Vec<(u32, u32)> {
        let mut v = Vec::new();
        decode(value, |t, f| v.push((t, f))).expect("decodes");
        v
    }

    fn operand(track: u32, frames: &[u32]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_operand(&mut out, track, frames).expect("track in range");
        out
    }

    /// A value made of `blocks`, each merged in as its own operand.
    fn value(blocks: &[(u32, &[u32])]) -> Vec<u8> {
        let operands: Vec<Vec<u8>> = blocks.iter().map(|&(t, f)| operand(t, f)).collect();
        merge(None, operands.iter().map(Vec::as_slice)).expect("valid operands")
    }

    #[test]
    fn operands_drop_the_count_of_single_postings() {
        assert_eq!(operand(5, &[100]), [10, 100]);
        assert_eq!(operand(5, &[100, 130]), [11, 2, 100, 30]);
        assert_eq!(operand(MAX_TRACK, &[9]), [0xfe, 0xff, 0xff, 0xff, 0x0f, 9]);
        let mut out = vec![1];
        assert!(matches!(
            encode_operand(&mut out, MAX_TRACK + 1, &[9]),
            Err(Error::Exhausted)
        ));
        assert_eq!(out, vec![1], "nothing appended");
    }

    #[test]
    fn values_merge_in_track_order() {
        // Out-of-order operands, some concatenated in one buffer, and a value merged
        // again with more of them: postings end up ascending by track, equal tracks in
        // arrival order.
        let first = value(&[(9, &[1]), (2, &[5, 6])]);
        let more = [operand(4, &[2]), operand(2, &[8]), operand(50, &[0])].concat();
        let merged = merge(Some(&first), [more.as_slice()]).expect("valid");
        assert_eq!(
            collect(&merged),
            vec![(2, 5), (2, 6), (2, 8), (4, 2), (9, 1), (50, 0)]
        );
        assert_eq!(count_postings(&merged).expect("counts"), 6);
        let max = value(&[(3, &[1]), (MAX_TRACK, &[u32::MAX])]);
        assert_eq!(collect(&max), vec![(3, 1), (MAX_TRACK, u32::MAX)]);
    }

    #[test]
    fn lists_share_one_buffer_and_cap_common_hashes() {
        let value = value(&[(1, &[1, 2, 3]), (2, &[4])]);
        let mut lists = PostingLists::new();
        lists.push_decoded(&value, 4).expect("valid");
        lists.push_decoded(&value, 3).expect("valid");
        lists.push([]);
        lists.push([Posting { track: 9, frame: 8 }]);
        lists.push_decoded(&value, 0).expect("valid");
        assert!(lists.push_decoded(&[0x00], 10).is_err());
        assert_eq!(lists.len(), 5, "a corrupt value adds no list");
        assert_eq!(lists.total_postings(), 5);
        let lens: Vec<usize> = lists.iter().map(<[Posting]>::len).collect();
        assert_eq!(lens, vec![4, 0, 0, 1, 0]);
        assert_eq!(lists[0][3], Posting { track: 2, frame: 4 });
        assert_eq!(lists[3], [Posting { track: 9, frame: 8 }]);
        assert_eq!(lists.get(5), None);
    }

    #[test]
    fn removing_a_track_keeps_the_others() {
        let both = value(&[(1, &[5]), (2, &[6, 7]), (4, &[9])]);
        let left = remove_track(&both, 1).expect("valid").expect("non-empty");
        assert_eq!(collect(&left), vec![(2, 6), (2, 7), (4, 9)]);
        let same = remove_track(&left, 3).expect("valid").expect("non-empty");
        assert_eq!(
            collect(&same),
            collect(&left),
            "an absent track changes nothing"
        );
        let single = value(&[(4, &[2])]);
        assert_eq!(remove_track(&single, 4).expect("valid"), None);
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        // Damaged values: empty, no closing bit, counts running past the end.
        for bytes in [&[][..], &[0], &[0xff; 12]] {
            assert!(decode(bytes, |_, _| {}).is_err(), "{bytes:?}");
            assert!(remove_track(bytes, 0).is_err(), "{bytes:?}");
            assert!(merge(Some(bytes), []).is_err(), "{bytes:?}");
        }
        // Damaged operands: a truncated varint, a count past the bytes, a varint too
        // long for a u32.
        for bytes in [
            &[0x80][..],
            &[3, 200, 1],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
        ] {
            assert!(merge(None, [bytes]).is_err(), "{bytes:?}");
        }
    }

    #[test]
    fn grouping_caps_repeats() {
        let lms: Vec<earmark_core::Landmark> = (0..20)
            .map(|i| earmark_core::Landmark { hash: 7, frame: i })
            .chain([earmark_core::Landmark { hash: 3, frame: 1 }])
            .collect();
        let groups = group_by_hash(&lms, 4);
        assert_eq!(groups, vec![(3, vec![1]), (7, vec![0, 1, 2, 3])]);
    }
}
