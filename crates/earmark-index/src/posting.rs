//! The byte layout of postings, shared by every backend.
//!
//! A hash's value is a sequence of blocks, one per track that has the hash: a header
//! naming the track and the number of postings, then the frames (varint deltas,
//! ascending). [`BlockFormat`] says how the header is written. In the `Counted` and
//! `Flagged` formats blocks simply concatenate, which is all a backend needs to add a
//! track (RocksDB's merge operator, Redis's `APPEND`). In the `Sorted` format blocks
//! ascend by track and each header names the difference from the previous block's
//! track, which saves most of a byte per posting in long lists; adding a track then
//! takes [`merge_sorted`], which only rewrites headers. A block is self-delimiting, so
//! removing a track rewrites one value without decoding other tracks' frames. The
//! `Packed` format codes the same blocks in bits rather than bytes, frames at one
//! width per value rather than as varint deltas (see [`BlockFormat::Packed`]); adding
//! a track takes [`merge_packed`], and adding or removing one decodes and codes the
//! whole value.

mod packed;

use crate::error::{Error, Result};

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

    /// Appends the list decoded from a stored value (see [`decode_blocks`]), or an
    /// empty list when the value holds more than `cap` postings.
    ///
    /// # Errors
    /// As [`decode_blocks`]; nothing is appended then.
    pub fn push_decoded(&mut self, value: &[u8], format: BlockFormat, cap: usize) -> Result<()> {
        let start = self.postings.len();
        let mut n = 0usize;
        let decoded = decode_blocks(value, format, |track, frame| {
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

fn put_varint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads one varint at `pos`. Postings are mostly one- and two-byte varints (frame
/// deltas, track numbers); those take the inlined path, which was about a fifth of a
/// query's lookup + alignment at 10k catalog tracks when every byte went through the
/// general loop.
#[inline]
fn get_varint(bytes: &[u8], pos: &mut usize) -> Result<u32> {
    match bytes.get(*pos..*pos + 2) {
        Some(&[b0, _]) if b0 < 0x80 => {
            *pos += 1;
            Ok(u32::from(b0))
        }
        Some(&[b0, b1]) if b1 < 0x80 => {
            *pos += 2;
            Ok(u32::from(b0 & 0x7f) | (u32::from(b1) << 7))
        }
        _ => get_varint_slow(bytes, pos),
    }
}

/// [`get_varint`] for varints of three bytes or more, the last byte of a value, and
/// damage.
#[cold]
fn get_varint_slow(bytes: &[u8], pos: &mut usize) -> Result<u32> {
    let mut v: u64 = 0;
    for shift in (0..35).step_by(7) {
        let b = *bytes
            .get(*pos)
            .ok_or_else(|| Error::Corrupt("posting block truncated".into()))?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return u32::try_from(v).map_err(|_| Error::Corrupt("posting varint overflow".into()));
        }
    }
    Err(Error::Corrupt("posting varint too long".into()))
}

/// How a block's header names its track and counts its postings. An index keeps one
/// format for all of its values; which one is part of its layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockFormat {
    /// `track idx (varint) | count (varint)`.
    Counted,
    /// `track idx * 2 + (count != 1) (varint) | count (varint, only when not 1)`.
    /// Most blocks hold one posting (26.9 M of 27.9 M in a 1,000-track index of hash
    /// configuration 1), and for them the count byte goes: about one byte per
    /// posting less. The bit lengthens the varint only where doubling the track idx
    /// crosses a 7-bit boundary (idx 8,192-16,383, 1,048,576-2,097,151, ...).
    Flagged,
    /// Headers as in `Flagged`, but blocks ascend by track and each names the
    /// difference from the previous block's track (the first, from 0). In a long list
    /// the differences are small: a 1,000-track index of hash configuration 1 holds
    /// most of its postings in lists where one byte names the track. A value of this
    /// format is built by [`merge_sorted`] from blocks written in
    /// [`operand_format`](Self::operand_format); a single block is the same in both.
    Sorted,
    /// The blocks of `Sorted`, coded in bits: track differences Rice-coded with a
    /// parameter chosen per value, one bit for "one posting", and every frame in the
    /// fewest bits that hold the value's largest. In a 1,000-track index of hash
    /// configuration 1 a posting takes about 2.6 bytes instead of 3.2. A value is
    /// built whole by [`merge_packed`] from blocks written in
    /// [`operand_format`](Self::operand_format), and every merge or removal decodes
    /// and codes it again.
    Packed,
}

impl BlockFormat {
    /// The largest track idx a block of this format can name.
    pub const fn max_track(self) -> u32 {
        match self {
            Self::Counted => u32::MAX,
            Self::Flagged | Self::Sorted | Self::Packed => u32::MAX >> 1,
        }
    }

    /// The format of a new track's block, appended to a value by merging: blocks of
    /// this format concatenate. `Flagged` for `Sorted` and `Packed`, which
    /// [`merge_sorted`] and [`merge_packed`] fold them into; the format itself
    /// otherwise.
    pub const fn operand_format(self) -> Self {
        match self {
            Self::Sorted | Self::Packed => Self::Flagged,
            other => other,
        }
    }

    /// The header of a block of a byte format. `Packed` values are coded whole, never
    /// through headers; as an operand format it stands for `Flagged`, and the `Packed`
    /// arms of the matches on byte formats only keep them exhaustive.
    fn put_header(self, out: &mut Vec<u8>, track: u32, count: u32) {
        match self {
            Self::Counted => {
                put_varint(out, track);
                put_varint(out, count);
            }
            Self::Flagged | Self::Sorted | Self::Packed if count == 1 => {
                put_varint(out, track << 1);
            }
            Self::Flagged | Self::Sorted | Self::Packed => {
                put_varint(out, (track << 1) | 1);
                put_varint(out, count);
            }
        }
    }

    /// `(track, count)` of the block at `pos`; for `Sorted`, the track named is the
    /// difference from the previous block's.
    #[inline]
    fn get_header(self, value: &[u8], pos: &mut usize) -> Result<(u32, u32)> {
        match self {
            Self::Counted => Ok((get_varint(value, pos)?, get_varint(value, pos)?)),
            Self::Flagged | Self::Sorted | Self::Packed => {
                let head = get_varint(value, pos)?;
                let count = if head & 1 == 1 {
                    get_varint(value, pos)?
                } else {
                    1
                };
                Ok((head >> 1, count))
            }
        }
    }
}

/// Appends the block of `track` with `frames` (sorted ascending) to `out`. Its header
/// names `track` itself: in the `Sorted` format that is a whole value of one block, or
/// the first block of one. In the `Packed` format it is a whole value of one block,
/// so `out` should be empty then (a new track's blocks are written in
/// [`BlockFormat::operand_format`]).
///
/// # Errors
/// [`Error::Exhausted`] when `track` is above [`BlockFormat::max_track`]; nothing is
/// appended then.
pub fn encode_block(
    out: &mut Vec<u8>,
    format: BlockFormat,
    track: u32,
    frames: &[u32],
) -> Result<()> {
    if track > format.max_track() {
        return Err(Error::Exhausted);
    }
    if format == BlockFormat::Packed {
        debug_assert!(out.is_empty(), "one packed value per buffer");
        let postings: Vec<Posting> = frames
            .iter()
            .map(|&frame| Posting { track, frame })
            .collect();
        out.extend_from_slice(&packed::encode(&postings));
        return Ok(());
    }
    // At most MAX_FRAMES_PER_HASH frames reach a block; saturating keeps any caller's
    // mistake a short count (decoded as damage) rather than a wrapped one.
    let count = u32::try_from(frames.len()).unwrap_or(u32::MAX);
    format.put_header(out, track, count);
    let mut prev = 0;
    for &f in frames {
        put_varint(out, f.wrapping_sub(prev));
        prev = f;
    }
    Ok(())
}

/// Calls `visit(track, frame)` for every posting in `value`.
///
/// # Errors
/// [`Error::Corrupt`] when the bytes are not a sequence of whole blocks.
pub fn decode_blocks(
    value: &[u8],
    format: BlockFormat,
    mut visit: impl FnMut(u32, u32),
) -> Result<()> {
    if format == BlockFormat::Packed {
        return packed::decode(value, format.max_track(), visit);
    }
    let mut pos = 0;
    let mut track = 0u32;
    while pos < value.len() {
        let (named, count) = format.get_header(value, &mut pos)?;
        track = next_track(format, track, named)?;
        // Each frame takes at least one byte: a larger count is damage.
        if count as usize > value.len() - pos {
            return Err(Error::Corrupt("posting count exceeds the block".into()));
        }
        let mut frame = 0u32;
        for _ in 0..count {
            frame = frame.wrapping_add(get_varint(value, &mut pos)?);
            visit(track, frame);
        }
    }
    Ok(())
}

/// Number of postings in `value`.
///
/// # Errors
/// As [`decode_blocks`].
pub fn count_postings(value: &[u8], format: BlockFormat) -> Result<u64> {
    let mut n = 0u64;
    decode_blocks(value, format, |_, _| n += 1)?;
    Ok(n)
}

/// The track a block names: `named` itself, or for `Sorted` the previous block's
/// `track` plus `named`.
#[inline]
fn next_track(format: BlockFormat, track: u32, named: u32) -> Result<u32> {
    match format {
        BlockFormat::Sorted => add_difference(track, named, BlockFormat::Sorted.max_track()),
        BlockFormat::Counted | BlockFormat::Flagged | BlockFormat::Packed => Ok(named),
    }
}

/// `track + difference`, which must not pass `max_track`: the next track of a format
/// that names tracks by differences.
#[inline]
fn add_difference(track: u32, difference: u32, max_track: u32) -> Result<u32> {
    track
        .checked_add(difference)
        .filter(|&t| t <= max_track)
        .ok_or_else(|| Error::Corrupt("posting track number out of range".into()))
}

/// One block of a value, its frames still encoded.
#[derive(Debug, Clone, Copy)]
struct RawBlock<'a> {
    track: u32,
    count: u32,
    frames: &'a [u8],
}

/// Appends the blocks of `value` to `out`, frames undecoded.
fn split_blocks<'a>(
    value: &'a [u8],
    format: BlockFormat,
    out: &mut Vec<RawBlock<'a>>,
) -> Result<()> {
    let mut pos = 0;
    let mut track = 0u32;
    while pos < value.len() {
        let (named, count) = format.get_header(value, &mut pos)?;
        track = next_track(format, track, named)?;
        let start = pos;
        for _ in 0..count {
            get_varint(value, &mut pos)?;
        }
        out.push(RawBlock {
            track,
            count,
            frames: &value[start..pos],
        });
    }
    Ok(())
}

/// Writes `blocks` (ascending by track for `Sorted`) as one value of `format`.
fn join_blocks(format: BlockFormat, blocks: &[RawBlock<'_>]) -> Vec<u8> {
    let len = blocks.iter().map(|b| b.frames.len() + 3).sum();
    let mut out = Vec::with_capacity(len);
    let mut prev = 0u32;
    for b in blocks {
        let named = match format {
            BlockFormat::Sorted => b.track - prev,
            BlockFormat::Counted | BlockFormat::Flagged | BlockFormat::Packed => b.track,
        };
        format.put_header(&mut out, named, b.count);
        out.extend_from_slice(b.frames);
        prev = b.track;
    }
    out
}

/// `value` without the block of `track`; `None` when nothing is left.
///
/// # Errors
/// As [`decode_blocks`].
pub fn remove_track(value: &[u8], format: BlockFormat, track: u32) -> Result<Option<Vec<u8>>> {
    if format == BlockFormat::Packed {
        let mut kept = Vec::new();
        decode_blocks(value, format, |t, frame| {
            if t != track {
                kept.push(Posting { track: t, frame });
            }
        })?;
        return Ok((!kept.is_empty()).then(|| packed::encode(&kept)));
    }
    let mut blocks = Vec::new();
    split_blocks(value, format, &mut blocks)?;
    blocks.retain(|b| b.track != track);
    Ok((!blocks.is_empty()).then(|| join_blocks(format, &blocks)))
}

/// A value of the `Sorted` format holding the blocks of `existing` (a `Sorted` value)
/// and of `operands` (blocks in [`BlockFormat::operand_format`], concatenated), in
/// order of track; blocks of equal tracks keep their order. Frames are copied, not
/// decoded. This is a backend's merge: new tracks take ever larger numbers, so the
/// blocks usually arrive in order and are not sorted again.
///
/// # Errors
/// As [`decode_blocks`], for either input; nothing is merged then.
pub fn merge_sorted<'a>(
    existing: Option<&[u8]>,
    operands: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<u8>> {
    let mut blocks = Vec::new();
    if let Some(value) = existing {
        split_blocks(value, BlockFormat::Sorted, &mut blocks)?;
    }
    for operand in operands {
        split_blocks(operand, BlockFormat::Sorted.operand_format(), &mut blocks)?;
    }
    if !blocks.is_sorted_by_key(|b| b.track) {
        blocks.sort_by_key(|b| b.track);
    }
    Ok(join_blocks(BlockFormat::Sorted, &blocks))
}

/// A value of the `Packed` format holding the postings of `existing` (a `Packed`
/// value) and of `operands` (blocks in [`BlockFormat::operand_format`],
/// concatenated), in order of track; postings of equal tracks keep their order. The
/// merge of a backend, as [`merge_sorted`] is, but it decodes and codes every posting.
///
/// # Errors
/// As [`decode_blocks`], for either input; nothing is merged then.
pub fn merge_packed<'a>(
    existing: Option<&[u8]>,
    operands: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<u8>> {
    let mut postings = Vec::new();
    let mut push = |track, frame| postings.push(Posting { track, frame });
    if let Some(value) = existing {
        decode_blocks(value, BlockFormat::Packed, &mut push)?;
    }
    for operand in operands {
        decode_blocks(operand, BlockFormat::Packed.operand_format(), &mut push)?;
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

    const FORMATS: [BlockFormat; 2] = [BlockFormat::Counted, BlockFormat::Flagged];

    fn collect(value: &[u8], format: BlockFormat) -> Vec<(u32, u32)> {
        let mut v = Vec::new();
        decode_blocks(value, format, |t, f| v.push((t, f))).expect("decodes");
        v
    }

    fn encode(format: BlockFormat, blocks: &[(u32, &[u32])]) -> Vec<u8> {
        let mut value = Vec::new();
        for &(track, frames) in blocks {
            encode_block(&mut value, format, track, frames).expect("track in range");
        }
        value
    }

    #[test]
    fn blocks_concatenate_and_decode() {
        for format in FORMATS {
            let value = encode(format, &[(3, &[10, 500, 70_000]), (100_000, &[0])]);
            assert_eq!(
                collect(&value, format),
                vec![(3, 10), (3, 500), (3, 70_000), (100_000, 0)]
            );
            assert_eq!(count_postings(&value, format).expect("counts"), 4);
        }
    }

    #[test]
    fn flagged_blocks_drop_the_count_of_single_postings() {
        let blocks: &[(u32, &[u32])] = &[(5, &[100]), (6, &[]), (7, &[1, 2])];
        let counted = encode(BlockFormat::Counted, blocks);
        let flagged = encode(BlockFormat::Flagged, blocks);
        assert_eq!(flagged.len() + 1, counted.len(), "one single-posting block");
        assert_eq!(
            collect(&flagged, BlockFormat::Flagged),
            collect(&counted, BlockFormat::Counted)
        );
        // The largest track each format names round-trips; one more is refused.
        for format in FORMATS {
            let max = format.max_track();
            let value = encode(format, &[(max, &[9])]);
            assert_eq!(collect(&value, format), vec![(max, 9)]);
            if let Some(over) = max.checked_add(1) {
                let mut out = vec![1];
                assert!(matches!(
                    encode_block(&mut out, format, over, &[9]),
                    Err(Error::Exhausted)
                ));
                assert_eq!(out, vec![1], "nothing appended");
            }
        }
    }

    #[test]
    fn lists_share_one_buffer_and_cap_common_hashes() {
        for format in FORMATS {
            let value = encode(format, &[(1, &[1, 2, 3]), (2, &[4])]);
            let mut lists = PostingLists::new();
            lists.push_decoded(&value, format, 4).expect("valid");
            lists.push_decoded(&value, format, 3).expect("valid");
            lists.push([]);
            lists.push([Posting { track: 9, frame: 8 }]);
            lists.push_decoded(&value, format, 0).expect("valid");
            assert!(lists.push_decoded(&[0x80], format, 10).is_err());
            assert_eq!(lists.len(), 5, "a corrupt value adds no list");
            assert_eq!(lists.total_postings(), 5);
            let lens: Vec<usize> = lists.iter().map(<[Posting]>::len).collect();
            assert_eq!(lens, vec![4, 0, 0, 1, 0]);
            assert_eq!(lists[0][3], Posting { track: 2, frame: 4 });
            assert_eq!(lists[3], [Posting { track: 9, frame: 8 }]);
            assert_eq!(lists.get(5), None);
        }
    }

    #[test]
    fn removing_a_track_keeps_the_others() {
        for format in FORMATS {
            let value = encode(format, &[(1, &[5]), (2, &[6, 7]), (1, &[9])]);
            let left = remove_track(&value, format, 1)
                .expect("valid")
                .expect("non-empty");
            assert_eq!(collect(&left, format), vec![(2, 6), (2, 7)]);
            assert_eq!(remove_track(&left, format, 2).expect("valid"), None);
        }
    }

    #[test]
    fn varints_of_every_length_round_trip() {
        let values = [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            2_097_151,
            2_097_152,
            u32::MAX,
        ];
        for &v in &values {
            // Alone (the last bytes of a value) and followed by more bytes.
            for tail in [&[][..], &[5, 0x81, 1][..]] {
                let mut bytes = Vec::new();
                put_varint(&mut bytes, v);
                let len = bytes.len();
                bytes.extend_from_slice(tail);
                let mut pos = 0;
                assert_eq!(get_varint(&bytes, &mut pos).expect("valid"), v);
                assert_eq!(pos, len, "{v} took {len} bytes");
            }
        }
        // Every input of up to three bytes: the inlined path agrees with the general one
        // on value, length and error (non-canonical forms such as 0x80 0x00 included).
        for len in 1..=3usize {
            for n in 0..1u32 << (8 * len) {
                let bytes = &n.to_le_bytes()[..len];
                let (mut fast_pos, mut slow_pos) = (0, 0);
                let fast = get_varint(bytes, &mut fast_pos);
                let slow = get_varint_slow(bytes, &mut slow_pos);
                assert_eq!(fast.is_ok(), slow.is_ok(), "{bytes:?}");
                if let (Ok(fast), Ok(slow)) = (fast, slow) {
                    assert_eq!((fast, fast_pos), (slow, slow_pos), "{bytes:?}");
                }
            }
        }
        let mut pos = 0;
        assert!(get_varint(&[0x80], &mut pos).is_err());
        let mut pos = 1;
        assert!(get_varint(&[0, 0x80, 0x80], &mut pos).is_err());
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        for format in FORMATS {
            let damaged: [&[u8]; 3] =
                [&[0x80], &[1, 200, 1], &[0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]];
            for bytes in damaged {
                assert!(
                    decode_blocks(bytes, format, |_, _| {}).is_err(),
                    "{bytes:?}"
                );
                assert!(remove_track(bytes, format, 0).is_err(), "{bytes:?}");
            }
        }
    }

    /// A value of `format` (`Sorted` or `Packed`) made of `blocks`, each merged in as
    /// its own operand.
    fn merged_value(format: BlockFormat, blocks: &[(u32, &[u32])]) -> Vec<u8> {
        let operands: Vec<Vec<u8>> = blocks
            .iter()
            .map(|&(track, frames)| encode(format.operand_format(), &[(track, frames)]))
            .collect();
        let operands = operands.iter().map(Vec::as_slice);
        match format {
            BlockFormat::Packed => merge_packed(None, operands),
            _ => merge_sorted(None, operands),
        }
        .expect("valid operands")
    }

    fn sorted_value(blocks: &[(u32, &[u32])]) -> Vec<u8> {
        merged_value(BlockFormat::Sorted, blocks)
    }

    #[test]
    fn sorted_values_merge_in_track_order_and_name_differences() {
        let blocks: &[(u32, &[u32])] = &[(1_000, &[7]), (1_010, &[3, 9]), (1_020, &[1])];
        let sorted = sorted_value(blocks);
        let flagged = encode(BlockFormat::Flagged, blocks);
        assert_eq!(
            collect(&sorted, BlockFormat::Sorted),
            collect(&flagged, BlockFormat::Flagged)
        );
        // Tracks 1,010 and 1,020 are named by differences of 10: one header byte each
        // instead of two.
        assert_eq!(sorted.len() + 2, flagged.len());
        // One block reads the same in both formats.
        let single = encode(BlockFormat::Flagged, &[(1_000, &[7])]);
        assert_eq!(collect(&single, BlockFormat::Sorted), vec![(1_000, 7)]);

        // Out-of-order operands, and a value merged again with more of them: blocks end
        // up ascending, equal tracks in arrival order.
        let first = sorted_value(&[(9, &[1]), (2, &[5, 6])]);
        let more = encode(BlockFormat::Flagged, &[(4, &[2]), (2, &[8]), (50, &[0])]);
        let merged = merge_sorted(Some(&first), [more.as_slice()]).expect("valid");
        assert_eq!(
            collect(&merged, BlockFormat::Sorted),
            vec![(2, 5), (2, 6), (2, 8), (4, 2), (9, 1), (50, 0)]
        );
        assert_eq!(
            count_postings(&merged, BlockFormat::Sorted).expect("counts"),
            6
        );
        assert_eq!(merge_sorted(None, []).expect("nothing"), Vec::<u8>::new());

        // The largest track number round-trips.
        let max = BlockFormat::Sorted.max_track();
        let value = sorted_value(&[(3, &[1]), (max, &[2])]);
        assert_eq!(collect(&value, BlockFormat::Sorted), vec![(3, 1), (max, 2)]);
    }

    #[test]
    fn removing_a_track_from_a_sorted_value_renames_the_next() {
        let value = sorted_value(&[(10, &[1]), (20, &[2, 3]), (35, &[4])]);
        let left = remove_track(&value, BlockFormat::Sorted, 20)
            .expect("valid")
            .expect("non-empty");
        assert_eq!(collect(&left, BlockFormat::Sorted), vec![(10, 1), (35, 4)]);
        let left = remove_track(&left, BlockFormat::Sorted, 10)
            .expect("valid")
            .expect("non-empty");
        assert_eq!(collect(&left, BlockFormat::Sorted), vec![(35, 4)]);
        assert_eq!(
            remove_track(&left, BlockFormat::Sorted, 7).expect("valid"),
            Some(left.clone()),
            "an absent track changes nothing"
        );
        assert_eq!(
            remove_track(&left, BlockFormat::Sorted, 35).expect("valid"),
            None
        );

        let mut lists = PostingLists::new();
        lists
            .push_decoded(&value, BlockFormat::Sorted, 4)
            .expect("valid");
        lists
            .push_decoded(&value, BlockFormat::Sorted, 3)
            .expect("valid");
        assert_eq!(
            lists[0][3],
            Posting {
                track: 35,
                frame: 4
            }
        );
        assert!(lists[1].is_empty(), "capped");
    }

    #[test]
    fn damaged_sorted_values_are_errors() {
        // Track numbers that add up past the largest a header can name, and past
        // u32::MAX.
        let max = BlockFormat::Sorted.max_track();
        let huge = encode(BlockFormat::Flagged, &[(max, &[1])]);
        let past_max = [huge.as_slice(); 2].concat();
        let overflowing = [huge.as_slice(); 3].concat();
        for bytes in [&[0x80][..], &[3, 200, 1], &past_max, &overflowing] {
            assert!(decode_blocks(bytes, BlockFormat::Sorted, |_, _| {}).is_err());
            assert!(remove_track(bytes, BlockFormat::Sorted, 0).is_err());
            assert!(merge_sorted(Some(bytes), []).is_err());
        }
        assert!(merge_sorted(None, [&[0x80][..]]).is_err());
    }

    fn packed_value(blocks: &[(u32, &[u32])]) -> Vec<u8> {
        merged_value(BlockFormat::Packed, blocks)
    }

    #[test]
    fn packed_values_merge_remove_and_decode_like_sorted_ones() {
        // A long list: tracks 37 apart, frames up to 6,000. 21 bits a posting against 24
        // in `Sorted`.
        let frames: Vec<[u32; 1]> = (0..500u32).map(|i| [(i * 7_919) % 6_000]).collect();
        let blocks: Vec<(u32, &[u32])> = frames
            .iter()
            .enumerate()
            .map(|(i, f)| (u32::try_from(i).expect("small") * 37 + 5, &f[..]))
            .collect();
        let packed = packed_value(&blocks);
        let sorted = sorted_value(&blocks);
        assert_eq!(
            collect(&packed, BlockFormat::Packed),
            collect(&sorted, BlockFormat::Sorted)
        );
        assert!(
            packed.len() * 10 < sorted.len() * 9,
            "{} bytes packed, {} sorted",
            packed.len(),
            sorted.len()
        );
        let single = encode(BlockFormat::Packed, &[(1_000, &[7, 9])]);
        assert_eq!(
            collect(&single, BlockFormat::Packed),
            vec![(1_000, 7), (1_000, 9)]
        );

        // Out-of-order operands, and a value merged again with more of them: postings
        // end up ascending by track, equal tracks in arrival order.
        let first = packed_value(&[(9, &[1]), (2, &[5, 6])]);
        let more = encode(BlockFormat::Flagged, &[(4, &[2]), (2, &[8]), (50, &[0])]);
        let merged = merge_packed(Some(&first), [more.as_slice()]).expect("valid");
        let expected = vec![(2, 5), (2, 6), (2, 8), (4, 2), (9, 1), (50, 0)];
        assert_eq!(collect(&merged, BlockFormat::Packed), expected);
        assert_eq!(
            count_postings(&merged, BlockFormat::Packed).expect("counts"),
            6
        );
        let max = BlockFormat::Packed.max_track();
        let value = packed_value(&[(3, &[1]), (max, &[u32::MAX])]);
        assert_eq!(
            collect(&value, BlockFormat::Packed),
            vec![(3, 1), (max, u32::MAX)]
        );

        // Removal re-codes the rest; an absent track changes nothing.
        let left = remove_track(&merged, BlockFormat::Packed, 2)
            .expect("valid")
            .expect("non-empty");
        assert_eq!(
            collect(&left, BlockFormat::Packed),
            vec![(4, 2), (9, 1), (50, 0)]
        );
        let same = remove_track(&left, BlockFormat::Packed, 3)
            .expect("valid")
            .expect("non-empty");
        assert_eq!(
            collect(&same, BlockFormat::Packed),
            collect(&left, BlockFormat::Packed)
        );
        let single = packed_value(&[(4, &[2])]);
        assert_eq!(
            remove_track(&single, BlockFormat::Packed, 4).expect("valid"),
            None
        );

        let mut lists = PostingLists::new();
        lists
            .push_decoded(&merged, BlockFormat::Packed, 6)
            .expect("valid");
        lists
            .push_decoded(&merged, BlockFormat::Packed, 5)
            .expect("valid");
        assert_eq!(
            lists[0][5],
            Posting {
                track: 50,
                frame: 0
            }
        );
        assert!(lists[1].is_empty(), "capped");

        // Damage in the stored value or in an operand fails the merge.
        for bytes in [&[][..], &[0], &[0xff; 12]] {
            assert!(decode_blocks(bytes, BlockFormat::Packed, |_, _| {}).is_err());
            assert!(remove_track(bytes, BlockFormat::Packed, 0).is_err());
            assert!(merge_packed(Some(bytes), []).is_err());
        }
        assert!(merge_packed(None, [&[0x80][..]]).is_err());
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
