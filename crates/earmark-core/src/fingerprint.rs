//! The fingerprint value: the peaks of a piece of audio and what they were computed with.

use crate::config::{AnalysisConfig, HashConfig, TICKS_PER_FRAME};
use crate::error::{Error, Result};
use crate::hash::{Landmark, QueryProbes, landmarks, query_probes};
use crate::peaks::{MAX_RANK, Peak};

/// The compact, hash-independent summary of a piece of audio.
///
/// It carries peaks rather than hashes: any hash configuration can be derived from
/// them, so the same fingerprint stays valid when the index moves to a new hash
/// layout. Construction validates: peaks are sorted, unique, inside the analysis band
/// and inside the duration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    analysis_id: u16,
    duration_ms: u32,
    peaks: Vec<Peak>,
}

impl Fingerprint {
    /// Builds a fingerprint after checking every field.
    ///
    /// # Errors
    /// [`Error::UnknownConfig`] for an unknown analysis id, [`Error::InvalidFingerprint`]
    /// for peaks out of order, out of band or past the duration, or a duration over
    /// the configuration's limit.
    pub fn new(analysis_id: u16, duration_ms: u32, peaks: Vec<Peak>) -> Result<Self> {
        let analysis =
            AnalysisConfig::by_id(analysis_id).ok_or(Error::UnknownConfig { id: analysis_id })?;
        let duration_s = f64::from(duration_ms) / 1000.0;
        if duration_s > analysis.max_duration_s {
            return Err(Error::InvalidFingerprint {
                reason: format!(
                    "duration {duration_s} s exceeds the limit of {} s",
                    analysis.max_duration_s
                ),
            });
        }
        // One frame of slack: the last frame may start just before the end.
        let max_tick = (analysis.secs_to_frames(duration_s) + 1) * TICKS_PER_FRAME;
        if let Some(bad) = peaks
            .iter()
            .find(|p| u32::from(p.pitch) >= analysis.pitch_steps())
        {
            return Err(Error::InvalidFingerprint {
                reason: format!(
                    "peak pitch {} outside the analysis band 0..{}",
                    bad.pitch,
                    analysis.pitch_steps()
                ),
            });
        }
        if let Some(bad) = peaks.iter().find(|p| p.rank > MAX_RANK) {
            return Err(Error::InvalidFingerprint {
                reason: format!("peak rank {} above the largest, {MAX_RANK}", bad.rank),
            });
        }
        if let Some(bad) = peaks.iter().find(|p| p.tick > max_tick) {
            return Err(Error::InvalidFingerprint {
                reason: format!("peak tick {} past the end of the audio", bad.tick),
            });
        }
        // By tick and pitch alone: two peaks at one place differing only in their
        // rank have no wire form.
        if peaks
            .windows(2)
            .any(|w| (w[0].tick, w[0].pitch) >= (w[1].tick, w[1].pitch))
        {
            return Err(Error::InvalidFingerprint {
                reason: "peaks are not strictly sorted by tick and pitch".into(),
            });
        }
        Ok(Self {
            analysis_id,
            duration_ms,
            peaks,
        })
    }

    /// Refuses peaks denser than the peak picker ever keeps: at most twice
    /// [`peaks_per_window`](AnalysisConfig::peaks_per_window) in any
    /// [`density_window_frames`](AnalysisConfig::density_window_frames) frames. A
    /// fingerprint from elsewhere (a client's) is checked with it, so that its cost to
    /// match and to store stays what its duration says.
    ///
    /// # Errors
    /// [`Error::InvalidFingerprint`] naming the first window over the limit.
    pub fn check_density(&self) -> Result<()> {
        let analysis = self.analysis();
        let window = analysis.density_window_frames as u32;
        let limit = 2 * analysis.peaks_per_window;
        // Peaks are sorted by frame: the window ending at each peak, by two pointers.
        let mut start = 0;
        for (end, peak) in self.peaks.iter().enumerate() {
            while self.peaks[start].frame() + window <= peak.frame() {
                start += 1;
            }
            if end + 1 - start > limit {
                return Err(Error::InvalidFingerprint {
                    reason: format!(
                        "more than {limit} peaks in the {window} frames up to frame {}: \
                         denser than any audio gives",
                        peak.frame()
                    ),
                });
            }
        }
        Ok(())
    }

    /// The analysis configuration id the peaks were computed with.
    pub fn analysis_id(&self) -> u16 {
        self.analysis_id
    }

    /// The analysis configuration the peaks were computed with.
    pub fn analysis(&self) -> &'static AnalysisConfig {
        // `new` admits only known ids.
        AnalysisConfig::by_id(self.analysis_id).unwrap_or(&AnalysisConfig::V2)
    }

    /// Duration of the audio in milliseconds.
    pub fn duration_ms(&self) -> u32 {
        self.duration_ms
    }

    /// Duration of the audio in seconds.
    pub fn duration_s(&self) -> f64 {
        f64::from(self.duration_ms) / 1000.0
    }

    /// The peaks, sorted by tick then pitch.
    pub fn peaks(&self) -> &[Peak] {
        &self.peaks
    }

    /// True when the audio yielded no peaks (silence, or too short to analyse).
    pub fn is_empty(&self) -> bool {
        self.peaks.is_empty()
    }

    /// Landmarks for indexing a catalog track.
    pub fn catalog_landmarks(&self, config: &HashConfig) -> Vec<Landmark> {
        landmarks(&self.peaks, config)
    }

    /// A query's groups and the keys to look them up under, see
    /// [`query_probes`].
    pub fn query_probes(&self, config: &HashConfig) -> QueryProbes {
        query_probes(&self.peaks, config)
    }

    /// The part of this fingerprint between `start_s` and `start_s + len_s`, re-timed
    /// to start at frame zero: what fingerprinting that excerpt alone approximately
    /// yields. Handy for tests and for splitting long queries.
    pub fn excerpt(&self, start_s: f64, len_s: f64) -> Fingerprint {
        let analysis = self.analysis();
        let first = analysis.secs_to_frames(start_s.max(0.0)) * TICKS_PER_FRAME;
        let last = analysis.secs_to_frames((start_s + len_s).max(0.0)) * TICKS_PER_FRAME;
        let peaks = self
            .peaks
            .iter()
            .filter(|p| p.tick >= first && p.tick < last)
            .map(|p| Peak {
                tick: p.tick - first,
                pitch: p.pitch,
                rank: p.rank,
            })
            .collect();
        let total = self.duration_s();
        let len = (total - start_s.max(0.0)).clamp(0.0, len_s.max(0.0));
        Fingerprint {
            analysis_id: self.analysis_id,
            duration_ms: (len * 1000.0) as u32,
            peaks,
        }
    }
}
