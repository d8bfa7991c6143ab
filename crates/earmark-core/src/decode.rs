//! Every call into symphonia: probe by content, decode packet by packet, map errors.
//!
//! Decoding streams: each decoded packet is handed to a sink as interleaved `f32` and
//! dropped, so memory does not depend on the file's length. A bad packet is counted and
//! skipped; a stream that ends early keeps what decoded before the damage; only a
//! stream where nothing decodes at all is an error.

use std::io::{Cursor, Read};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::LazyLock;

use symphonia::core::codecs::CodecParameters;
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::codecs::audio::well_known::{
    CODEC_ID_AC3, CODEC_ID_EAC3, CODEC_ID_OPUS, CODEC_ID_SPEEX, CODEC_ID_WMA,
};
use symphonia::core::codecs::registry::CodecRegistry;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream, ReadOnlySource};
use symphonia::core::meta::MetadataOptions;

use crate::error::{Error, Result};

/// Symphonia's codecs, and libopus for Opus (in Ogg, Matroska and WebM), which
/// symphonia does not decode itself.
static CODECS: LazyLock<CodecRegistry> = LazyLock::new(|| {
    let mut registry = CodecRegistry::new();
    symphonia::default::register_enabled_codecs(&mut registry);
    registry.register_audio_decoder::<symphonia_adapter_libopus::OpusDecoder>();
    registry
});

/// Consecutive undecodable packets after which a stream is given up as garbage.
const MAX_CONSECUTIVE_BAD_PACKETS: u32 = 256;

/// Rate and channel count of a run of decoded samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioFormat {
    /// Samples per second per channel.
    pub sample_rate: u32,
    /// Interleaved channels.
    pub channels: usize,
}

/// What happened while decoding, beyond the samples.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodeReport {
    /// Frames (samples per channel) decoded.
    pub frames: u64,
    /// Packets that failed to decode and were skipped.
    pub bad_packets: u64,
    /// The stream ended before its container said it would (a truncated file).
    pub truncated: bool,
}

/// Where the bytes to decode come from.
pub enum Source {
    /// A seekable source such as a file; probing can read trailing metadata.
    Seekable(Box<dyn MediaSource>),
    /// A forward-only stream such as an HTTP body.
    Stream(Box<dyn Read + Send + Sync>),
}

impl Source {
    /// A source over an open file: seekable when it is a regular file, read as the
    /// stream it is when it is a pipe or a device.
    pub fn file(file: std::fs::File) -> Self {
        if file.metadata().is_ok_and(|m| m.is_file()) {
            Source::Seekable(Box::new(file))
        } else {
            Source::Stream(Box::new(file))
        }
    }

    /// A source over bytes in memory.
    pub fn bytes(bytes: Vec<u8>) -> Self {
        Source::Seekable(Box::new(Cursor::new(bytes)))
    }

    /// A source over a forward-only reader.
    pub fn stream(reader: impl Read + Send + Sync + 'static) -> Self {
        Source::Stream(Box::new(reader))
    }

    /// Resolves to a media source, or [`Error::Empty`] when there is not a single byte.
    fn into_media_source(self) -> Result<Box<dyn MediaSource>> {
        match self {
            Source::Seekable(source) => {
                if source.byte_len() == Some(0) {
                    return Err(Error::Empty);
                }
                Ok(source)
            }
            Source::Stream(mut reader) => {
                // Read one byte ahead to tell an empty stream from an unrecognised one.
                let mut first = [0u8; 1];
                let n = loop {
                    match reader.read(&mut first) {
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        other => break other?,
                    }
                };
                if n == 0 {
                    return Err(Error::Empty);
                }
                let chained = Cursor::new(first).chain(reader);
                Ok(Box::new(ReadOnlySource::new(chained)))
            }
        }
    }
}

/// Runs a call into the decoder library. Symphonia is written without panics in mind
/// but parses hostile bytes; a panic there must become an error for this input, not
/// bring down a server. Only the library's calls are wrapped, so that a panic in
/// Earmark's own code is never mistaken for bad input.
fn in_decoder<T>(call: impl FnOnce() -> T) -> Result<T> {
    catch_unwind(AssertUnwindSafe(call)).map_err(|_| Error::DecoderPanic)
}

fn codec_name(id: symphonia::core::codecs::audio::AudioCodecId) -> String {
    match id {
        // Decoded, unless a stream declares what libopus refuses (more than two
        // channels, a rate other than Opus's).
        CODEC_ID_OPUS => "opus".into(),
        CODEC_ID_SPEEX => "speex".into(),
        CODEC_ID_AC3 => "ac3".into(),
        CODEC_ID_EAC3 => "eac3".into(),
        CODEC_ID_WMA => "wma".into(),
        other => format!("codec id {other}"),
    }
}

/// Sample rates a recording may have: a format outside them is refused before any
/// decoding. 4 kHz is below any telephone or archive format still met; 768 kHz the
/// highest studio rate.
pub const PLAUSIBLE_SAMPLE_RATES_HZ: std::ops::RangeInclusive<u32> = 4_000..=768_000;

/// Most channels a recording may have (beyond any surround or ambisonic format).
pub const MAX_CHANNELS: usize = 64;

/// Refuses a sample rate outside [`PLAUSIBLE_SAMPLE_RATES_HZ`].
///
/// # Errors
/// [`Error::InvalidParameters`] naming the rate.
pub fn check_sample_rate(rate: u32) -> Result<()> {
    if PLAUSIBLE_SAMPLE_RATES_HZ.contains(&rate) {
        return Ok(());
    }
    Err(Error::InvalidParameters {
        reason: format!(
            "sample rate {rate} Hz is outside {} Hz to {} Hz",
            PLAUSIBLE_SAMPLE_RATES_HZ.start(),
            PLAUSIBLE_SAMPLE_RATES_HZ.end()
        ),
    })
}

/// Refuses a channel count of 0 or above [`MAX_CHANNELS`].
///
/// # Errors
/// [`Error::InvalidParameters`] naming the count.
pub fn check_channels(channels: usize) -> Result<()> {
    if (1..=MAX_CHANNELS).contains(&channels) {
        return Ok(());
    }
    Err(Error::InvalidParameters {
        reason: format!("channel count must be 1 to {MAX_CHANNELS} (got {channels})"),
    })
}

/// Decodes `source` and hands every decoded run of interleaved samples to `sink`.
///
/// `extension` is a hint only; the format is recognised by content, so a WAV file named
/// `.mp3` decodes as WAV. The sink may stop decoding by returning an error, which is
/// passed through.
///
/// # Errors
/// [`Error::Empty`], [`Error::UnrecognizedFormat`], [`Error::NoAudioTrack`],
/// [`Error::Unsupported`], [`Error::Corrupt`] when nothing decodes, [`Error::NoAudio`]
/// when the stream is valid but holds zero samples, [`Error::Io`] for read failures
/// other than an early end, or the sink's error.
pub fn decode(
    source: Source,
    extension: Option<&str>,
    sink: &mut dyn FnMut(AudioFormat, &[f32]) -> Result<()>,
) -> Result<DecodeReport> {
    let media = source.into_media_source()?;
    let mss = MediaSourceStream::new(media, Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = extension {
        hint.with_extension(ext);
    }
    let mut format = in_decoder(|| {
        symphonia::default::get_probe().probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
    })?
    .map_err(|e| match e {
        SymphoniaError::IoError(ref io) if io.kind() != std::io::ErrorKind::UnexpectedEof => {
            Error::Io(std::io::Error::new(io.kind(), io.to_string()))
        }
        _ => Error::UnrecognizedFormat,
    })?;

    let track = format
        .default_track(TrackType::Audio)
        .or_else(|| {
            format
                .tracks()
                .iter()
                .find(|t| matches!(t.codec_params, Some(CodecParameters::Audio(_))))
        })
        .ok_or(Error::NoAudioTrack)?;
    let track_id = track.id;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or(Error::NoAudioTrack)?
        .clone();
    // What the header declares is checked before any decoding: a format no real
    // recording has would cost work out of all proportion to its bytes (a 1 Hz rate
    // resampled to the analysis rate is 8,000 output samples per input sample).
    if let Some(rate) = params.sample_rate {
        check_sample_rate(rate)?;
    }
    if let Some(channels) = &params.channels {
        check_channels(channels.count())?;
    }
    let mut decoder =
        in_decoder(|| CODECS.make_audio_decoder(&params, &AudioDecoderOptions::default()))?
            .map_err(|_| Error::Unsupported {
                codec: codec_name(params.codec),
            })?;

    let mut report = DecodeReport::default();
    let mut consecutive_bad = 0u32;
    let mut last_error: Option<String> = None;
    let mut samples: Vec<f32> = Vec::new();
    loop {
        let packet = match in_decoder(|| format.next_packet())? {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            Err(SymphoniaError::IoError(_)) => {
                // An early end of the bytes: keep what decoded.
                report.truncated = true;
                break;
            }
            Err(SymphoniaError::DecodeError(msg)) => {
                report.bad_packets += 1;
                consecutive_bad += 1;
                last_error = Some(msg.to_owned());
                if consecutive_bad > MAX_CONSECUTIVE_BAD_PACKETS {
                    break;
                }
                continue;
            }
            Err(SymphoniaError::ResetRequired) => break,
            Err(e) => {
                last_error = Some(e.to_string());
                report.truncated = true;
                break;
            }
        };
        if packet.track_id != track_id {
            continue;
        }
        // The decoder's output is copied out inside the net too: it is symphonia's
        // code running over what the hostile bytes declared.
        let decoded = in_decoder(|| {
            decoder.decode(&packet).map(|buf| {
                let channels = buf.spec().channels().count();
                let frames = buf.frames();
                let format = AudioFormat {
                    sample_rate: buf.spec().rate(),
                    channels,
                };
                if channels > 0 && frames > 0 {
                    samples.resize(frames * channels, 0.0);
                    buf.copy_to_slice_interleaved(&mut samples[..]);
                }
                (format, frames)
            })
        })?;
        match decoded {
            Ok((format, frames)) => {
                consecutive_bad = 0;
                if format.channels == 0 || frames == 0 {
                    continue;
                }
                report.frames += frames as u64;
                // Earmark's own code (resampling, spectrogram, peaks) runs outside the
                // net: a panic there is a bug to surface, never blamed on the input.
                sink(format, &samples)?;
            }
            Err(SymphoniaError::DecodeError(msg)) | Err(SymphoniaError::Unsupported(msg)) => {
                report.bad_packets += 1;
                consecutive_bad += 1;
                last_error = Some(msg.to_owned());
                if consecutive_bad > MAX_CONSECUTIVE_BAD_PACKETS {
                    break;
                }
            }
            Err(SymphoniaError::IoError(_)) => {
                report.truncated = true;
                break;
            }
            Err(e) => {
                last_error = Some(e.to_string());
                break;
            }
        }
    }
    if report.frames == 0 {
        return Err(match last_error {
            Some(reason) => Error::Corrupt { reason },
            None if report.truncated => Error::Corrupt {
                reason: "the stream ends before any audio".into(),
            },
            None => Error::NoAudio,
        });
    }
    Ok(report)
}
