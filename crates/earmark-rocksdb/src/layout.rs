//! The on-disk layout: column families, key encodings, metadata and packed hash lists.
//!
//! Changing anything here (or the postings value format) bumps [`FORMAT_VERSION`]; the
//! golden test in `tests/golden.rs` fails until it does.

use earmark_core::varint;
use earmark_index::posting;
use earmark_index::{TrackId, TrackRecord};

use crate::error::{Error, Result};

/// Version of the layout below. An index of another version is refused: one of an
/// earlier version is rebuilt with `earmark ingest`, never migrated.
pub const FORMAT_VERSION: u32 = 8;

/// Format version, hash configuration id, counters and the presence bitmap, under the
/// `META_*` keys.
pub(crate) const CF_META: &str = "meta";
/// Bucket of a hash (the hash without its low [`posting::RESIDUAL_BITS`] bits,
/// big-endian, as wide as [`bucket_key_width`] says) -> the postings of the bucket's
/// hashes as [`earmark_index::posting`] codes them, grown by a merge that codes the
/// value again with the new tracks' operands in ([`earmark_index::posting::merge`]).
pub(crate) const CF_POSTINGS: &str = "packed_postings";
/// The postings families of the layouts before this one (1-3 and 4): a database with
/// one of them is an index of an earlier release, to be rebuilt.
pub(crate) const OUTDATED_POSTINGS_CFS: [&str; 2] = ["postings", "sorted_postings"];
/// Track id -> [`TrackRecord`] as JSON.
pub(crate) const CF_TRACKS: &str = "tracks";
/// Track idx (u32 big-endian) -> track id.
pub(crate) const CF_TRACK_IDX: &str = "track_idx";
/// Track idx (u32 big-endian) -> what a delete needs to find the track's hashes: a
/// tag byte, then the track's fingerprint in its wire form
/// ([`TRACK_HASHES_FINGERPRINT`]) or its distinct hashes ([`TRACK_HASHES_PACKED`]).
pub(crate) const CF_TRACK_HASHES: &str = "track_hashes";

/// Tag of a `track_hashes` value holding the track's distinct hashes, ascending, as
/// varint deltas ([`pack_hashes`]).
pub(crate) const TRACK_HASHES_PACKED: u8 = 0;
/// Tag of a `track_hashes` value holding the fingerprint the track's landmarks come
/// from: about a third of the bytes of its hashes (0.21 against 0.63 MB per hour of
/// audio with the robust pairs), and a delete recomputes them. The tag is followed by
/// the CRC-32 (little-endian) of the hashes packed as [`pack_hashes`] does, which a
/// delete checks the recomputed hashes against, then the fingerprint's wire form.
pub(crate) const TRACK_HASHES_FINGERPRINT: u8 = 1;

/// Content hash (SHA-256 hex, 64 bytes) then track idx (u32 big-endian) -> track id:
/// one entry per track, so that tracks made from the same file never hide one another
/// ([`content_key`]).
pub(crate) const CF_CONTENT: &str = "content";

/// The key of a track's entry in `content`.
pub(crate) fn content_key(content_hash: &str, idx: u32) -> Vec<u8> {
    let mut key = Vec::with_capacity(content_hash.len() + 4);
    key.extend_from_slice(content_hash.as_bytes());
    key.extend_from_slice(&idx.to_be_bytes());
    key
}

/// Prefix of the `meta` keys holding a rights holder's usage: the prefix, then the
/// holder's name as UTF-8 -> [`HolderCounts`].
pub(crate) const META_HOLDER_PREFIX: &[u8] = b"holder/";

/// The `meta` key of `holder`'s usage.
pub(crate) fn holder_key(holder: &str) -> Vec<u8> {
    [META_HOLDER_PREFIX, holder.as_bytes()].concat()
}

/// A rights holder's tracks, postings and duration (microseconds), each u64
/// big-endian; updated in the batch of every write that changes them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct HolderCounts {
    pub tracks: u64,
    pub postings: u64,
    pub duration_us: u64,
}

impl HolderCounts {
    /// The counts from their stored value.
    pub fn decode(value: &[u8]) -> Result<Self> {
        let field = |i: usize| -> Result<u64> {
            Ok(u64::from_be_bytes(fixed(
                value.get(i * 8..i * 8 + 8),
                "holder usage",
            )?))
        };
        if value.len() != 24 {
            return Err(Error::Corrupt(format!(
                "holder usage has {} bytes, not 24",
                value.len()
            )));
        }
        Ok(Self {
            tracks: field(0)?,
            postings: field(1)?,
            duration_us: field(2)?,
        })
    }

    /// The stored value.
    pub fn encode(&self) -> [u8; 24] {
        let mut out = [0u8; 24];
        out[..8].copy_from_slice(&self.tracks.to_be_bytes());
        out[8..16].copy_from_slice(&self.postings.to_be_bytes());
        out[16..].copy_from_slice(&self.duration_us.to_be_bytes());
        out
    }
}

/// Every column family of an index.
pub(crate) const ALL_CFS: [&str; 6] = [
    CF_META,
    CF_POSTINGS,
    CF_TRACKS,
    CF_TRACK_IDX,
    CF_TRACK_HASHES,
    CF_CONTENT,
];

/// u32 big-endian.
pub(crate) const META_FORMAT_VERSION: &[u8] = b"format_version";
/// u16 big-endian.
pub(crate) const META_HASH_CONFIG_ID: &[u8] = b"hash_config_id";
/// u32 big-endian: the idx the next track gets.
pub(crate) const META_NEXT_IDX: &[u8] = b"next_idx";
/// u64 big-endian: tracks stored.
pub(crate) const META_TRACKS: &[u8] = b"tracks";
/// u64 big-endian: postings stored.
pub(crate) const META_POSTINGS: &[u8] = b"postings";
/// The bitmap of hash values with postings ([`crate::presence`]), grown by merges.
pub(crate) const META_PRESENCE: &[u8] = b"presence";
/// u64 big-endian: total duration in microseconds (an integer, so that deleting a
/// track subtracts exactly what adding it added).
pub(crate) const META_DURATION_US: &[u8] = b"duration_us";

/// The counters in `meta` that every track write updates in its batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    pub next_idx: u32,
    pub tracks: u64,
    pub postings: u64,
    pub duration_us: u64,
}

impl Counters {
    /// The keys in the order [`Counters::decode`] expects their values.
    pub const KEYS: [&'static [u8]; 4] =
        [META_NEXT_IDX, META_TRACKS, META_POSTINGS, META_DURATION_US];

    /// The counters from the values of [`Counters::KEYS`].
    pub fn decode(values: &[Option<Vec<u8>>; 4]) -> Result<Self> {
        let [next_idx, tracks, postings, duration_us] = values;
        Ok(Self {
            next_idx: u32::from_be_bytes(fixed(next_idx.as_deref(), "next_idx")?),
            tracks: u64::from_be_bytes(fixed(tracks.as_deref(), "tracks")?),
            postings: u64::from_be_bytes(fixed(postings.as_deref(), "postings")?),
            duration_us: u64::from_be_bytes(fixed(duration_us.as_deref(), "duration_us")?),
        })
    }

    /// `(key, value)` pairs to write.
    pub fn encode(&self) -> [(&'static [u8], Vec<u8>); 4] {
        [
            (META_NEXT_IDX, self.next_idx.to_be_bytes().to_vec()),
            (META_TRACKS, self.tracks.to_be_bytes().to_vec()),
            (META_POSTINGS, self.postings.to_be_bytes().to_vec()),
            (META_DURATION_US, self.duration_us.to_be_bytes().to_vec()),
        ]
    }
}

/// A fixed-size big-endian field of `meta`.
pub(crate) fn fixed<const N: usize>(value: Option<&[u8]>, name: &str) -> Result<[u8; N]> {
    let value = value.ok_or_else(|| Error::Corrupt(format!("metadata {name} missing")))?;
    value.try_into().map_err(|_| {
        Error::Corrupt(format!(
            "metadata {name} has {} bytes, not {N}",
            value.len()
        ))
    })
}

/// A duration as whole microseconds; callers validate it first.
pub(crate) fn duration_us(duration_s: f64) -> u64 {
    // `as` saturates, so no input can wrap.
    (duration_s * 1e6).round() as u64
}

/// The key of a track idx in `track_idx` and `track_hashes`.
pub(crate) fn idx_key(idx: u32) -> [u8; 4] {
    idx.to_be_bytes()
}

/// Bytes of a postings key for hashes of `hash_bits` bits: as many as their bucket
/// numbers need (3 for 40-bit hashes).
pub(crate) fn bucket_key_width(hash_bits: u32) -> usize {
    (hash_bits.clamp(8, 64) - posting::RESIDUAL_BITS)
        .max(8)
        .div_ceil(8) as usize
}

/// The key of a hash's bucket in `postings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BucketKey {
    bytes: [u8; 8],
    width: usize,
}

impl BucketKey {
    /// The bucket's number: the hash without its residual.
    pub(crate) fn number(&self) -> u64 {
        u64::from_be_bytes(self.bytes)
    }
}

impl AsRef<[u8]> for BucketKey {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[8 - self.width..]
    }
}

/// The key of a hash's bucket in `postings` and the hash's residual in it: the
/// bucket's low `width` bytes, big-endian, so keys sort as the hashes do; `None` for
/// a hash too wide for the keys (no such hash is stored).
pub(crate) fn bucket_key(hash: u64, width: usize) -> Option<(BucketKey, u16)> {
    let width = width.clamp(1, 6);
    let (bucket, residual) = posting::split_hash(hash);
    (bucket >> (8 * width) == 0).then(|| {
        (
            BucketKey {
                bytes: bucket.to_be_bytes(),
                width,
            },
            residual,
        )
    })
}

/// The bucket number of a `postings` key.
#[cfg(test)]
pub(crate) fn bucket_of_key(key: &[u8]) -> Result<u64> {
    if key.is_empty() || key.len() > 6 {
        return Err(Error::Corrupt(format!(
            "posting key of {} bytes",
            key.len()
        )));
    }
    Ok(key.iter().fold(0u64, |h, &b| (h << 8) | u64::from(b)))
}

/// A record as stored in `tracks`.
pub(crate) fn encode_record(record: &TrackRecord) -> Result<Vec<u8>> {
    serde_json::to_vec(record).map_err(Error::Encode)
}

/// A record read from `tracks`.
pub(crate) fn decode_record(bytes: &[u8]) -> Result<TrackRecord> {
    serde_json::from_slice(bytes).map_err(|e| Error::Corrupt(format!("track record: {e}")))
}

/// A track id read from `track_idx` or `content`.
pub(crate) fn decode_id(bytes: &[u8]) -> Result<TrackId> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| Error::Corrupt("track id is not UTF-8".into()))?;
    TrackId::new(text).map_err(|e| Error::Corrupt(format!("stored track id: {e}")))
}

/// Packs ascending distinct hashes as varint deltas: hashes of one track are spread
/// over the hash space, so a delta takes about 3 bytes instead of 4, and less as
/// tracks get longer.
pub(crate) fn pack_hashes(hashes: impl IntoIterator<Item = u64>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut prev = 0u64;
    for h in hashes {
        varint::put(&mut out, h.wrapping_sub(prev));
        prev = h;
    }
    out
}

/// The hashes of [`pack_hashes`].
///
/// # Errors
/// [`Error::Corrupt`] on a truncated or overlong varint.
pub(crate) fn unpack_hashes(bytes: &[u8]) -> Result<Vec<u64>> {
    let mut out = Vec::with_capacity(bytes.len() / 2);
    let mut prev = 0u64;
    let mut pos = 0;
    while pos < bytes.len() {
        let delta = varint::read_u64(bytes, &mut pos)
            .map_err(|e| Error::Corrupt(format!("hash list: {e}")))?;
        prev = prev.wrapping_add(delta);
        out.push(prev);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_lists_round_trip() {
        let hashes = vec![
            0,
            1,
            127,
            128,
            300,
            70_000,
            0x7fff_ffff,
            1 << 32,
            1 << 40,
            u64::MAX,
        ];
        let packed = pack_hashes(hashes.iter().copied());
        assert_eq!(unpack_hashes(&packed).expect("valid"), hashes);
        assert!(unpack_hashes(&[]).expect("valid").is_empty());
    }

    #[test]
    fn hash_lists_of_32_bit_hashes_keep_their_bytes() {
        // The CRC of a track's stored list guards its delete: the bytes must not change.
        let packed = pack_hashes([5, 300, 0xffff_ffff]);
        assert_eq!(packed, [5, 0xa7, 0x02, 0xd3, 0xfd, 0xff, 0xff, 0x0f]);
    }

    #[test]
    fn bucket_keys_are_as_wide_as_the_configuration_needs() {
        assert_eq!(bucket_key_width(23), 1);
        assert_eq!(bucket_key_width(32), 2);
        assert_eq!(bucket_key_width(40), 3);
        assert_eq!(bucket_key_width(64), 6);
        let (key, residual) = bucket_key(0x12_3456_789a, 3).expect("fits");
        assert_eq!(key.as_ref(), [0x12, 0x34, 0x56]);
        assert_eq!(residual, 0x789a);
        assert_eq!(bucket_of_key(key.as_ref()).expect("valid"), 0x12_3456);
        assert_eq!(key.number(), 0x12_3456);
        assert!(bucket_key(1 << 40, 3).is_none());
        assert!(bucket_key(u64::MAX, 6).is_some());
        assert!(bucket_of_key(&[]).is_err());
        assert!(bucket_of_key(&[1; 7]).is_err());
    }

    #[test]
    fn damaged_hash_lists_are_errors() {
        assert!(matches!(unpack_hashes(&[0x80]), Err(Error::Corrupt(_))));
        let mut eleven = [0xff; 11];
        eleven[10] = 0x01;
        assert!(matches!(unpack_hashes(&eleven), Err(Error::Corrupt(_))));
        let mut beyond_64_bits = [0xff; 10];
        beyond_64_bits[9] = 0x02;
        assert!(matches!(
            unpack_hashes(&beyond_64_bits),
            Err(Error::Corrupt(_))
        ));
    }

    #[test]
    fn counters_round_trip() {
        let c = Counters {
            next_idx: 7,
            tracks: 3,
            postings: 1 << 40,
            duration_us: 12_345,
        };
        let values = c.encode().map(|(_, v)| Some(v));
        assert_eq!(Counters::decode(&values).expect("valid"), c);
        let mut short = values.clone();
        short[1] = Some(vec![1, 2]);
        assert!(matches!(Counters::decode(&short), Err(Error::Corrupt(_))));
    }

    #[test]
    fn keys_sort_as_numbers() {
        let key = |hash, width| bucket_key(hash, width).expect("fits").0.as_ref().to_vec();
        for width in [3, 6] {
            assert!(key(255 << 16, width) < key(256 << 16, width));
            assert!(key(0xff_ffff_ffff, width) > key(0xfe_ffff_ffff, width));
        }
        assert_eq!(key(0x12_3456_0000, 3), key(0x12_3456_ffff, 3), "one bucket");
        assert!(idx_key(1) < idx_key(0x0100_0000));
    }
}
