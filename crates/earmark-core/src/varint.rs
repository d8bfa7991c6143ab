//! LEB128 varints: the one implementation behind every varint Earmark writes (the
//! fingerprint wire form, the operands that add a track's postings, stored hash lists).
//!
//! A value is written in 7-bit groups, lowest first, with the top bit set on every byte
//! but the last. A `u64` takes at most ten bytes, and the tenth holds the 64th bit
//! alone: a tenth byte above 1 would carry bits past 64 and is refused, as is an
//! eleventh byte. Non-canonical forms (a trailing `0x80 0x00`) are read as the value
//! they spell, since every writer here writes canonical ones and rejecting them would
//! only cost the readers time.
//!
//! ```
//! use earmark_core::varint;
//!
//! let mut bytes = Vec::new();
//! varint::put(&mut bytes, 300);
//! assert_eq!(bytes, [0xac, 0x02]);
//! let mut pos = 0;
//! assert_eq!(varint::read_u64(&bytes, &mut pos), Ok(300));
//! assert_eq!(pos, 2);
//! ```

/// Why bytes are not a varint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarintError {
    /// The bytes end inside the varint.
    Truncated,
    /// More than ten bytes, or a tenth byte with bits past the 64th.
    TooLong,
    /// A valid `u64` too large for the type asked for.
    Overflow,
}

impl std::fmt::Display for VarintError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Truncated => "varint truncated",
            Self::TooLong => "varint longer than 64 bits",
            Self::Overflow => "varint out of range",
        })
    }
}

impl std::error::Error for VarintError {}

/// Appends `value` as a varint.
#[inline]
pub fn put(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads the varint at `*pos` and moves `pos` past it; `pos` is left where it was on
/// an error.
///
/// # Errors
/// [`VarintError::Truncated`] or [`VarintError::TooLong`].
#[inline]
pub fn read_u64(bytes: &[u8], pos: &mut usize) -> Result<u64, VarintError> {
    match bytes.get(*pos) {
        Some(&b0) if b0 < 0x80 => {
            *pos += 1;
            Ok(u64::from(b0))
        }
        _ => read_u64_slow(bytes, pos),
    }
}

/// Reads a varint that must fit in a `u32`, as [`read_u64`]. Postings operands are
/// mostly one- and two-byte varints (frame deltas, track numbers), and a compaction
/// reads millions of them: those take an inlined path.
///
/// # Errors
/// As [`read_u64`], or [`VarintError::Overflow`] for a value above `u32::MAX`.
#[inline]
pub fn read_u32(bytes: &[u8], pos: &mut usize) -> Result<u32, VarintError> {
    match bytes.get(*pos..*pos + 2) {
        Some(&[b0, _]) if b0 < 0x80 => {
            *pos += 1;
            Ok(u32::from(b0))
        }
        Some(&[b0, b1]) if b1 < 0x80 => {
            *pos += 2;
            Ok(u32::from(b0 & 0x7f) | (u32::from(b1) << 7))
        }
        _ => {
            let mut at = *pos;
            let value = read_u64_slow(bytes, &mut at)?;
            let value = u32::try_from(value).map_err(|_| VarintError::Overflow)?;
            *pos = at;
            Ok(value)
        }
    }
}

/// The general loop, for long varints, a value's last byte, and damage.
#[cold]
#[inline(never)]
fn read_u64_slow(bytes: &[u8], pos: &mut usize) -> Result<u64, VarintError> {
    let mut value = 0u64;
    let mut at = *pos;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(at).ok_or(VarintError::Truncated)?;
        at += 1;
        // The tenth byte holds the 64th bit alone.
        if shift == 63 && b > 1 {
            return Err(VarintError::TooLong);
        }
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            *pos = at;
            return Ok(value);
        }
    }
    Err(VarintError::TooLong)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUES: [u64; 13] = [
        0,
        1,
        127,
        128,
        300,
        16_383,
        16_384,
        2_097_151,
        2_097_152,
        u32::MAX as u64,
        1 << 32,
        1 << 63,
        u64::MAX,
    ];

    #[test]
    fn every_length_round_trips_alone_and_followed_by_more() {
        for &v in &VALUES {
            for tail in [&[][..], &[5, 0x81, 1][..]] {
                let mut bytes = Vec::new();
                put(&mut bytes, v);
                let len = bytes.len();
                bytes.extend_from_slice(tail);
                let mut pos = 0;
                assert_eq!(read_u64(&bytes, &mut pos), Ok(v));
                assert_eq!(pos, len, "{v} took {len} bytes");
                let mut pos = 0;
                match u32::try_from(v) {
                    Ok(small) => {
                        assert_eq!(read_u32(&bytes, &mut pos), Ok(small));
                        assert_eq!(pos, len);
                    }
                    Err(_) => {
                        assert_eq!(read_u32(&bytes, &mut pos), Err(VarintError::Overflow));
                        assert_eq!(pos, 0, "pos unmoved on an error");
                    }
                }
            }
        }
    }

    #[test]
    fn the_inlined_paths_agree_with_the_general_loop() {
        // Every input of up to three bytes, non-canonical forms included.
        for len in 1..=3usize {
            for n in 0..1u32 << (8 * len) {
                let bytes = &n.to_le_bytes()[..len];
                let (mut fast_pos, mut slow_pos, mut narrow_pos) = (0, 0, 0);
                let fast = read_u64(bytes, &mut fast_pos);
                let slow = read_u64_slow(bytes, &mut slow_pos);
                let narrow = read_u32(bytes, &mut narrow_pos);
                assert_eq!((fast, fast_pos), (slow, slow_pos), "{bytes:?}");
                assert_eq!(narrow.map(u64::from), slow, "{bytes:?}");
                assert_eq!(narrow_pos, slow_pos, "{bytes:?}");
            }
        }
    }

    #[test]
    fn damage_is_an_error() {
        let mut pos = 0;
        assert_eq!(read_u64(&[0x80], &mut pos), Err(VarintError::Truncated));
        let mut pos = 1;
        assert_eq!(
            read_u32(&[0, 0x80, 0x80], &mut pos),
            Err(VarintError::Truncated)
        );
        assert_eq!(pos, 1);
        // Ten bytes whose last carries a bit past the 64th, and eleven bytes.
        let mut past_64_bits = [0xff; 10];
        past_64_bits[9] = 0x02;
        assert_eq!(read_u64(&past_64_bits, &mut 0), Err(VarintError::TooLong));
        let mut eleven = [0xff; 11];
        eleven[10] = 0x01;
        assert_eq!(read_u64(&eleven, &mut 0), Err(VarintError::TooLong));
        // u64::MAX itself is ten bytes ending in 0x01.
        let mut max = [0xff; 10];
        max[9] = 0x01;
        assert_eq!(read_u64(&max, &mut 0), Ok(u64::MAX));
    }

    #[test]
    fn bytes_are_pinned() {
        // Stored hash lists and their checksums, postings operands and wire fingerprints
        // all hold these bytes: they must never change.
        let mut out = Vec::new();
        for v in [5, 295, 0xffff_ffff - 300] {
            put(&mut out, v);
        }
        assert_eq!(out, [5, 0xa7, 0x02, 0xd3, 0xfd, 0xff, 0xff, 0x0f]);
    }
}
