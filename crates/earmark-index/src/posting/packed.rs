//! The bit-packed stored value of a hash's postings.
//!
//! ```text
//! value := k (5 bits) | w - 1 (5 bits) | block* | 1 | 0* up to a byte boundary
//! block := track difference, Rice-coded with parameter k
//!        | 0 (one posting) or 1 and the count - 1, Elias-gamma-coded
//!        | each posting's frame in w bits and aux in 16
//! ```
//!
//! Bits are written most significant first. The encoder picks `k` for the value's
//! track differences and `w` for its largest frame, so a typical posting takes a byte
//! for its track and 13 bits for its frame, where varints took one or two bytes and two
//! bytes. The closing 1 bit marks where the blocks end, since the last block may be
//! shorter than a byte. A Rice quotient of [`UNARY_ESCAPE`] or more is written as that
//! many 1 bits and the difference in 32 bits, so no value holds long unary runs.

use super::{Posting, add_difference};
use crate::error::{Error, Result};

/// Bits of the Rice parameter `k` and of the frame width `w - 1` at a value's start.
const PARAMETER_BITS: u32 = 5;

/// Bits of a posting's aux.
const AUX_BITS: u32 = 16;

/// Bits of a [`BitReader::window`] that are sure to be the value's.
const WINDOW_BITS: u32 = 57;

/// Rice quotients from here on are escaped (the difference follows in 32 bits).
const UNARY_ESCAPE: u32 = 32;

fn damaged(what: &str) -> Error {
    Error::Corrupt(format!("packed postings value {what}"))
}

/// Bits appended most significant first.
struct BitWriter {
    out: Vec<u8>,
    /// The last `filled` bits not yet in `out` (fewer than 8 between calls).
    pending: u64,
    filled: u32,
}

impl BitWriter {
    fn with_capacity(bytes: usize) -> Self {
        Self {
            out: Vec::with_capacity(bytes),
            pending: 0,
            filled: 0,
        }
    }

    /// The low `n` bits of `value`, `n` at most 32.
    fn put(&mut self, value: u32, n: u32) {
        debug_assert!(n <= 32);
        if n == 0 {
            return;
        }
        let mask = (1u64 << n) - 1;
        self.pending = (self.pending << n) | (u64::from(value) & mask);
        self.filled += n;
        while self.filled >= 8 {
            self.filled -= 8;
            self.out.push((self.pending >> self.filled) as u8);
        }
        self.pending &= (1u64 << self.filled) - 1;
    }

    fn put_ones(&mut self, mut n: u32) {
        while n > 0 {
            let chunk = n.min(32);
            self.put(u32::MAX, chunk);
            n -= chunk;
        }
    }

    fn put_rice(&mut self, value: u32, k: u32) {
        let quotient = value >> k;
        if quotient < UNARY_ESCAPE {
            self.put_ones(quotient);
            self.put(0, 1);
            self.put(value, k);
        } else {
            self.put_ones(UNARY_ESCAPE);
            self.put(value, 32);
        }
    }

    /// `value` at least 1: as many 0 bits as it has bits after the leading 1, then it.
    fn put_gamma(&mut self, value: u32) {
        debug_assert!(value >= 1);
        let len = u32::BITS - value.leading_zeros();
        self.put(0, len - 1);
        self.put(value, len);
    }

    /// The bytes, closed by a 1 bit and zeros to the byte boundary.
    fn finish(mut self) -> Vec<u8> {
        self.put(1, 1);
        if self.filled > 0 {
            self.out.push((self.pending << (8 - self.filled)) as u8);
        }
        self.out
    }
}

/// Bits read most significant first, up to the closing 1 bit.
struct BitReader<'a> {
    bytes: &'a [u8],
    /// Next bit to read.
    pos: usize,
    /// Where the closing 1 bit is.
    end: usize,
}

impl<'a> BitReader<'a> {
    fn new(bytes: &'a [u8]) -> Result<Self> {
        let last = *bytes.last().ok_or_else(|| damaged("is empty"))?;
        if last == 0 {
            return Err(damaged("lacks its closing bit"));
        }
        let end = bytes.len() * 8 - last.trailing_zeros() as usize - 1;
        Ok(Self { bytes, pos: 0, end })
    }

    fn remaining(&self) -> usize {
        self.end - self.pos
    }

    /// The bits from `pos` on, first bit at the top; at least 57 of them are the
    /// value's (or zero past its last byte).
    #[inline]
    fn window(&self) -> u64 {
        let byte = self.pos / 8;
        let word = match self.bytes.get(byte..byte + 8) {
            Some(eight) => {
                let mut buf = [0u8; 8];
                buf.copy_from_slice(eight);
                u64::from_be_bytes(buf)
            }
            None => {
                let mut buf = [0u8; 8];
                let tail = self.bytes.get(byte..).unwrap_or_default();
                buf[..tail.len()].copy_from_slice(tail);
                u64::from_be_bytes(buf)
            }
        };
        word << (self.pos % 8)
    }

    fn skip(&mut self, n: usize) -> Result<()> {
        if n > self.remaining() {
            return Err(damaged("is truncated"));
        }
        self.pos += n;
        Ok(())
    }

    /// The next `n` bits, `n` at most 32.
    #[inline]
    fn read(&mut self, n: u32) -> Result<u32> {
        debug_assert!(n <= 32);
        if n == 0 {
            return Ok(0);
        }
        let bits = (self.window() >> (64 - n)) as u32;
        self.skip(n as usize)?;
        Ok(bits)
    }

    #[inline]
    fn read_rice(&mut self, k: u32) -> Result<u32> {
        let ones = self.window().leading_ones().min(UNARY_ESCAPE);
        if ones == UNARY_ESCAPE {
            self.skip(UNARY_ESCAPE as usize)?;
            return self.read(32);
        }
        self.skip(ones as usize + 1)?;
        let low = self.read(k)?;
        // Below the escape the quotient times 2^k fits in 32 bits unless damaged.
        u32::try_from((u64::from(ones) << k) | u64::from(low))
            .map_err(|_| damaged("has a track difference out of range"))
    }

    fn read_gamma(&mut self) -> Result<u32> {
        let zeros = self.window().leading_zeros();
        if zeros >= u32::BITS {
            return Err(damaged("has a count out of range"));
        }
        self.skip(zeros as usize)?;
        self.read(zeros + 1)
    }
}

/// Calls `visit` for every posting of a packed value; tracks above `max_track` are
/// damage.
pub(super) fn decode(value: &[u8], max_track: u32, visit: impl FnMut(Posting)) -> Result<()> {
    decode_with::<true>(value, max_track, visit)
}

/// [`decode`], with (`FAST`) or without the one-window path for single postings; the
/// tests check that both read every value alike.
fn decode_with<const FAST: bool>(
    value: &[u8],
    max_track: u32,
    mut visit: impl FnMut(Posting),
) -> Result<()> {
    let mut bits = BitReader::new(value)?;
    let k = bits.read(PARAMETER_BITS)?;
    let width = bits.read(PARAMETER_BITS)? + 1;
    // A block of one posting whose quotient has at most this many 1 bits lies whole
    // in one window (57 bits); most blocks do, and take one load instead of four. An
    // escaped quotient (32 ones, no closing 0) never does.
    let fast_ones = WINDOW_BITS
        .checked_sub(2 + k + width + AUX_BITS)
        .map(|fast| fast.min(UNARY_ESCAPE - 1))
        .filter(|_| FAST);
    let mut track = 0u32;
    while bits.remaining() > 0 {
        let window = bits.window();
        let ones = window.leading_ones();
        if fast_ones.is_some_and(|fast| ones <= fast) {
            let flag_at = ones + 1 + k;
            if (window << flag_at) >> 63 == 0 {
                let low = if k == 0 {
                    0
                } else {
                    (window << (ones + 1)) >> (64 - k)
                };
                let frame_at = flag_at + 1;
                let frame = ((window << frame_at) >> (64 - width)) as u32;
                let aux = ((window << (frame_at + width)) >> (64 - AUX_BITS)) as u16;
                bits.skip((frame_at + width + AUX_BITS) as usize)?;
                let difference = u32::try_from((u64::from(ones) << k) | low)
                    .map_err(|_| damaged("has a track difference out of range"))?;
                track = add_difference(track, difference, max_track)?;
                visit(Posting { track, frame, aux });
                continue;
            }
        }
        track = add_difference(track, bits.read_rice(k)?, max_track)?;
        let count = if bits.read(1)? == 1 {
            bits.read_gamma()?
                .checked_add(1)
                .ok_or_else(|| damaged("has a count out of range"))?
        } else {
            1
        };
        if u64::from(count) * u64::from(width + AUX_BITS) > bits.remaining() as u64 {
            return Err(damaged("has a count past its end"));
        }
        for _ in 0..count {
            let frame = bits.read(width)?;
            let aux = bits.read(AUX_BITS)? as u16;
            visit(Posting { track, frame, aux });
        }
    }
    Ok(())
}

/// The packed value of `postings`, which ascend by track; postings of one track form
/// one block, in the order given.
pub(super) fn encode(postings: &[Posting]) -> Vec<u8> {
    debug_assert!(postings.is_sorted_by_key(|p| p.track));
    let blocks = postings.chunk_by(|a, b| a.track == b.track);
    let mut differences = Vec::with_capacity(postings.len());
    let mut previous = 0;
    for block in blocks.clone() {
        differences.push(block[0].track - previous);
        previous = block[0].track;
    }
    let k = rice_parameter(&differences);
    let max_frame = postings.iter().map(|p| p.frame).max().unwrap_or(0);
    let width = (u32::BITS - max_frame.leading_zeros()).max(1);

    let mut bits = BitWriter::with_capacity(postings.len() * 5 + 2);
    bits.put(k, PARAMETER_BITS);
    bits.put(width - 1, PARAMETER_BITS);
    for (block, difference) in blocks.zip(differences) {
        bits.put_rice(difference, k);
        // A block's count comes from at most a track's postings of one hash.
        let count = u32::try_from(block.len()).unwrap_or(u32::MAX);
        if count == 1 {
            bits.put(0, 1);
        } else {
            bits.put(1, 1);
            bits.put_gamma(count - 1);
        }
        for p in block {
            bits.put(p.frame, width);
            bits.put(u32::from(p.aux), AUX_BITS);
        }
    }
    bits.finish()
}

/// Bits of `value` Rice-coded with parameter `k`.
fn rice_bits(value: u32, k: u32) -> u64 {
    let quotient = value >> k;
    if quotient < UNARY_ESCAPE {
        u64::from(quotient + 1 + k)
    } else {
        u64::from(UNARY_ESCAPE + 32)
    }
}

/// A Rice parameter that codes `values` in (nearly always) the fewest bits. A first
/// pass counts the values of each bit length, which prices every parameter roughly (a
/// value of `L` bits has a quotient of about 0.75 * 2^(L - k)); the exact count then
/// decides among the best guess and its neighbours. Trying all 32 exactly would cost a compaction 32
/// passes over every value it rewrites, and a guess from the mean alone goes wrong
/// when one large difference sits among small ones.
fn rice_parameter(values: &[u32]) -> u32 {
    let mut by_length = [0u64; u32::BITS as usize + 1];
    for &v in values {
        by_length[(u32::BITS - v.leading_zeros()) as usize] += 1;
    }
    let lengths: Vec<(u32, u64)> = (0u32..).zip(by_length).filter(|&(_, n)| n > 0).collect();
    let rough_bits = |k: u32| -> f64 {
        let mut bits = 0.0;
        for &(length, n) in &lengths {
            let quotient = if length <= k {
                0.0
            } else {
                // Middle of [2^(L-1-k), 2^(L-k) - 1].
                (3.0 * f64::from(1u32 << (length - 1 - k)) - 1.0) / 2.0
            };
            let per_value = if quotient < f64::from(UNARY_ESCAPE) {
                quotient + 1.0 + f64::from(k)
            } else {
                f64::from(UNARY_ESCAPE + 32)
            };
            bits += n as f64 * per_value;
        }
        bits
    };
    let max_k = (1 << PARAMETER_BITS) - 1;
    let guess = (0..=max_k)
        .min_by(|&a, &b| rough_bits(a).total_cmp(&rough_bits(b)))
        .unwrap_or(0);
    (guess.saturating_sub(1)..=(guess + 1).min(max_k))
        .min_by_key(|&k| values.iter().map(|&v| rice_bits(v, k)).sum::<u64>())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u32 = u32::MAX >> 1;

    /// Every test posting's aux, from its track and frame: all 16 bits in use.
    fn aux_of(track: u32, frame: u32) -> u16 {
        (frame.wrapping_mul(40_503) >> 7) as u16 ^ track as u16
    }

    fn postings(pairs: &[(u32, u32)]) -> Vec<Posting> {
        pairs
            .iter()
            .map(|&(track, frame)| Posting {
                track,
                frame,
                aux: aux_of(track, frame),
            })
            .collect()
    }

    /// The postings of `value` or the error, through the fast path or without it;
    /// an aux other than the test's is an error too.
    fn read<const FAST: bool>(value: &[u8], max_track: u32) -> Result<Vec<(u32, u32)>> {
        let mut out = Vec::new();
        let mut auxes_agree = true;
        decode_with::<FAST>(value, max_track, |p| {
            auxes_agree &= p.aux == aux_of(p.track, p.frame);
            out.push((p.track, p.frame));
        })?;
        if !auxes_agree {
            return Err(damaged("gave another aux"));
        }
        Ok(out)
    }

    /// Whether both paths give the same postings, or both an error.
    fn paths_agree(value: &[u8], max_track: u32) -> bool {
        match (
            read::<true>(value, max_track),
            read::<false>(value, max_track),
        ) {
            (Ok(fast), Ok(slow)) => fast == slow,
            (Err(_), Err(_)) => true,
            _ => false,
        }
    }

    fn round_trip(pairs: &[(u32, u32)]) -> Vec<u8> {
        let value = encode(&postings(pairs));
        assert_eq!(read::<true>(&value, MAX).expect("decodes"), pairs);
        assert_eq!(read::<false>(&value, MAX).expect("decodes"), pairs);
        value
    }

    #[test]
    fn values_round_trip_and_are_small() {
        round_trip(&[]);
        round_trip(&[(0, 0)]);
        round_trip(&[(MAX, u32::MAX)]);
        round_trip(&[(3, 9), (3, 2), (3, 2), (7, 0), (7_000_000, 1)]);
        // A typical list: track differences around 70, frames below 2^13. About 5
        // bytes a posting as varints; here 22 bits and the aux's 16.
        let pairs: Vec<(u32, u32)> = (0..1_000u32)
            .map(|i| {
                (
                    i * 70 + i % 13,
                    (i.wrapping_mul(2_654_435_761) >> 7) % 8_000,
                )
            })
            .collect();
        let value = round_trip(&pairs);
        assert!(value.len() <= 4_760, "{} bytes", value.len());
    }

    #[test]
    fn every_count_width_and_difference_round_trips() {
        for count in [1u32, 2, 3, 4, 255, 256, 1_000] {
            for frame in [0u32, 1, 2, 8_191, 8_192, u32::MAX] {
                let mut pairs: Vec<(u32, u32)> = (0..count).map(|_| (5, frame)).collect();
                pairs.push((6, 0));
                round_trip(&pairs);
            }
        }
        // One huge difference among small ones: escaped, not a long unary run.
        let value = round_trip(&[(1, 1), (2, 1), (3, 1), (4, 1), (MAX, 1)]);
        assert!(value.len() < 26, "{} bytes", value.len());
        // Escapes with room for a whole block in the window after them: a dense list
        // far from track 0, and a track far past a dense list.
        let far_start: Vec<(u32, u32)> = (0..200)
            .map(|i| (50_000 + 70 * i, (i * 7_919) % 6_000))
            .collect();
        round_trip(&far_start);
        let far_end: Vec<(u32, u32)> = (10..60).map(|t| (t, 100)).chain([(100_000, 7)]).collect();
        round_trip(&far_end);
        // Many shapes: clusters, gaps of every size, counts above 1, wide frames.
        let mut seed = 0x9e37_79b9_u32;
        let mut next = |below: u32| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed % below
        };
        for _ in 0..300 {
            let mut pairs = Vec::new();
            let mut track = 0u32;
            let gap_bits = 1 + next(30);
            let frame_bits = 1 + next(32);
            for _ in 0..1 + next(60) {
                let gap_bits_now = next(gap_bits);
                track = track.saturating_add(next(1 << gap_bits_now)).min(MAX);
                for _ in 0..1 + next(3) / 2 {
                    pairs.push((track, next(u32::MAX) >> (32 - frame_bits)));
                }
            }
            round_trip(&pairs);
        }
        for k in 0..32 {
            for v in [0, 1, (1u32 << k) - 1, 1 << k, u32::MAX >> 1, u32::MAX] {
                let mut bits = BitWriter::with_capacity(8);
                bits.put_rice(v, k);
                let bytes = bits.finish();
                let mut read = BitReader::new(&bytes).expect("closed");
                assert_eq!(read.read_rice(k).expect("valid"), v, "{v} with k = {k}");
                assert_eq!(read.remaining(), 0);
            }
        }
    }

    #[test]
    fn the_parameter_codes_in_the_fewest_bits() {
        assert_eq!(rice_parameter(&[]), 0);
        assert_eq!(rice_parameter(&[1, 1, 1, 0]), 0);
        let cost = |values: &[u32], k| values.iter().map(|&v| rice_bits(v, k)).sum::<u64>();
        let spread: Vec<u32> = (0..1_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 20) % 300)
            .collect();
        let cases: [Vec<u32>; 5] = [
            (0..100).map(|i| 1_000 + i).collect(),
            vec![1, 1, 1, 1, u32::MAX >> 1],
            vec![0, 5, 70, 70, 80, 4_000, 1 << 20],
            spread,
            vec![u32::MAX; 3],
        ];
        for values in cases {
            let best = (0..32).map(|k| cost(&values, k)).min().expect("some k");
            assert_eq!(cost(&values, rice_parameter(&values)), best, "{values:?}");
        }
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        let good = encode(&postings(&[(3, 9), (3, 2), (1_000, 7)]));
        assert!(decode(&[], MAX, |_| {}).is_err());
        assert!(decode(&[0], MAX, |_| {}).is_err());
        // Every truncation and every single flipped bit: an error or some postings, never
        // a panic or a track past the largest.
        for len in 0..good.len() {
            let _ = decode(&good[..len], MAX, |_| {});
        }
        for bit in 0..good.len() * 8 {
            let mut bytes = good.clone();
            bytes[bit / 8] ^= 0x80 >> (bit % 8);
            let _ = decode(&bytes, 1_000, |p| assert!(p.track <= 1_000));
            assert!(paths_agree(&bytes, 1_000), "bit {bit} flipped");
        }
        for len in 0..=good.len() {
            assert!(paths_agree(&good[..len], MAX), "{len} bytes");
        }
        // A track sum past the largest.
        let over = encode(&postings(&[(MAX, 1), (MAX, 2)]));
        assert!(decode(&over, MAX - 1, |_| {}).is_err());
        // All ones: escapes and counts that run past the end.
        assert!(decode(&[0xff; 40], MAX, |_| {}).is_err());
    }
}
