//! Known signals in, known peaks and hashes out.

mod common;

use common::{hz, interval, near_share, overlap};
use earmark_core::config::TICKS_PER_FRAME;
use earmark_core::{AnalysisConfig, Error, Fingerprinter, HashConfig, Peak};
use earmark_test_support::{melody, melody_with_noise, sine};

#[test]
fn a_sine_yields_peaks_at_its_frequency() {
    // Pitches are refined between bins: a bin is 7.8 Hz (0.3 semitone at 440 Hz), and
    // every peak of these tones lies within 0.01 semitone of the tone (measured).
    let fp = Fingerprinter::default();
    for freq in [440.0f32, 1000.0, 2500.0] {
        for rate in [8_000u32, 44_100, 48_000] {
            let print = fp
                .fingerprint_samples(&sine(freq, rate, 4.0, 0.5), rate, 1)
                .expect("fingerprint");
            assert!(!print.is_empty(), "{freq} Hz at {rate} Hz gave no peaks");
            for p in print.peaks() {
                let off = interval(hz(p), f64::from(freq));
                assert!(
                    off.abs() < 0.05,
                    "{freq} Hz at {rate} Hz: peak at {:.1} Hz, {off:+.3} semitones off",
                    hz(p)
                );
            }
        }
    }
}

#[test]
fn a_chirp_yields_the_expected_peak_track() {
    // A linear sweep from 400 Hz to 3400 Hz over 10 s, at 44.1 kHz stereo.
    let rate = 44_100u32;
    let secs = 10.0f64;
    let (f0, f1) = (400.0f64, 3400.0f64);
    let k = (f1 - f0) / secs;
    let mono: Vec<f32> = (0..(secs * f64::from(rate)) as usize)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            let cycles = (f0 * t + 0.5 * k * t * t).fract();
            0.5 * (2.0 * std::f64::consts::PI * cycles).sin() as f32
        })
        .collect();
    let stereo: Vec<f32> = mono.iter().flat_map(|&s| [s, s]).collect();
    let print = Fingerprinter::default()
        .fingerprint_samples(&stereo, rate, 2)
        .expect("fingerprint");
    let cfg = AnalysisConfig::V2;
    let peaks = print.peaks();
    assert!(peaks.len() > 20, "only {} peaks", peaks.len());
    // Within a quarter semitone of the sweep at the peak's refined time (measured: all
    // of them within 0.16, half within 0.04).
    let on_track = peaks
        .iter()
        .filter(|p| {
            // The frame's centre is half a window after its start.
            let t = cfg.frames_to_secs(p.frames())
                + cfg.fft_size as f64 / 2.0 / f64::from(cfg.sample_rate_hz);
            interval(hz(p), f0 + k * t).abs() < 0.25
        })
        .count();
    assert!(
        on_track * 10 >= peaks.len() * 9,
        "{on_track} of {} peaks on the sweep",
        peaks.len()
    );
    // And the track rises: the sweep spans 37 semitones, its first and last peaks
    // 33.4 apart.
    let first = peaks.first().map(Peak::semitones).unwrap_or_default();
    let last = peaks.last().map(Peak::semitones).unwrap_or_default();
    assert!(
        last > first + 30.0,
        "the track rises from {first:.2} to {last:.2} semitones only"
    );
}

#[test]
fn a_later_start_yields_the_same_hashes_shifted_in_time() {
    let cfg = AnalysisConfig::V2;
    let hash_cfg = HashConfig::DEFAULT;
    let fp = Fingerprinter::default();
    let audio = melody(42, cfg.sample_rate_hz, 30.0);
    let whole = fp
        .fingerprint_samples(&audio, cfg.sample_rate_hz, 1)
        .expect("fingerprint");
    let shift_frames = 200u32; // 6.4 s, a whole number of hops
    let start = shift_frames as usize * cfg.hop;
    let later = fp
        .fingerprint_samples(&audio[start..], cfg.sample_rate_hz, 1)
        .expect("fingerprint");

    let expected: Vec<(u64, u32)> = whole
        .catalog_landmarks(&hash_cfg)
        .into_iter()
        .filter(|l| l.frame >= shift_frames)
        .map(|l| (l.hash, l.frame - shift_frames))
        .collect();
    let got: Vec<(u64, u32)> = later
        .catalog_landmarks(&hash_cfg)
        .into_iter()
        .map(|l| (l.hash, l.frame))
        .collect();
    let share = overlap(&got, &expected);
    // Measured 0.990 with `default`: only the groups of the first second, where the
    // peak quotas see less context, differ.
    assert!(share > 0.95, "only {share:.3} of the shifted hashes agree");
}

#[test]
fn a_sub_hop_shift_keeps_most_peaks() {
    // A start that falls between hops moves every frame by a fraction. Peak times are
    // refined between frames, so peaks follow the shift to within a few ticks rather
    // than rounding to one frame or the next.
    let cfg = AnalysisConfig::V2;
    let fp = Fingerprinter::default();
    let audio = melody(7, cfg.sample_rate_hz, 20.0);
    let whole = fp
        .fingerprint_samples(&audio, 8_000, 1)
        .expect("fingerprint");
    let start = 100 * cfg.hop + cfg.hop / 2;
    let later = fp
        .fingerprint_samples(&audio[start..], 8_000, 1)
        .expect("fingerprint");
    // The whole print's peaks, moved by `shift` ticks.
    let moved = |shift: u32| -> Vec<Peak> {
        whole
            .peaks()
            .iter()
            .filter(|p| p.tick >= shift)
            .map(|p| Peak {
                tick: p.tick - shift,
                pitch: p.pitch,
                rank: p.rank,
            })
            .collect()
    };
    // Within a quarter frame and 1/16 semitone.
    let (ticks, pitch_steps) = (TICKS_PER_FRAME / 4, 4);
    let half_hop = 100 * TICKS_PER_FRAME + TICKS_PER_FRAME / 2;
    let share = near_share(later.peaks(), &moved(half_hop), ticks, pitch_steps);
    // Measured 0.849 with V2: a half-hop shift is the worst case. A whole frame's
    // tolerance in time adds 0.008, a quarter semitone's in pitch 0.047.
    assert!(
        share > 0.75,
        "only {share:.3} of peaks survive a half-hop shift"
    );
    // Whole frames are half a frame off: almost nothing lines up (measured 0.008 and 0).
    for whole_frames in [100, 101] {
        let misaligned = near_share(
            later.peaks(),
            &moved(whole_frames * TICKS_PER_FRAME),
            ticks,
            pitch_steps,
        );
        assert!(
            misaligned < 0.1,
            "{misaligned:.3} of peaks line up {whole_frames} whole frames later"
        );
    }
}

#[test]
fn chunk_sizes_do_not_change_the_fingerprint() {
    let rate = 44_100;
    let audio = melody(3, rate, 8.0);
    let fp = Fingerprinter::default();
    let whole = fp
        .fingerprint_samples(&audio, rate, 1)
        .expect("fingerprint");
    for chunk in [1usize, 37, 4096, 100_000] {
        let mut stream = fp.stream(rate, 1).expect("stream");
        for part in audio.chunks(chunk) {
            stream.push(part).expect("push");
        }
        assert_eq!(stream.finish().expect("finish"), whole, "chunk {chunk}");
    }
}

#[test]
fn density_adapts_to_loudness() {
    // The same music at -40 dB yields about as many peaks as at full level (measured
    // 0.81 with V2: the quiet tails decay under the absolute floor sooner). Without
    // added noise: a noise floor is content too, and would be quieter than the floor
    // in one case only.
    let rate = 8_000;
    let loud = melody_with_noise(5, rate, 20.0, 0.0);
    let quiet: Vec<f32> = loud.iter().map(|s| s * 0.01).collect();
    let fp = Fingerprinter::default();
    let n_loud = fp
        .fingerprint_samples(&loud, rate, 1)
        .expect("loud")
        .peaks()
        .len();
    let n_quiet = fp
        .fingerprint_samples(&quiet, rate, 1)
        .expect("quiet")
        .peaks()
        .len();
    assert!(n_loud > 100);
    let ratio = n_quiet as f64 / n_loud as f64;
    assert!(
        (0.7..=1.3).contains(&ratio),
        "quiet/loud peak ratio {ratio:.2}"
    );
}

#[test]
fn silence_gives_an_explicitly_empty_fingerprint() {
    let fp = Fingerprinter::default();
    let print = fp
        .fingerprint_samples(&vec![0.0; 44_100 * 5], 44_100, 1)
        .expect("silence is valid audio");
    assert!(print.is_empty());
    assert!((print.duration_s() - 5.0).abs() < 0.01);
}

#[test]
fn bad_parameters_are_errors() {
    let fp = Fingerprinter::default();
    assert!(matches!(
        fp.fingerprint_samples(&[0.0; 10], 0, 1),
        Err(Error::InvalidParameters { .. })
    ));
    assert!(matches!(
        fp.fingerprint_samples(&[0.0; 10], 8_000, 0),
        Err(Error::InvalidParameters { .. })
    ));
    assert!(matches!(
        fp.fingerprint_samples(&[0.0; 11], 8_000, 2),
        Err(Error::InvalidParameters { .. })
    ));
    assert!(matches!(
        fp.fingerprint_samples(&[], 8_000, 1),
        Err(Error::NoAudio)
    ));
}

#[test]
fn the_wire_form_stays_within_8_kb_per_minute() {
    let rate = 8_000;
    let audio = melody(11, rate, 60.0);
    let print = Fingerprinter::default()
        .fingerprint_samples(&audio, rate, 1)
        .expect("fingerprint");
    let bytes = print.to_bytes().len();
    assert!(bytes <= 8 * 1024, "{bytes} bytes for one minute");
}
