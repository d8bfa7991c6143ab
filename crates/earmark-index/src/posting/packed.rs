//! The bit-packed stored value of a hash bucket's postings.
//!
//! ```text
//! value   := k (5 bits) | t (5 bits) | w - 1 (5 bits) | posting* | 1 | 0* up to a byte boundary
//! posting := its hash residual's difference to the previous posting's (the first's
//!            to 0), Rice-coded with parameter k
//!          | its track in t bits | its frame in w bits | its aux in 16
//! ```
//!
//! Bits are written most significant first. The encoder picks `k` for the value's
//! residual differences, `t` for its largest track and `w` for its largest frame. In
//! a bucket of n postings a residual difference takes about 18 - log2(n) bits, so a
//! posting costs about as much as its track, frame and aux, and a bucket's key is
//! paid once for all of them. The closing 1 bit marks where the postings end, since
//! the last may end inside a byte. A Rice quotient of [`UNARY_ESCAPE`] or more is
//! written as that many 1 bits and the difference in 32 bits, so no value holds long
//! unary runs.

use super::Posting;
use crate::error::{Error, Result};

/// Bits of the Rice parameter `k` and of the frame width `w - 1` at a value's start.
const PARAMETER_BITS: u32 = 5;

/// Bits of a posting's aux.
const AUX_BITS: u32 = 16;

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
            .map_err(|_| damaged("has a difference out of range"))
    }
}

/// Calls `visit` with each posting of a packed value and its hash residual, in the
/// value's order (ascending residual, then track), until `visit` returns `false`.
/// Tracks above `max_track` are damage.
pub(super) fn decode(
    value: &[u8],
    max_track: u32,
    mut visit: impl FnMut(u16, Posting) -> bool,
) -> Result<()> {
    let mut bits = BitReader::new(value)?;
    let k = bits.read(PARAMETER_BITS)?;
    let track_bits = bits.read(PARAMETER_BITS)?;
    let width = bits.read(PARAMETER_BITS)? + 1;
    if track_bits == 0 {
        return Err(damaged("has tracks of no bits"));
    }
    let mut residual = 0u32;
    while bits.remaining() > 0 {
        residual = residual
            .checked_add(bits.read_rice(k)?)
            .filter(|&r| r <= u32::from(u16::MAX))
            .ok_or_else(|| damaged("has a hash residual out of range"))?;
        let track = bits.read(track_bits)?;
        if track > max_track {
            return Err(damaged("has a track number out of range"));
        }
        let frame = bits.read(width)?;
        let aux = bits.read(AUX_BITS)? as u16;
        if !visit(residual as u16, Posting { track, frame, aux }) {
            break;
        }
    }
    Ok(())
}

/// The packed value of `postings`, `(hash residual, posting)` ascending by residual
/// and, within one, by track.
pub(super) fn encode(postings: &[(u16, Posting)]) -> Vec<u8> {
    debug_assert!(postings.is_sorted_by_key(|(r, p)| (*r, p.track)));
    let mut differences = Vec::with_capacity(postings.len());
    let mut previous = 0;
    for &(residual, _) in postings {
        differences.push(u32::from(residual - previous));
        previous = residual;
    }
    let k = rice_parameter(&differences);
    let bits_of = |n: u32| (u32::BITS - n.leading_zeros()).max(1);
    let track_bits = bits_of(postings.iter().map(|(_, p)| p.track).max().unwrap_or(0));
    let width = bits_of(postings.iter().map(|(_, p)| p.frame).max().unwrap_or(0));

    let mut bits = BitWriter::with_capacity(postings.len() * 8 + 2);
    bits.put(k, PARAMETER_BITS);
    // At most 31: tracks are below 2^31 (`MAX_TRACK`).
    bits.put(track_bits, PARAMETER_BITS);
    bits.put(width - 1, PARAMETER_BITS);
    for (&(_, p), difference) in postings.iter().zip(differences) {
        bits.put_rice(difference, k);
        bits.put(p.track, track_bits);
        bits.put(p.frame, width);
        bits.put(u32::from(p.aux), AUX_BITS);
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

    /// Every test posting's aux, from its residual, track and frame: all 16 bits in use.
    fn aux_of(residual: u16, track: u32, frame: u32) -> u16 {
        (frame.wrapping_mul(40_503) >> 7) as u16 ^ track as u16 ^ residual.rotate_left(5)
    }

    fn postings(triples: &[(u16, u32, u32)]) -> Vec<(u16, Posting)> {
        triples
            .iter()
            .map(|&(residual, track, frame)| {
                let aux = aux_of(residual, track, frame);
                (residual, Posting { track, frame, aux })
            })
            .collect()
    }

    /// The postings of `value` or the error; an aux other than the test's is an error.
    fn read(value: &[u8], max_track: u32) -> Result<Vec<(u16, u32, u32)>> {
        let mut out = Vec::new();
        let mut auxes_agree = true;
        decode(value, max_track, |r, p| {
            auxes_agree &= p.aux == aux_of(r, p.track, p.frame);
            out.push((r, p.track, p.frame));
            true
        })?;
        if !auxes_agree {
            return Err(damaged("gave another aux"));
        }
        Ok(out)
    }

    fn round_trip(triples: &[(u16, u32, u32)]) -> Vec<u8> {
        let value = encode(&postings(triples));
        assert_eq!(read(&value, MAX).expect("decodes"), triples);
        value
    }

    #[test]
    fn values_round_trip_and_are_small() {
        round_trip(&[]);
        round_trip(&[(0, 0, 0)]);
        round_trip(&[(u16::MAX, MAX, u32::MAX)]);
        round_trip(&[
            (0, 3, 9),
            (0, 3, 2),
            (0, 3, 2),
            (4, 7, 0),
            (4, 7_000_000, 1),
        ]);
        // A bucket at 100,000 tracks: 150 postings spread over the residuals, tracks
        // of 17 bits, frames below 2^13. About 10 bits a residual difference, then
        // 17 + 13 + 16: 7 bytes a posting.
        let mut triples: Vec<(u16, u32, u32)> = (0..150u32)
            .map(|i| {
                (
                    (i.wrapping_mul(2_654_435_761) >> 16) as u16,
                    (i * 7_919) % 100_000,
                    (i * 613) % 8_000,
                )
            })
            .collect();
        triples.sort_unstable();
        let value = round_trip(&triples);
        assert!(value.len() <= 1_070, "{} bytes", value.len());
    }

    #[test]
    fn every_width_and_difference_round_trips() {
        for frame in [0u32, 1, 2, 8_191, 8_192, u32::MAX] {
            for track in [0u32, 1, 255, 256, MAX] {
                round_trip(&[(0, 0, frame), (0, track, frame), (9, track, 0)]);
            }
        }
        // One large difference among small ones: escaped, not a long unary run.
        let value = round_trip(&[(1, 1, 1), (2, 1, 1), (3, 1, 1), (4, 1, 1), (u16::MAX, 1, 1)]);
        assert!(value.len() < 30, "{} bytes", value.len());
        // Many shapes: clusters, gaps of every size, repeats, wide tracks and frames.
        let mut random = earmark_core::synthetic::xorshift(0x9e37_79b9);
        let mut next = |below: u32| random() % below;
        for _ in 0..300 {
            let gap_bits = 1 + next(16);
            let track_bits = 1 + next(31);
            let frame_bits = 1 + next(32);
            let mut triples = Vec::new();
            let mut residual = 0u32;
            for _ in 0..1 + next(60) {
                let gap_bits_now = next(gap_bits);
                residual = (residual + next(1 << gap_bits_now)).min(u32::from(u16::MAX));
                for _ in 0..1 + next(3) / 2 {
                    triples.push((
                        residual as u16,
                        next(u32::MAX) >> (32 - track_bits),
                        next(u32::MAX) >> (32 - frame_bits),
                    ));
                }
            }
            triples.sort_by_key(|&(r, t, _)| (r, t));
            round_trip(&triples);
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
    fn decoding_stops_when_asked() {
        let value = encode(&postings(&[(1, 1, 1), (5, 2, 2), (9, 3, 3)]));
        let mut seen = Vec::new();
        decode(&value, MAX, |r, _| {
            seen.push(r);
            r < 5
        })
        .expect("valid");
        assert_eq!(seen, [1, 5]);
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
        let good = encode(&postings(&[(0, 3, 9), (0, 3, 2), (7, 1_000, 7)]));
        assert!(decode(&[], MAX, |_, _| true).is_err());
        assert!(decode(&[0], MAX, |_, _| true).is_err());
        // Every truncation and every single flipped bit: an error or some postings,
        // never a panic, a residual past 16 bits or a track past the largest.
        for len in 0..good.len() {
            let _ = decode(&good[..len], MAX, |_, _| true);
        }
        for bit in 0..good.len() * 8 {
            let mut bytes = good.clone();
            bytes[bit / 8] ^= 0x80 >> (bit % 8);
            let _ = decode(&bytes, 1_000, |_, p| {
                assert!(p.track <= 1_000);
                true
            });
        }
        // A track past the largest, and residual differences summing past 16 bits.
        let over = encode(&postings(&[(0, MAX, 1)]));
        assert!(decode(&over, MAX - 1, |_, _| true).is_err());
        let mut bits = BitWriter::with_capacity(16);
        bits.put(0, PARAMETER_BITS);
        bits.put(1, PARAMETER_BITS);
        bits.put(0, PARAMETER_BITS);
        for _ in 0..2 {
            bits.put_rice(40_000, 0);
            bits.put(0, 1 + 1 + AUX_BITS);
        }
        assert!(decode(&bits.finish(), MAX, |_, _| true).is_err());
        // All ones: escapes that run past the end.
        assert!(decode(&[0xff; 40], MAX, |_, _| true).is_err());
    }
}
