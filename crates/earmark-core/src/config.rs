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

/// Fractions of a frame in a peak's time ([`Peak::tick`](crate::Peak::tick)).
pub const TICKS_PER_FRAME: u32 = 16;
/// Fractions of a semitone in a peak's pitch ([`Peak::pitch`](crate::Peak::pitch)).
pub const PITCH_STEPS_PER_SEMITONE: u32 = 64;

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
    /// Lowest linear bin the STFT keeps: below [`low_hz`](Self::low_hz) by at least
    /// one bin, so that a peak's position can be refined between bins.
    pub min_bin: u16,
    /// One past the highest linear bin the STFT keeps, with the same margin above
    /// [`high_hz`](Self::high_hz).
    pub max_bin: u16,
    /// Pitch zero of the log-frequency axis, in Hz.
    pub low_hz: f64,
    /// Top of the log-frequency axis, in Hz.
    pub high_hz: f64,
    /// Cells per semitone of the log-frequency axis peaks are picked on.
    pub cells_per_semitone: u32,
    /// A peak is the maximum of `(2 * neighborhood_frames + 1)` frames ...
    pub neighborhood_frames: usize,
    /// ... by `(2 * neighborhood_cells + 1)` log-frequency cells around it.
    pub neighborhood_cells: usize,
    /// Peaks kept in any window of `density_window_frames` frames, the strongest first,
    /// shared evenly by the bands of [`rank_band_semitones`](Self::rank_band_semitones).
    /// This rank-based cap is what makes density independent of loudness.
    pub peaks_per_window: usize,
    /// Width of the sliding window over which `peaks_per_window` applies.
    pub density_window_frames: usize,
    /// Peaks are ranked against the others of their band of this many semitones:
    /// noise loud in one register (pink noise in the low octaves) then cannot take
    /// the whole quota from the music in the others.
    pub rank_band_semitones: u32,
    /// Share of the peaks, the strongest within half a window of each, marked
    /// [`strong`](crate::Peak::strong): the anchors of groups.
    pub anchor_share: f64,
    /// Absolute floor in dB relative to a full-scale sine; below it nothing is a peak,
    /// so digital silence yields no landmarks.
    pub floor_db: f32,
    /// Longest audio accepted, in seconds; longer input is an error rather than an
    /// unbounded amount of work.
    pub max_duration_s: f64,
}

impl AnalysisConfig {
    /// The analysis of every hash configuration: peaks on a log-frequency axis, with
    /// positions refined between frames and between bins.
    ///
    /// 8 kHz keeps the band that survives telephone and low-bitrate codecs (up to 4 kHz)
    /// and makes resampling and FFTs cheap; a 1024-sample window (128 ms, 7.8 Hz bins)
    /// resolves musical partials; a 256-sample hop (32 ms) frames them in time. On a
    /// log-frequency axis a speed change or a pitch shift moves every peak by the same
    /// interval, so neighbourhoods in semitones move with the music (decision 0020).
    pub const V2: AnalysisConfig = AnalysisConfig {
        id: 2,
        sample_rate_hz: 8_000,
        fft_size: 1024,
        hop: 256,
        min_bin: 30,  // 234 Hz
        max_bin: 503, // 3930 Hz
        low_hz: 250.0,
        high_hz: 3875.0,
        cells_per_semitone: 3,
        neighborhood_frames: 4,
        neighborhood_cells: 4,
        peaks_per_window: 24,
        density_window_frames: 31, // ~1 s
        rank_band_semitones: 12,
        anchor_share: 0.34,
        floor_db: -70.0,
        max_duration_s: 6.0 * 3600.0,
    };

    /// Seconds per STFT frame.
    pub fn frame_duration_s(&self) -> f64 {
        self.hop as f64 / f64::from(self.sample_rate_hz)
    }

    /// Seconds per tick of a peak's time.
    pub fn tick_duration_s(&self) -> f64 {
        self.frame_duration_s() / f64::from(TICKS_PER_FRAME)
    }

    /// Number of non-negative frequency bins of the real FFT.
    pub fn bins(&self) -> usize {
        self.fft_size / 2 + 1
    }

    /// Hz per linear bin.
    pub fn bin_hz(&self) -> f64 {
        f64::from(self.sample_rate_hz) / self.fft_size as f64
    }

    /// Width of the log-frequency axis in semitones.
    pub fn semitones(&self) -> f64 {
        12.0 * (self.high_hz / self.low_hz).log2()
    }

    /// Cells of the log-frequency axis.
    pub fn cells(&self) -> usize {
        (self.semitones() * f64::from(self.cells_per_semitone)).floor() as usize
    }

    /// One past the highest [`Peak::pitch`](crate::Peak::pitch).
    pub fn pitch_steps(&self) -> u32 {
        (self.semitones() * f64::from(PITCH_STEPS_PER_SEMITONE)).ceil() as u32
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
        [&Self::V2].into_iter().find(|c| c.id == id)
    }
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self::V2
    }
}

/// How peaks become landmark hashes: groups of peaks, hashed on what a change of
/// speed, tempo or pitch leaves as it was (decision 0020).
///
/// A group is an anchor and `group_size - 1` of the peaks after it. Its hash holds
/// each grouped peak's interval to the anchor in semitones (unchanged when every
/// pitch moves together, as under a speed change or a pitch shift) and the time
/// ratios `(t - t_anchor) / span` of all but the last (unchanged when time
/// stretches, as under a speed or tempo change). The span's length, which speed
/// and tempo changes do move, enters the hash in coarse cells that a query probes
/// across the supported range. Only [`strong`](crate::Peak::strong) peaks anchor
/// groups.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HashConfig {
    /// Identifies the layout of the hashes; an index stores it and refuses others.
    pub id: u16,
    /// What users call it.
    pub name: &'static str,
    /// The analysis these hashes are derived from.
    pub analysis_id: u16,
    /// Peaks per group, the anchor included.
    pub group_size: usize,
    /// Eligible peaks after an anchor that its groups are chosen from: every
    /// `group_size - 1` of them. Queries form their groups the same way; reaching
    /// further in queries only, to catch partners behind extra noise peaks, cost 4.5
    /// times the lookups and found no more (decision 0020).
    pub reach: usize,
    /// A catalog indexes only the groups that leave out at least one of their
    /// anchor's this many weakest eligible peaks (0: every group). Queries form every
    /// group: the catalog's strong peaks are the ones a noisy copy keeps.
    pub catalog_skip_weakest: usize,
    /// Least delay from the anchor to a grouped peak, in frames.
    pub min_delay_frames: f64,
    /// Most delay from the anchor to a grouped peak, in frames.
    pub max_delay_frames: f64,
    /// Shortest span of a group, in frames: time ratios of shorter ones are too coarse.
    pub min_span_frames: f64,
    /// Largest interval from the anchor to a grouped peak, in semitones.
    pub max_interval_semitones: f64,
    /// Cell of an interval in the hash, in semitones.
    pub interval_cell_semitones: f64,
    /// Cell of a time ratio in the hash.
    pub ratio_cell: f64,
    /// Cell of the span's natural logarithm in the hash.
    pub span_cell_ln: f64,
    /// A query also looks up the neighbouring cell of an interval or ratio that lies
    /// within this share of a cell from its edge ...
    pub edge_margin: f64,
    /// ... for at most this many fields of a group, the nearest to an edge first.
    pub edge_probe_fields: usize,
    /// Largest supported change of time scale, as a factor either way (1.125: from
    /// 8/9 to 9/8 of the original duration).
    pub max_time_scale: f64,
    /// Largest supported pitch shift either way, in semitones.
    pub max_pitch_shift_semitones: f64,
    /// Width of the hash values in bits.
    pub hash_bits: u8,
}

impl HashConfig {
    /// `default`: groups of five peaks. Found every speed change of ±2-10 %, tempo
    /// change of ±5-10 % and pitch shift of ±1-2 semitones in the measurements of
    /// decision 0020.
    pub const DEFAULT: HashConfig = HashConfig {
        id: 6,
        name: "default",
        analysis_id: 2,
        group_size: 5,
        reach: 6,
        catalog_skip_weakest: 1,
        min_delay_frames: 1.0,
        max_delay_frames: 63.0,
        min_span_frames: 4.0,
        max_interval_semitones: 8.0,
        interval_cell_semitones: 0.25,
        ratio_cell: 0.05,
        span_cell_ln: 0.5,
        edge_margin: 0.25,
        edge_probe_fields: 1,
        max_time_scale: 1.125,
        max_pitch_shift_semitones: 2.5,
        hash_bits: 40,
    };

    /// Every configuration this release has. Ids are never reused: an index stores
    /// its id, and an index of a retired one (1 `robust`, 2 `compact`, 3, 4
    /// `large-catalog`: hashes of absolute bins and frames; 5: every group of a
    /// catalog's anchor indexed) is refused and rebuilt.
    pub const ALL: [&'static HashConfig; 1] = [&Self::DEFAULT];

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
    /// below 2^`hash_bits`.
    pub fn hash_bits(&self) -> u32 {
        u32::from(self.hash_bits.clamp(1, 64))
    }
}

/// New indexes are built with [`HashConfig::DEFAULT`].
impl Default for HashConfig {
    fn default() -> Self {
        Self::DEFAULT
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
