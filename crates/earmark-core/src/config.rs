//! One configuration for the whole pipeline, with a stable id.
//!
//! Two parts matter to compatibility and carry their own version:
//! - the *analysis* part (rate, STFT, peak picking) decides which peaks a piece of
//!   audio yields; its [`AnalysisConfig::id`] travels inside every wire fingerprint,
//!   so a server can refuse peaks computed differently from its catalog;
//! - the *hash* part ([`HashConfig`]) turns peaks into landmark hashes; an index
//!   records the [`HashConfig::id`] it was built with and refuses other ids.
//!
//! Changing any value in a preset is a format change: give it a new id.

use serde::{Deserialize, Serialize};

/// Parameters of decoding, resampling, the spectrogram and peak picking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisConfig {
    /// Identifies this exact set of values on the wire.
    pub id: u16,
    /// Rate every input is resampled to, in Hz.
    pub sample_rate_hz: u32,
    /// STFT window length in samples (a power of two).
    pub fft_size: usize,
    /// STFT hop in samples.
    pub hop: usize,
    /// Lowest frequency bin considered for peaks.
    pub min_bin: u16,
    /// One past the highest frequency bin considered for peaks.
    pub max_bin: u16,
    /// A peak is the maximum of `(2 * neighborhood_frames + 1)` frames ...
    pub neighborhood_frames: usize,
    /// ... by `(2 * neighborhood_bins + 1)` bins around it.
    pub neighborhood_bins: usize,
    /// Peaks kept in any window of `density_window_frames` frames, the strongest first.
    /// This rank-based cap is what makes density independent of loudness.
    pub peaks_per_window: usize,
    /// Width of the sliding window over which `peaks_per_window` applies.
    pub density_window_frames: usize,
    /// Absolute floor in dB relative to a full-scale sine; below it nothing is a peak,
    /// so digital silence yields no landmarks.
    pub floor_db: f32,
    /// Longest audio accepted, in seconds; longer input is an error rather than an
    /// unbounded amount of work.
    pub max_duration_s: f64,
}

impl AnalysisConfig {
    /// The analysis used by catalog and queries alike by every hash configuration.
    ///
    /// 8 kHz keeps the band that survives telephone and low-bitrate codecs (up to 4 kHz)
    /// and makes resampling and FFTs cheap; a 1024-sample window (128 ms, 7.8 Hz bins)
    /// resolves musical partials; a 256-sample hop (32 ms) is fine enough for offsets
    /// well inside 0.5 s and coarse enough that small speed changes keep `dt`.
    pub const V1: AnalysisConfig = AnalysisConfig {
        id: 1,
        sample_rate_hz: 8_000,
        fft_size: 1024,
        hop: 256,
        min_bin: 32,  // 250 Hz
        max_bin: 496, // 3875 Hz
        neighborhood_frames: 4,
        neighborhood_bins: 10,
        peaks_per_window: 24,
        density_window_frames: 31, // ~1 s
        floor_db: -90.0,
        max_duration_s: 6.0 * 3600.0,
    };

    /// Seconds per STFT frame.
    pub fn frame_duration_s(&self) -> f64 {
        self.hop as f64 / f64::from(self.sample_rate_hz)
    }

    /// Number of non-negative frequency bins of the real FFT.
    pub fn bins(&self) -> usize {
        self.fft_size / 2 + 1
    }

    /// Frame index to seconds.
    pub fn frames_to_secs(&self, frames: f64) -> f64 {
        frames * self.frame_duration_s()
    }

    /// Seconds to the nearest frame index (saturating at zero).
    pub fn secs_to_frames(&self, secs: f64) -> u32 {
        (secs / self.frame_duration_s())
            .round()
            .clamp(0.0, f64::from(u32::MAX)) as u32
    }

    /// Looks up a known analysis configuration by its wire id.
    pub fn by_id(id: u16) -> Option<&'static AnalysisConfig> {
        [&Self::V1].into_iter().find(|c| c.id == id)
    }
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self::V1
    }
}

/// How peaks become landmark hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum HashScheme {
    /// Anchor frequency, frequency difference and time difference of a peak pair.
    /// Exact in time and frequency, so it does not survive speed or pitch changes.
    PairV1,
    /// An anchor and two of its targets: the anchor frequency and both targets'
    /// frequency and time differences, mixed into `bits` bits (at most 64). Far fewer
    /// tracks share a triplet than a pair, so a query's lookups return far fewer
    /// postings in a large catalog; a triplet needs three peaks to survive instead of
    /// two. Exact in time and frequency, like [`HashScheme::PairV1`].
    TripletV1 {
        /// Width of the hash values: fewer bits let more postings share a key (a
        /// smaller index), more bits let fewer tracks share a hash (fewer votes).
        bits: u8,
    },
}

/// Parameters of landmark hashing. Indexes name theirs by id; users by name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HashConfig {
    /// Identifies the layout of the hashes; an index stores it and refuses others.
    pub id: u16,
    /// What users call it, for what it is for (`robust`, `compact`, `large-catalog`).
    pub name: &'static str,
    /// The analysis these hashes are derived from.
    pub analysis_id: u16,
    /// The hash layout.
    pub scheme: HashScheme,
    /// Targets paired with each anchor when indexing a catalog track.
    pub fan_out: usize,
    /// Targets paired with each anchor in a query. Larger than `fan_out`: a noisy
    /// query has extra peaks between an anchor and its catalog targets, and pairing
    /// further keeps those targets in reach at query-time cost only.
    pub query_fan_out: usize,
    /// Smallest anchor-to-target distance in frames (inclusive).
    pub min_dt: u32,
    /// Largest anchor-to-target distance in frames (inclusive, below 64).
    pub max_dt: u32,
    /// Largest absolute frequency difference in bins (below 128).
    pub max_df: u16,
}

impl HashConfig {
    /// `robust`, the default: peak pairs, six per catalog anchor. The strongest in
    /// heavy noise and on short excerpts; a query touches many postings, so lookups
    /// slow down as a catalog grows past tens of thousands of tracks.
    pub const ROBUST: HashConfig = HashConfig {
        id: 1,
        name: "robust",
        analysis_id: 1,
        scheme: HashScheme::PairV1,
        fan_out: 6,
        query_fan_out: 12,
        min_dt: 1,
        max_dt: 63,
        max_df: 127,
    };

    /// `compact`: the robust pairs with half the catalog fan-out and a narrower query
    /// fan-out. Half the index size (under 2 MB per hour of audio) and half the lookup
    /// work, at some cost in heavy noise and on very short excerpts; the matcher's
    /// thresholds are calibrated for it (see `earmark_index::MatchConfig::for_hash`).
    pub const COMPACT: HashConfig = HashConfig {
        id: 2,
        name: "compact",
        analysis_id: 1,
        scheme: HashScheme::PairV1,
        fan_out: 3,
        query_fan_out: 8,
        min_dt: 1,
        max_dt: 63,
        max_df: 127,
    };

    /// `large-catalog`: triplets in 40 bits, for catalogs of 100,000 tracks and more.
    /// Each catalog anchor forms a triplet with every two of its next 3 targets, each
    /// query anchor with every two of its next 6. Far fewer tracks share a triplet
    /// than a pair, so a query's lookups return far fewer postings; spread over 2^40
    /// values, a catalog of 100,000 tracks (1.45 billion triplets) uses about 0.1 % of
    /// them, so lookups of a query's absent triplets rarely find another track's. A
    /// triplet needs three peaks to survive noise where a pair needs two, so it is
    /// weaker in heavy noise.
    pub const LARGE_CATALOG: HashConfig = HashConfig {
        id: 4,
        name: "large-catalog",
        analysis_id: 1,
        scheme: HashScheme::TripletV1 { bits: 40 },
        fan_out: 3,
        query_fan_out: 6,
        min_dt: 1,
        max_dt: 63,
        max_df: 127,
    };

    /// Every configuration this release has. Ids are never reused: an index stores
    /// its id, and an index of a retired one (3, triplets in 32 bits, which
    /// `large-catalog` replaced) is refused and rebuilt.
    pub const ALL: [&'static HashConfig; 3] = [&Self::ROBUST, &Self::COMPACT, &Self::LARGE_CATALOG];

    /// Looks up a configuration by its id.
    pub fn by_id(id: u16) -> Option<&'static HashConfig> {
        Self::ALL.into_iter().find(|c| c.id == id)
    }

    /// The name of the configuration `id`, for messages; the id itself for one this
    /// release does not have (a retired one).
    pub fn name_of(id: u16) -> String {
        Self::by_id(id).map_or_else(|| id.to_string(), |c| c.name.to_owned())
    }

    /// Looks up a configuration by its name.
    pub fn by_name(name: &str) -> Option<&'static HashConfig> {
        Self::ALL.into_iter().find(|c| c.name == name)
    }

    /// Width of the hash values: every [`Landmark::hash`](crate::Landmark::hash) is
    /// below 2^`hash_bits` (pairs take 23 bits).
    pub fn hash_bits(&self) -> u32 {
        match self.scheme {
            HashScheme::PairV1 => 23,
            HashScheme::TripletV1 { bits } => u32::from(bits.clamp(1, 64)),
        }
    }
}

/// New indexes are built with [`HashConfig::ROBUST`] unless another is asked for;
/// existing ones keep the configuration they were built with.
impl Default for HashConfig {
    fn default() -> Self {
        Self::ROBUST
    }
}

/// Whether the scalar reference kernels or the fast ones compute the spectrogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Kernel {
    /// The fast kernel (the default).
    #[default]
    Fast,
    /// The exact scalar reference, for tests and comparisons.
    Scalar,
}

/// Everything the fingerprinter needs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FingerprintConfig {
    /// Decode, spectrogram and peak parameters.
    pub analysis: AnalysisConfig,
    /// Which spectrogram kernel to run.
    pub kernel: Kernel,
    /// Longest audio decoded, in seconds, when lower than the analysis's own limit
    /// (`None`: the analysis's [`max_duration_s`](AnalysisConfig::max_duration_s)). A
    /// service bounds each request's work with it.
    #[serde(default)]
    pub max_duration_s: Option<f64>,
}

impl FingerprintConfig {
    /// The longest audio decoded, in seconds.
    pub fn max_duration_s(&self) -> f64 {
        self.max_duration_s
            .filter(|s| *s >= 0.0)
            .map_or(self.analysis.max_duration_s, |s| {
                s.min(self.analysis.max_duration_s)
            })
    }
}
