//! Request bodies: what the content type says they are, read under a size limit and a
//! deadline, and audio streamed to the decoder on a blocking thread without buffering
//! it whole.

use std::io::{self, Read};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use earmark_core::{Fingerprint, Source};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::time::{Instant, Sleep};

use crate::error::ApiError;
use crate::limits::{CpuTurn, cpu_turn, current_key};
use crate::state::{AppState, Runtime};

/// The compact binary fingerprint's media type.
pub const FINGERPRINT_MEDIA_TYPE: &str = "application/vnd.earmark.fingerprint";

/// What a body holds, by its content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Encoded audio, with a format hint for the decoder.
    Audio(Option<&'static str>),
    /// A binary fingerprint.
    Fingerprint,
    /// A JSON document.
    Json,
}

/// Classifies the body by `Content-Type`.
pub(crate) fn classify(headers: &HeaderMap) -> Result<Kind, ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(ApiError::UnsupportedMediaType(format!(
            "a Content-Type is required: audio/*, application/octet-stream, {FINGERPRINT_MEDIA_TYPE} or application/json"
        )));
    };
    let media = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let hint = match media.as_str() {
        FINGERPRINT_MEDIA_TYPE => return Ok(Kind::Fingerprint),
        "application/json" => return Ok(Kind::Json),
        "application/octet-stream" => None,
        "audio/mpeg" | "audio/mp3" => Some("mp3"),
        "audio/wav" | "audio/x-wav" | "audio/wave" | "audio/vnd.wave" => Some("wav"),
        "audio/flac" | "audio/x-flac" => Some("flac"),
        "audio/ogg" | "audio/vorbis" | "application/ogg" => Some("ogg"),
        "audio/mp4" | "audio/m4a" | "audio/x-m4a" => Some("m4a"),
        "audio/aac" => Some("aac"),
        other if other.starts_with("audio/") => None,
        other => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "content type {other:?} is not accepted here: use audio/*, application/octet-stream, {FINGERPRINT_MEDIA_TYPE} or application/json"
            )));
        }
    };
    Ok(Kind::Audio(hint))
}

/// A body the service waits for at most `timeout` in all: the time spent waiting for
/// the client's bytes adds up across reads, so a client trickling bytes cannot hold a
/// request (and what it holds) for longer; the time the service itself takes between
/// reads (decoding, waiting for a turn) does not count against the client. Past it,
/// reads fail with [`BodyTimedOut`], which the readers here answer with 408.
pub(crate) fn with_deadline(body: Body, timeout: Duration) -> Body {
    Body::new(DeadlineBody {
        inner: body,
        timeout,
        left: timeout,
        waiting_since: None,
        sleep: Box::pin(tokio::time::sleep(timeout)),
    })
}

struct DeadlineBody {
    inner: Body,
    timeout: Duration,
    /// What is left of the timeout.
    left: Duration,
    /// When the current wait for the client began.
    waiting_since: Option<Instant>,
    /// Fires when the current wait uses up what is left.
    sleep: Pin<Box<Sleep>>,
}

/// The body did not arrive within its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the body did not arrive within {0:?}")]
pub(crate) struct BodyTimedOut(Duration);

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let since = *this.waiting_since.get_or_insert_with(|| {
            let now = Instant::now();
            this.sleep.as_mut().reset(now + this.left);
            now
        });
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.left = this.left.saturating_sub(since.elapsed());
                this.waiting_since = None;
                Poll::Ready(frame.map(|f| f.map_err(axum::BoxError::from)))
            }
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimedOut(this.timeout))))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The answer for a body that failed: 408 past its deadline, else `upload_failed`.
fn body_failed(error: &axum::Error) -> ApiError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if let Some(BodyTimedOut(timeout)) = e.downcast_ref() {
            return ApiError::BodyTimeout {
                limit_s: timeout.as_secs_f64(),
            };
        }
        cause = e.source();
    }
    ApiError::bad_request("upload_failed", format!("reading the body failed: {error}"))
}

/// Refuses a body whose declared length is over `limit` before reading it.
fn check_declared_length(headers: &HeaderMap, limit: u64) -> Result<(), ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > limit => Err(ApiError::TooLarge { limit }),
        _ => Ok(()),
    }
}

/// Reads a whole (small) body, refusing more than `limit` bytes.
pub(crate) async fn read_limited(
    headers: &HeaderMap,
    mut body: Body,
    limit: u64,
) -> Result<Bytes, ApiError> {
    check_declared_length(headers, limit)?;
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| body_failed(&e))?;
        if let Ok(data) = frame.into_data() {
            if (buf.len() + data.len()) as u64 > limit {
                return Err(ApiError::TooLarge { limit });
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buf))
}

/// A blocking reader over chunks sent from the async side.
///
/// With `turns`, the decoder reading it works only while holding a turn of the worker
/// pool, as matching does: each read returns holding one, so everything the decoder
/// does between reads is counted against the pool and the key's share. A read that has
/// to wait for the client gives its turn back first, so an upload slower than its
/// decoder holds no turn while it waits (it holds a blocking thread, which the
/// per-key request limit and the body-read timeout bound).
struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
    turns: Option<Turns>,
    turn: Option<CpuTurn>,
}

/// Where a decoder on a blocking thread takes its turns: the pool, and its key's share.
struct Turns {
    runtime: Arc<Runtime>,
    key: Arc<str>,
    handle: tokio::runtime::Handle,
}

impl ChannelReader {
    fn new(rx: mpsc::Receiver<io::Result<Bytes>>, turns: Option<Turns>) -> Self {
        Self {
            rx,
            current: Bytes::new(),
            turns,
            turn: None,
        }
    }

    /// The next chunk, waiting for it without a turn; returns holding one.
    fn next_chunk(&mut self) -> io::Result<Option<io::Result<Bytes>>> {
        let next = match self.rx.try_recv() {
            Ok(chunk) => Some(chunk),
            Err(TryRecvError::Disconnected) => None,
            Err(TryRecvError::Empty) => {
                self.turn = None;
                self.rx.blocking_recv()
            }
        };
        if let (Some(turns), None) = (&self.turns, &self.turn) {
            // A blocking thread may wait on the runtime's futures: it is not one of
            // the runtime's workers.
            let turn = turns
                .handle
                .block_on(cpu_turn(&turns.runtime, &turns.key))
                .map_err(|_| io::Error::other("the service is shutting down"))?;
            self.turn = Some(turn);
        }
        Ok(next)
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.next_chunk()? {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// How the body pump ended.
enum PumpEnd {
    /// The whole body went through: its SHA-256.
    Complete(String),
    /// The decoder stopped reading before the end.
    ReaderGone,
    /// The body was over the limit.
    TooLarge,
    /// The client's body failed (an aborted upload, or one past its deadline).
    Failed(ApiError),
}

/// Decoded audio: its fingerprints (one per shifted analysis) and, when the whole body
/// was read, the SHA-256 of its bytes.
pub(crate) struct Audio {
    pub(crate) prints: Vec<Fingerprint>,
    pub(crate) content_hash: Option<String>,
}

/// Streams `body` into the decoder running on a blocking thread, in turns of the
/// worker pool under the request's key (see [`ChannelReader`]), so that concurrent
/// decodes are capped with matching and per-key shares apply to them.
///
/// If this future is dropped (a timeout, a client gone), the sender goes with it and
/// the decoder sees the end of its input and returns: nothing outlives the request.
pub(crate) async fn decode_audio(
    state: &AppState,
    headers: &HeaderMap,
    mut body: Body,
    hint: Option<&'static str>,
    shifts: usize,
) -> Result<Audio, ApiError> {
    let limit = state.config.max_audio_bytes;
    check_declared_length(headers, limit)?;
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(8);
    let fingerprinter = state.runtime.fingerprinter.clone();
    let turns = Turns {
        runtime: state.runtime.clone(),
        key: current_key(),
        handle: tokio::runtime::Handle::current(),
    };
    let decode = tokio::task::spawn_blocking(move || {
        let reader = ChannelReader::new(rx, Some(turns));
        fingerprinter.decode_source_shifted(Source::stream(reader), hint, shifts)
    });
    let pump = async move {
        let mut hasher = Sha256::new();
        let mut total = 0u64;
        loop {
            match body.frame().await {
                None => return PumpEnd::Complete(hex::encode(hasher.finalize())),
                Some(Err(e)) => {
                    let _ = tx
                        .send(Err(io::Error::other("the upload was aborted")))
                        .await;
                    return PumpEnd::Failed(body_failed(&e));
                }
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    total += data.len() as u64;
                    if total > limit {
                        let _ = tx
                            .send(Err(io::Error::other("the upload is too large")))
                            .await;
                        return PumpEnd::TooLarge;
                    }
                    hasher.update(&data);
                    if tx.send(Ok(data)).await.is_err() {
                        return PumpEnd::ReaderGone;
                    }
                }
            }
        }
    };
    let (end, decoded) = tokio::join!(pump, decode);
    let content_hash = match end {
        PumpEnd::TooLarge => return Err(ApiError::TooLarge { limit }),
        PumpEnd::Failed(error) => return Err(error),
        PumpEnd::Complete(hash) => Some(hash),
        PumpEnd::ReaderGone => None,
    };
    let (prints, _report) = decoded??;
    Ok(Audio {
        prints,
        content_hash,
    })
}

/// A fingerprint from its binary form, no longer than `max_s` seconds.
pub(crate) fn fingerprint_from_bytes(bytes: &[u8], max_s: f64) -> Result<Fingerprint, ApiError> {
    within_limits(Fingerprint::from_bytes(bytes)?, max_s)
}

/// A fingerprint from its JSON form, given as a parsed value, no longer than `max_s`
/// seconds.
pub(crate) fn fingerprint_from_json(
    value: &serde_json::Value,
    max_s: f64,
) -> Result<Fingerprint, ApiError> {
    let text = serde_json::to_string(value)
        .map_err(|e| ApiError::bad_request("invalid_fingerprint", e.to_string()))?;
    within_limits(Fingerprint::from_json(&text)?, max_s)
}

/// Refuses a client's fingerprint denser than audio gives
/// ([`Fingerprint::check_density`]) or of more audio than a request may carry: the
/// two bound the work of matching or storing it.
fn within_limits(fp: Fingerprint, max_s: f64) -> Result<Fingerprint, ApiError> {
    fp.check_density()?;
    if fp.duration_s() > max_s {
        return Err(ApiError::bad_request(
            "audio_too_long",
            format!(
                "the fingerprint is of {:.0} s of audio, more than the limit of {max_s:.0} s",
                fp.duration_s()
            ),
        ));
    }
    Ok(fp)
}

/// Parses a JSON body into `T`, answering 400 `malformed_json` when it does not fit.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request("malformed_json", e.to_string()))
}

/// Checks a SHA-256 hex digest, returning it lower-cased.
pub(crate) fn content_hash(text: &str) -> Result<String, ApiError> {
    let t = text.trim();
    if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(t.to_ascii_lowercase())
    } else {
        Err(ApiError::bad_request(
            "invalid_content_hash",
            "content_hash must be the SHA-256 of the file's bytes as 64 hex digits",
        ))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with_type(t: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(t).expect("header"),
        );
        h
    }

    #[test]
    fn content_types() {
        assert_eq!(
            classify(&with_type("audio/mpeg")).ok(),
            Some(Kind::Audio(Some("mp3")))
        );
        assert_eq!(
            classify(&with_type("Audio/WAV; rate=1")).ok(),
            Some(Kind::Audio(Some("wav")))
        );
        assert_eq!(
            classify(&with_type("audio/x-unknown")).ok(),
            Some(Kind::Audio(None))
        );
        assert_eq!(
            classify(&with_type("application/octet-stream")).ok(),
            Some(Kind::Audio(None))
        );
        assert_eq!(
            classify(&with_type(FINGERPRINT_MEDIA_TYPE)).ok(),
            Some(Kind::Fingerprint)
        );
        assert_eq!(
            classify(&with_type("application/json; charset=utf-8")).ok(),
            Some(Kind::Json)
        );
        assert!(matches!(
            classify(&with_type("text/plain")),
            Err(ApiError::UnsupportedMediaType(_))
        ));
        assert!(matches!(
            classify(&HeaderMap::new()),
            Err(ApiError::UnsupportedMediaType(_))
        ));
    }

    #[test]
    fn channel_reader_reassembles_chunks() {
        let (tx, rx) = mpsc::channel(4);
        for chunk in [&b"ab"[..], b"", b"cde"] {
            tx.try_send(Ok(Bytes::from_static(chunk))).expect("send");
        }
        drop(tx);
        let mut reader = ChannelReader::new(rx, None);
        let mut out = Vec::new();
        reader.read_to_end(&mut out).expect("read");
        assert_eq!(out, b"abcde");
    }

    #[test]
    fn content_hash_validation() {
        let h = "AB".repeat(32);
        assert_eq!(content_hash(&h).ok(), Some("ab".repeat(32)));
        assert!(content_hash("abc").is_err());
        assert!(content_hash(&"zz".repeat(32)).is_err());
    }
}
