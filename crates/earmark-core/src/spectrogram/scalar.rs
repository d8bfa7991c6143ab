//! The exact reference kernel: power spectrum to dB with the standard library's `log10`.

use realfft::num_complex::Complex;

/// Writes `10 * log10(|x|^2 * scale + tiny)` for every bin of `spectrum` into `out`.
pub fn power_db(spectrum: &[Complex<f32>], scale: f32, out: &mut [f32]) {
    for (o, c) in out.iter_mut().zip(spectrum) {
        *o = 10.0 * ((c.re * c.re + c.im * c.im) * scale + f32::MIN_POSITIVE).log10();
    }
}
