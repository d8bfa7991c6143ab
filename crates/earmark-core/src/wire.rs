//! The fingerprint's wire forms: compact bytes and JSON.
//!
//! Bytes, format version 3 (all integers little-endian or LEB128 varints):
//!
//! | field | size |
//! |---|---|
//! | magic `EMFP` | 4 |
//! | format version | 1 |
//! | analysis config id | u16 |
//! | duration in ms | varint |
//! | peak count | varint |
//! | per peak: tick delta, then sixteen times the pitch (from zero on a new tick, or from the previous pitch plus one within a tick) plus the peak's rank | varint, varint |
//! | CRC-32 of everything above | u32 |
//!
//! A minute of audio takes about 5 KB. Older versions are refused: version 2 marked
//! each peak only strong or not, too little for a catalog to choose among its groups,
//! and version 1 carried peaks in whole frames and bins, too coarse for hashes that
//! survive speed and pitch changes. Decoding checks the size, magic, version, checksum,
//! every count against the bytes that remain (nothing is allocated from an unchecked
//! count) and, through [`Fingerprint::new`], every value.

use serde::{Deserialize, Serialize};

use crate::config::AnalysisConfig;
use crate::error::{Error, Result};
use crate::fingerprint::Fingerprint;
use crate::peaks::{MAX_RANK, Peak};

/// Bits of a peak's rank in its coded pitch.
const RANK_BITS: u32 = 4;
use crate::varint::{self, VarintError};

/// First bytes of every binary fingerprint.
pub const MAGIC: &[u8; 4] = b"EMFP";
/// The binary and JSON format version this build writes and reads.
pub const FORMAT_VERSION: u8 = 3;
/// The largest binary fingerprint accepted: a six-hour file needs about 1.9 MB.
pub const MAX_WIRE_BYTES: usize = 4 << 20;
/// The `format` field of the JSON form.
pub const JSON_FORMAT: &str = "earmark-fingerprint";

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn varint(&mut self, max: u64) -> Result<u64> {
        let v = varint::read_u64(self.bytes, &mut self.pos).map_err(|e| match e {
            VarintError::Truncated => Error::Truncated,
            VarintError::TooLong | VarintError::Overflow => Error::InvalidFingerprint {
                reason: e.to_string(),
            },
        })?;
        if v > max {
            return Err(Error::InvalidFingerprint {
                reason: format!("value {v} out of range (max {max})"),
            });
        }
        Ok(v)
    }
}

impl Fingerprint {
    /// Encodes to the compact binary form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + 3 * self.peaks().len());
        out.extend_from_slice(MAGIC);
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&self.analysis_id().to_le_bytes());
        varint::put(&mut out, u64::from(self.duration_ms()));
        varint::put(&mut out, self.peaks().len() as u64);
        let mut prev: Option<Peak> = None;
        for p in self.peaks() {
            let (dtick, dpitch) = match prev {
                Some(q) if q.tick == p.tick => (0, p.pitch - q.pitch - 1),
                Some(q) => (p.tick - q.tick, p.pitch),
                None => (p.tick, p.pitch),
            };
            varint::put(&mut out, u64::from(dtick));
            varint::put(
                &mut out,
                (u64::from(dpitch) << RANK_BITS) | u64::from(p.rank),
            );
            prev = Some(*p);
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes and validates the binary form.
    ///
    /// # Errors
    /// [`Error::TooLarge`], [`Error::BadMagic`], [`Error::UnsupportedVersion`],
    /// [`Error::Truncated`], [`Error::Checksum`], [`Error::UnknownConfig`] or
    /// [`Error::InvalidFingerprint`], whichever check fails first, in that order.
    pub fn from_bytes(bytes: &[u8]) -> Result<Fingerprint> {
        if bytes.len() > MAX_WIRE_BYTES {
            return Err(Error::TooLarge {
                size: bytes.len(),
                limit: MAX_WIRE_BYTES,
            });
        }
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(if MAGIC.starts_with(bytes) {
                Error::Truncated
            } else {
                Error::BadMagic
            });
        }
        let version = *bytes.get(4).ok_or(Error::Truncated)?;
        if version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                found: u32::from(version),
                supported: u32::from(FORMAT_VERSION),
            });
        }
        // Magic, version, id and checksum at the least.
        if bytes.len() < 4 + 1 + 2 + 4 {
            return Err(Error::Truncated);
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
        if crc32fast::hash(body) != stored {
            return Err(Error::Checksum);
        }
        let analysis_id = u16::from_le_bytes([body[5], body[6]]);
        AnalysisConfig::by_id(analysis_id).ok_or(Error::UnknownConfig { id: analysis_id })?;
        let mut r = Reader {
            bytes: body,
            pos: 7,
        };
        let duration_ms = r.varint(u64::from(u32::MAX))? as u32;
        let count = r.varint(u64::from(u32::MAX))? as usize;
        // Every peak takes at least two bytes: a count beyond that is a lie.
        if count > r.remaining() / 2 {
            return Err(Error::Truncated);
        }
        let mut peaks = Vec::with_capacity(count);
        let mut prev: Option<Peak> = None;
        for _ in 0..count {
            let dtick = r.varint(u64::from(u32::MAX))? as u32;
            let coded = r.varint((u64::from(u16::MAX) << RANK_BITS) | u64::from(MAX_RANK))?;
            let (dpitch, rank) = ((coded >> RANK_BITS) as u16, (coded as u8) & MAX_RANK);
            let invalid = || Error::InvalidFingerprint {
                reason: "peak position overflows".into(),
            };
            let peak = match prev {
                Some(q) if dtick == 0 => Peak {
                    tick: q.tick,
                    pitch: q
                        .pitch
                        .checked_add(dpitch)
                        .and_then(|b| b.checked_add(1))
                        .ok_or_else(invalid)?,
                    rank,
                },
                Some(q) => Peak {
                    tick: q.tick.checked_add(dtick).ok_or_else(invalid)?,
                    pitch: dpitch,
                    rank,
                },
                None => Peak {
                    tick: dtick,
                    pitch: dpitch,
                    rank,
                },
            };
            peaks.push(peak);
            prev = Some(peak);
        }
        if r.remaining() != 0 {
            return Err(Error::InvalidFingerprint {
                reason: format!("{} unexpected bytes after the peaks", r.remaining()),
            });
        }
        Fingerprint::new(analysis_id, duration_ms, peaks)
    }

    /// Encodes to the JSON form.
    pub fn to_json(&self) -> String {
        let json = FingerprintJson {
            format: JSON_FORMAT.to_owned(),
            version: u32::from(FORMAT_VERSION),
            analysis_id: self.analysis_id(),
            duration_ms: self.duration_ms(),
            peaks: self
                .peaks()
                .iter()
                .map(|p| (p.tick, p.pitch, p.rank))
                .collect(),
        };
        // Serialising plain integers and strings cannot fail.
        serde_json::to_string(&json).unwrap_or_default()
    }

    /// Decodes and validates the JSON form.
    ///
    /// # Errors
    /// [`Error::TooLarge`], [`Error::Json`] for malformed JSON, [`Error::InvalidFingerprint`]
    /// for a wrong `format`, [`Error::UnsupportedVersion`], then as [`Fingerprint::new`].
    pub fn from_json(text: &str) -> Result<Fingerprint> {
        // JSON spends about 13 bytes a peak where the binary form spends 3.
        if text.len() > 5 * MAX_WIRE_BYTES {
            return Err(Error::TooLarge {
                size: text.len(),
                limit: 5 * MAX_WIRE_BYTES,
            });
        }
        let json: FingerprintJson = serde_json::from_str(text)?;
        if json.format != JSON_FORMAT {
            return Err(Error::InvalidFingerprint {
                reason: format!("format is {:?}, expected {JSON_FORMAT:?}", json.format),
            });
        }
        if json.version != u32::from(FORMAT_VERSION) {
            return Err(Error::UnsupportedVersion {
                found: json.version,
                supported: u32::from(FORMAT_VERSION),
            });
        }
        let peaks = json
            .peaks
            .into_iter()
            .map(|(tick, pitch, rank)| Peak { tick, pitch, rank })
            .collect();
        Fingerprint::new(json.analysis_id, json.duration_ms, peaks)
    }
}

/// The JSON form, field for field.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FingerprintJson {
    format: String,
    version: u32,
    analysis_id: u16,
    duration_ms: u32,
    /// `[tick, pitch, rank]`.
    peaks: Vec<(u32, u16, u8)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TICKS_PER_FRAME;

    fn sample() -> Fingerprint {
        let peaks = [
            (0, 40, 0),
            (0, 41, 3),
            (0, 1300, 11),
            (117, 0, MAX_RANK),
            (3200, 3000, 7),
        ]
        .map(|(tick, pitch, rank)| Peak { tick, pitch, rank })
        .to_vec();
        Fingerprint::new(2, 10_000, peaks).expect("valid")
    }

    #[test]
    fn peaks_denser_than_any_audio_are_refused() {
        let analysis = AnalysisConfig::V2;
        // A peak every eighth of a semitone in every frame for ten seconds: what a
        // hostile client could send.
        let frames = analysis.secs_to_frames(10.0);
        let dense: Vec<Peak> = (0..frames)
            .flat_map(|frame| {
                (0..analysis.pitch_steps() as u16)
                    .step_by(8)
                    .map(move |pitch| Peak {
                        tick: frame * TICKS_PER_FRAME,
                        pitch,
                        rank: 0,
                    })
            })
            .collect();
        let fp = Fingerprint::new(analysis.id, 10_000, dense).expect("well-formed");
        let refused = Fingerprint::from_bytes(&fp.to_bytes())
            .expect("decodes")
            .check_density();
        assert!(
            matches!(&refused, Err(Error::InvalidFingerprint { reason }) if reason.contains("denser")),
            "{refused:?}"
        );
        // Exactly the picker's bound passes.
        let window = analysis.density_window_frames as u32;
        let limit = 2 * analysis.peaks_per_window as u16;
        let at_limit: Vec<Peak> = (0..frames)
            .step_by(window as usize)
            .flat_map(|frame| {
                (0..limit).map(move |i| Peak {
                    tick: frame * TICKS_PER_FRAME,
                    pitch: 10 * i,
                    rank: 0,
                })
            })
            .collect();
        let ok = Fingerprint::new(analysis.id, 10_000, at_limit).expect("well-formed");
        assert!(ok.check_density().is_ok());
    }

    #[test]
    fn bytes_round_trip() {
        let fp = sample();
        assert_eq!(
            Fingerprint::from_bytes(&fp.to_bytes()).expect("decodes"),
            fp
        );
    }

    #[test]
    fn json_round_trip() {
        let fp = sample();
        assert_eq!(Fingerprint::from_json(&fp.to_json()).expect("decodes"), fp);
    }

    #[test]
    fn each_damage_has_its_error() {
        let good = sample().to_bytes();
        assert!(matches!(
            Fingerprint::from_bytes(b""),
            Err(Error::Truncated)
        ));
        assert!(matches!(
            Fingerprint::from_bytes(b"EMF"),
            Err(Error::Truncated)
        ));
        assert!(matches!(
            Fingerprint::from_bytes(b"RIFF...."),
            Err(Error::BadMagic)
        ));
        for old in [1, 2] {
            let mut bytes = good.clone();
            bytes[4] = old;
            assert!(matches!(
                Fingerprint::from_bytes(&bytes),
                Err(Error::UnsupportedVersion { found, .. }) if found == u32::from(old)
            ));
        }
        assert!(matches!(
            Fingerprint::from_bytes(&good[..good.len() - 3]),
            Err(Error::Checksum)
        ));
        let mut flipped = good.clone();
        flipped[9] ^= 0x10;
        assert!(matches!(
            Fingerprint::from_bytes(&flipped),
            Err(Error::Checksum)
        ));
        let huge = vec![0u8; MAX_WIRE_BYTES + 1];
        assert!(matches!(
            Fingerprint::from_bytes(&huge),
            Err(Error::TooLarge { .. })
        ));
    }

    #[test]
    fn a_valid_checksum_over_bad_content_is_still_rejected() {
        // Unknown analysis id, re-checksummed.
        let mut bytes = sample().to_bytes();
        bytes.truncate(bytes.len() - 4);
        bytes[5] = 99;
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        assert!(matches!(
            Fingerprint::from_bytes(&bytes),
            Err(Error::UnknownConfig { id: 99 })
        ));
    }

    #[test]
    fn json_rejects_bad_fields() {
        let fp = sample().to_json();
        assert!(matches!(Fingerprint::from_json("{"), Err(Error::Json(_))));
        let wrong_format = fp.replace(JSON_FORMAT, "other");
        assert!(matches!(
            Fingerprint::from_json(&wrong_format),
            Err(Error::InvalidFingerprint { .. })
        ));
        let out_of_band = fp.replace("[3200,3000,", "[3200,9999,");
        assert!(matches!(
            Fingerprint::from_json(&out_of_band),
            Err(Error::InvalidFingerprint { .. })
        ));
        let unsorted = fp.replace("[3200,3000,", "[0,33,");
        assert!(matches!(
            Fingerprint::from_json(&unsorted),
            Err(Error::InvalidFingerprint { .. })
        ));
        let past_end = fp.replace("[3200,3000,", "[90000,3000,");
        assert!(matches!(
            Fingerprint::from_json(&past_end),
            Err(Error::InvalidFingerprint { .. })
        ));
        // Two peaks at one tick and pitch, differing only in rank, have no wire form:
        // refused, not encoded into bytes that do not decode.
        let twins = fp.replace("[0,41,3]", "[0,40,3]");
        assert!(twins.contains("[0,40,0],[0,40,3]"), "{twins}");
        assert!(matches!(
            Fingerprint::from_json(&twins),
            Err(Error::InvalidFingerprint { .. })
        ));
        let bad_rank = fp.replace("[3200,3000,7]", "[3200,3000,16]");
        assert_ne!(bad_rank, fp);
        assert!(matches!(
            Fingerprint::from_json(&bad_rank),
            Err(Error::InvalidFingerprint { reason }) if reason.contains("rank")
        ));
    }
}
