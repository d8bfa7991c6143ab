//! Which hash values have postings: a bitmap held in memory beside the database, so
//! that a lookup asks RocksDB only for hashes that may be present.
//!
//! A query asks for thousands of hashes. In a catalog that uses a small part of the
//! hash space most of them are absent, and RocksDB's batched get still spends about a
//! tenth of a microsecond on each (memtable, file search, filter probe). A bit test
//! answers those in a nanosecond. The bitmap has one bit per value of a
//! [`BITS`]-bit folding of the hash: exact for the pair configurations, whose hashes
//! fit in 23 bits, and a one-probe filter for wider hashes. A set bit only means
//! "ask RocksDB"; bits are never cleared (deleting a track leaves its bits set), so a
//! stale bit costs one lookup and is never wrong.
//!
//! Stored in `meta` under [`META_PRESENCE`](crate::layout::META_PRESENCE): the primary
//! adds each track's new bits to the track's write batch as a merge operand, so the
//! stored bitmap covers every track written, crash or not (and, as bits are never
//! cleared, the hashes of deleted tracks too).

use std::sync::atomic::{AtomicU64, Ordering};

use rocksdb::MergeOperands;

use crate::error::{Error, Result};

/// Bits of the folded hash: 2^23 values, a bitmap of 1 MiB.
pub(crate) const BITS: u32 = 23;
const WORDS: usize = 1 << (BITS - 6);
const MASK: u32 = (1 << BITS) - 1;

/// Stored value tags: a whole bitmap, or a list of bit numbers (a track's new bits).
const TAG_BITMAP: u8 = 1;
const TAG_BITS: u8 = 2;
const BITMAP_LEN: usize = 1 + WORDS * 8;

/// The bitmap; shared by readers and the one writer without a lock.
pub(crate) struct Presence {
    words: Box<[AtomicU64]>,
}

impl std::fmt::Debug for Presence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presence")
            .field("bits_set", &self.count())
            .finish()
    }
}

impl Presence {
    /// No hash present.
    pub fn empty() -> Self {
        Self {
            words: (0..WORDS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The bit of `hash`: its low bits, with the bits above folded in, so that hashes
    /// spread over 32 bits or more spread over the bitmap too. A hash below 2^46 folds
    /// as it did when hashes had 32 bits, so stored bitmaps keep their meaning.
    pub fn bit(hash: u64) -> u32 {
        ((hash ^ (hash >> BITS) ^ (hash >> (2 * BITS))) as u32) & MASK
    }

    /// The word holding bit number `bit` (masked into range) and the bit's mask in it.
    fn slot(&self, bit: u32) -> (&AtomicU64, u64) {
        let bit = bit & MASK;
        (&self.words[(bit >> 6) as usize], 1 << (bit & 63))
    }

    /// Whether `hash` may have postings; `false` is certain.
    pub fn may_contain(&self, hash: u64) -> bool {
        let (word, mask) = self.slot(Self::bit(hash));
        // Acquire pairs with the writer's release: a reader that sees the bit also
        // sees the write it follows.
        word.load(Ordering::Acquire) & mask != 0
    }

    /// The bits of `hashes` not set yet, ascending and distinct.
    pub fn new_bits(&self, hashes: impl IntoIterator<Item = u64>) -> Vec<u32> {
        let mut bits: Vec<u32> = hashes
            .into_iter()
            .filter(|&h| !self.may_contain(h))
            .map(Self::bit)
            .collect();
        bits.sort_unstable();
        bits.dedup();
        bits
    }

    /// Sets `bits` (bit numbers, as from [`new_bits`](Self::new_bits)).
    pub fn set_bits(&self, bits: &[u32]) {
        for &bit in bits {
            let (word, mask) = self.slot(bit);
            word.fetch_or(mask, Ordering::Release);
        }
    }

    /// Clears `bits` again: only for bits the caller set and no stored track has.
    pub fn clear_bits(&self, bits: &[u32]) {
        for &bit in bits {
            let (word, mask) = self.slot(bit);
            word.fetch_and(!mask, Ordering::Release);
        }
    }

    /// Sets the bits of every hash in `hashes`.
    #[cfg(test)]
    pub fn insert_hashes(&self, hashes: &[u64]) {
        for &h in hashes {
            let (word, mask) = self.slot(Self::bit(h));
            word.fetch_or(mask, Ordering::Release);
        }
    }

    /// Sets every bit of a stored value (either form).
    ///
    /// # Errors
    /// [`Error::Corrupt`] when `value` is neither form.
    pub fn merge_stored(&self, value: &[u8]) -> Result<()> {
        match decode(value)? {
            Stored::Bitmap(bytes) => {
                for (word, chunk) in self.words.iter().zip(bytes.chunks_exact(8)) {
                    let bits = u64::from_le_bytes(chunk.try_into().expect("chunks of 8"));
                    if bits != 0 {
                        word.fetch_or(bits, Ordering::Release);
                    }
                }
            }
            Stored::Bits(bytes) => {
                for chunk in bytes.chunks_exact(4) {
                    let bit = u32::from_le_bytes(chunk.try_into().expect("chunks of 4"));
                    let (word, mask) = self.slot(bit);
                    word.fetch_or(mask, Ordering::Release);
                }
            }
        }
        Ok(())
    }

    /// The whole bitmap as stored.
    pub fn encode_bitmap(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(BITMAP_LEN);
        out.push(TAG_BITMAP);
        for word in &self.words {
            out.extend_from_slice(&word.load(Ordering::Acquire).to_le_bytes());
        }
        out
    }

    /// Bits set, of 2^[`BITS`].
    pub fn count(&self) -> u64 {
        self.words
            .iter()
            .map(|w| u64::from(w.load(Ordering::Relaxed).count_ones()))
            .sum()
    }
}

/// A list of bit numbers as stored: a track's merge operand.
pub(crate) fn encode_bits(bits: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + bits.len() * 4);
    out.push(TAG_BITS);
    for bit in bits {
        out.extend_from_slice(&bit.to_le_bytes());
    }
    out
}

enum Stored<'a> {
    Bitmap(&'a [u8]),
    Bits(&'a [u8]),
}

fn decode(value: &[u8]) -> Result<Stored<'_>> {
    match value.split_first() {
        Some((&TAG_BITMAP, rest)) if value.len() == BITMAP_LEN => Ok(Stored::Bitmap(rest)),
        Some((&TAG_BITS, rest)) if rest.len() % 4 == 0 => Ok(Stored::Bits(rest)),
        _ => Err(Error::Corrupt(format!(
            "presence bitmap: a value of {} bytes in neither form",
            value.len()
        ))),
    }
}

/// The merge operator of `meta`, where only the presence key is ever merged: the
/// union of the existing value and the operands, as a whole bitmap. The union is
/// associative, so RocksDB may combine operands in any grouping.
pub(crate) fn merge_union(
    _key: &[u8],
    existing: Option<&[u8]>,
    operands: &MergeOperands,
) -> Option<Vec<u8>> {
    let union = Presence::empty();
    for value in existing.into_iter().chain(operands) {
        // RocksDB turns a failed merge into a corruption error on the read.
        union.merge_stored(value).ok()?;
    }
    Some(union.encode_bitmap())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_inserted_hashes_are_present() {
        let p = Presence::empty();
        assert!(!p.may_contain(5));
        p.insert_hashes(&[5, 0x7f_ffff]);
        assert!(p.may_contain(5) && p.may_contain(0x7f_ffff));
        assert!(!p.may_contain(4) && !p.may_contain(6));
        assert_eq!(p.count(), 2);
    }

    #[test]
    fn pair_hashes_map_one_to_one_and_wide_hashes_fold() {
        assert_eq!(Presence::bit(0x7f_ffff), 0x7f_ffff);
        assert_eq!(Presence::bit(12345), 12345);
        // A 32-bit hash lands inside the bitmap, its high bits folded in.
        assert!(Presence::bit(u64::from(u32::MAX)) <= MASK);
        assert_eq!(Presence::bit(0xffff_ffff), (0xffff_ffff ^ 0x1ff) & MASK);
        assert_ne!(Presence::bit(1 << 23), Presence::bit(1 << 24));
        // Wider hashes fold every bit in.
        assert!(Presence::bit(u64::MAX) <= MASK);
        assert_ne!(Presence::bit(1 << 39), Presence::bit(1 << 38));
        assert_ne!(Presence::bit(1 << 50), 0);
    }

    #[test]
    fn new_bits_are_the_unset_ones_once_each() {
        let p = Presence::empty();
        p.insert_hashes(&[10]);
        assert_eq!(p.new_bits([30, 10, 20, 30]), vec![20, 30]);
        p.set_bits(&[20, 30]);
        p.clear_bits(&[20, 30]);
        assert!(p.may_contain(10) && !p.may_contain(20) && !p.may_contain(30));
    }

    #[test]
    fn stored_forms_round_trip() {
        let p = Presence::empty();
        p.insert_hashes(&[1, 64, 1 << 22]);
        let copy = Presence::empty();
        copy.merge_stored(&p.encode_bitmap()).expect("bitmap");
        copy.merge_stored(&encode_bits(&[7])).expect("bits");
        assert!(copy.may_contain(1) && copy.may_contain(64) && copy.may_contain(1 << 22));
        assert!(copy.may_contain(7));
        assert_eq!(copy.count(), 4);
    }

    #[test]
    fn damaged_values_are_errors() {
        let p = Presence::empty();
        for bad in [
            &[][..],
            &[TAG_BITMAP, 0, 0][..],
            &[TAG_BITS, 1, 2][..],
            &[9][..],
        ] {
            assert!(matches!(p.merge_stored(bad), Err(Error::Corrupt(_))));
        }
    }
}
