//! The pipeline: samples -> mono -> analysis rate -> spectrogram rows -> peaks.

use std::fs::File;
use std::path::Path;

use rayon::prelude::*;

use crate::config::{AnalysisConfig, FingerprintConfig};
use crate::content;
use crate::decode::{self, AudioFormat, DecodeReport, Source};
use crate::error::{Error, Result};
use crate::fingerprint::Fingerprint;
use crate::peaks::PeakPicker;
use crate::resample::{MonoResampler, downmix_into};
use crate::spectrogram::Stft;

/// Fingerprints samples pushed one buffer at a time; memory stays bounded whatever
/// the stream's length.
///
/// ```
/// use earmark_core::{FingerprintConfig, StreamFingerprinter};
///
/// let mut stream = StreamFingerprinter::new(&FingerprintConfig::default(), 44_100, 2)?;
/// let second: Vec<f32> = (0..2 * 44_100)
///     .map(|i| (i as f32 * 0.05).sin() * 0.5)
///     .collect();
/// for _ in 0..3 {
///     stream.push(&second)?;
/// }
/// let fp = stream.finish()?;
/// assert!((fp.duration_s() - 3.0).abs() < 0.01);
/// # Ok::<(), earmark_core::Error>(())
/// ```
pub struct StreamFingerprinter {
    analysis: AnalysisConfig,
    input_rate: u32,
    channels: usize,
    mono: Vec<f32>,
    resampler: MonoResampler,
    lanes: Vec<Lane>,
    input_frames: u64,
    max_input_frames: u64,
    limit_s: f64,
}

/// One STFT and peak picker, starting `skip` analysis samples into the stream.
struct Lane {
    skip: usize,
    stft: Stft,
    picker: PeakPicker,
}

impl Lane {
    fn push(&mut self, samples: &[f32]) {
        let skipped = self.skip.min(samples.len());
        self.skip -= skipped;
        let picker = &mut self.picker;
        self.stft
            .push(&samples[skipped..], &mut |row| picker.push_row(row));
    }

    fn finish(mut self, analysis: &AnalysisConfig, duration_ms: u32) -> Result<Fingerprint> {
        let picker = &mut self.picker;
        self.stft.finish(&mut |row| picker.push_row(row));
        Fingerprint::new(analysis.id, duration_ms, self.picker.finish())
    }
}

impl StreamFingerprinter {
    /// A stream of interleaved `f32` samples at `sample_rate` with `channels` channels.
    ///
    /// # Errors
    /// [`Error::InvalidParameters`] for a zero rate or channel count, or a rate above
    /// 768 kHz.
    pub fn new(config: &FingerprintConfig, sample_rate: u32, channels: usize) -> Result<Self> {
        Self::with_shifts(config, sample_rate, channels, 1)
    }

    /// Like [`new`](Self::new), analysing the stream `shifts` times, each time
    /// starting a further `hop / shifts` samples in; see
    /// [`finish_shifts`](Self::finish_shifts).
    ///
    /// # Errors
    /// As [`new`](Self::new); `shifts` of zero counts as one.
    pub fn with_shifts(
        config: &FingerprintConfig,
        sample_rate: u32,
        channels: usize,
        shifts: usize,
    ) -> Result<Self> {
        decode::check_channels(channels)?;
        decode::check_sample_rate(sample_rate)?;
        let analysis = config.analysis.clone();
        let resampler = MonoResampler::new(sample_rate, analysis.sample_rate_hz)?;
        let shifts = shifts.clamp(1, analysis.hop);
        let lanes = (0..shifts)
            .map(|i| {
                let stft = Stft::new(&analysis, config.kernel);
                let picker = PeakPicker::new(&analysis, stft.row_len());
                Lane {
                    skip: i * analysis.hop / shifts,
                    stft,
                    picker,
                }
            })
            .collect();
        let limit_s = config.max_duration_s();
        let max_input_frames = (limit_s * f64::from(sample_rate)) as u64;
        Ok(Self {
            analysis,
            input_rate: sample_rate,
            channels,
            mono: Vec::new(),
            resampler,
            lanes,
            input_frames: 0,
            max_input_frames,
            limit_s,
        })
    }

    /// Adds interleaved samples (any length that is a whole number of frames).
    ///
    /// # Errors
    /// [`Error::InvalidParameters`] when the length is not a multiple of the channel
    /// count, [`Error::TooLong`] past the configured maximum duration.
    pub fn push(&mut self, interleaved: &[f32]) -> Result<()> {
        self.push_channels(interleaved, self.channels)
    }

    /// Like [`push`](Self::push) with the channel count of this buffer, for decoders
    /// whose layout changes mid-stream.
    fn push_channels(&mut self, interleaved: &[f32], channels: usize) -> Result<()> {
        if channels == 0 || !interleaved.len().is_multiple_of(channels) {
            return Err(Error::InvalidParameters {
                reason: format!(
                    "{} samples is not a whole number of {channels}-channel frames",
                    interleaved.len()
                ),
            });
        }
        let frames = (interleaved.len() / channels) as u64;
        self.input_frames += frames;
        if self.input_frames > self.max_input_frames {
            return Err(Error::TooLong {
                limit_s: self.limit_s,
            });
        }
        downmix_into(interleaved, channels, &mut self.mono);
        let Self {
            resampler,
            lanes,
            mono,
            ..
        } = self;
        resampler.push(mono, &mut |s| lanes.iter_mut().for_each(|l| l.push(s)));
        Ok(())
    }

    /// Flushes the pipeline and returns the fingerprint.
    ///
    /// Audio too short or too quiet for any peak gives an empty fingerprint
    /// ([`Fingerprint::is_empty`]), not an error.
    ///
    /// # Errors
    /// [`Error::NoAudio`] when no sample was pushed at all.
    pub fn finish(self) -> Result<Fingerprint> {
        self.finish_shifts()?
            .into_iter()
            .next()
            .ok_or(Error::NoAudio)
    }

    /// Flushes the pipeline and returns one fingerprint per shift, the unshifted first.
    ///
    /// Peaks are quantised to frames: audio that starts a fraction of a hop later
    /// rounds some peaks to other frames and changes the time differences in their
    /// hashes. Among `n` shifted analyses one is within `hop / 2n` of any alignment
    /// of the catalog's, which is why queries use several.
    ///
    /// # Errors
    /// [`Error::NoAudio`] when no sample was pushed at all.
    pub fn finish_shifts(mut self) -> Result<Vec<Fingerprint>> {
        if self.input_frames == 0 {
            return Err(Error::NoAudio);
        }
        let Self {
            resampler, lanes, ..
        } = &mut self;
        resampler.finish(&mut |s| lanes.iter_mut().for_each(|l| l.push(s)));
        let duration_ms =
            (self.input_frames as f64 * 1000.0 / f64::from(self.input_rate)).round() as u32;
        let analysis = self.analysis;
        self.lanes
            .into_iter()
            .map(|lane| lane.finish(&analysis, duration_ms))
            .collect()
    }
}

/// A fingerprint and what decoding reported.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The fingerprint.
    pub fingerprint: Fingerprint,
    /// Decoding statistics: frames, skipped packets, truncation.
    pub report: DecodeReport,
    /// The SHA-256 of the input's bytes (hex), for a file: hashed as the decoder read
    /// it, so the file is read once.
    pub content_hash: Option<String>,
}

/// Turns audio in any supported form into a [`Fingerprint`].
#[derive(Debug, Clone, Default)]
pub struct Fingerprinter {
    config: FingerprintConfig,
}

impl Fingerprinter {
    /// A fingerprinter with `config`.
    pub fn new(config: FingerprintConfig) -> Self {
        Self { config }
    }

    /// The configuration in use.
    pub fn config(&self) -> &FingerprintConfig {
        &self.config
    }

    /// Decodes and fingerprints a file; the format is recognised by content, the
    /// extension is only a hint.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be opened, then as [`decode::decode`].
    pub fn fingerprint_file(&self, path: impl AsRef<Path>) -> Result<Fingerprint> {
        let path = path.as_ref();
        let ext = path.extension().and_then(|e| e.to_str());
        Ok(self
            .decode_source(Source::file(File::open(path)?), ext)?
            .fingerprint)
    }

    /// Like [`fingerprint_file`](Self::fingerprint_file), with the decoding report and,
    /// for a regular file, its SHA-256, hashed as it was read.
    ///
    /// # Errors
    /// As [`fingerprint_file`](Self::fingerprint_file).
    pub fn decode_file(&self, path: impl AsRef<Path>) -> Result<Decoded> {
        let path = path.as_ref();
        let file = File::open(path)?;
        let ext = path.extension().and_then(|e| e.to_str());
        // A pipe or a device has no content hash.
        if !file.metadata()?.is_file() {
            return self.decode_source(Source::file(file), ext);
        }
        let (reader, hash) = content::hashing(file)?;
        let mut decoded = self.decode_source(Source::Seekable(Box::new(reader)), ext)?;
        decoded.content_hash = Some(hash.finish()?);
        Ok(decoded)
    }

    /// Decodes and fingerprints bytes from any [`Source`]: a file, bytes in memory or
    /// a forward-only stream such as a request body.
    ///
    /// # Errors
    /// As [`decode::decode`].
    pub fn decode_source(&self, source: Source, extension: Option<&str>) -> Result<Decoded> {
        let (mut prints, report) = self.decode_source_shifted(source, extension, 1)?;
        let fingerprint = prints.pop().ok_or(Error::NoAudio)?;
        Ok(Decoded {
            fingerprint,
            report,
            content_hash: None,
        })
    }

    /// Decodes once and analyses `shifts` times with sub-hop offsets, as
    /// [`StreamFingerprinter::finish_shifts`] explains: what a query should use.
    ///
    /// # Errors
    /// As [`decode::decode`].
    pub fn decode_source_shifted(
        &self,
        source: Source,
        extension: Option<&str>,
        shifts: usize,
    ) -> Result<(Vec<Fingerprint>, DecodeReport)> {
        let mut stream: Option<StreamFingerprinter> = None;
        let mut first_rate = 0;
        let report = decode::decode(source, extension, &mut |format: AudioFormat, samples| {
            let s = match stream.as_mut() {
                Some(s) => s,
                None => {
                    first_rate = format.sample_rate;
                    stream.insert(StreamFingerprinter::with_shifts(
                        &self.config,
                        format.sample_rate,
                        format.channels,
                        shifts,
                    )?)
                }
            };
            if format.sample_rate != first_rate {
                return Err(Error::Corrupt {
                    reason: format!(
                        "sample rate changes mid-stream ({first_rate} Hz to {} Hz)",
                        format.sample_rate
                    ),
                });
            }
            s.push_channels(samples, format.channels)
        })?;
        let prints = stream.ok_or(Error::NoAudio)?.finish_shifts()?;
        Ok((prints, report))
    }

    /// Fingerprints interleaved `f32` samples already in memory.
    ///
    /// # Errors
    /// As [`StreamFingerprinter::new`], [`StreamFingerprinter::push`] and
    /// [`StreamFingerprinter::finish`].
    pub fn fingerprint_samples(
        &self,
        interleaved: &[f32],
        sample_rate: u32,
        channels: usize,
    ) -> Result<Fingerprint> {
        let mut stream = self.stream(sample_rate, channels)?;
        stream.push(interleaved)?;
        stream.finish()
    }

    /// A stream the caller pushes samples into.
    ///
    /// # Errors
    /// As [`StreamFingerprinter::new`].
    pub fn stream(&self, sample_rate: u32, channels: usize) -> Result<StreamFingerprinter> {
        StreamFingerprinter::new(&self.config, sample_rate, channels)
    }

    /// Fingerprints many files in parallel on rayon's pool, results in input order.
    pub fn fingerprint_files<P: AsRef<Path> + Sync>(
        &self,
        paths: &[P],
    ) -> Vec<Result<Fingerprint>> {
        paths.par_iter().map(|p| self.fingerprint_file(p)).collect()
    }
}
