//! float32 (and float16) versions of the exponential and logarithm families, sin/cos/tan and
//! the arc tangent, in plain float64 arithmetic: all of them at SSE2, and at the FMA levels the
//! ones [`super::native`] does not compute in float32 (arctan, arctan2, small integral
//! powers).
//!
//! float32 needs 24 bits; the float64 functions carry double-double corrections and long
//! polynomials to reach float64's last bit. Here each keeps its float64 sibling's reduction but
//! drops the corrections and shortens the polynomial to a truncation below `2^-35` relative,
//! evaluated in plain float64 (rounding errors near `2^-50`). Rounded once to float32 that is
//! the correctly rounded result but within `2^-10` ULP of a halfway point (the ULP test
//! measures 0.50 for every function), at 1.4-2.4x less cost. float64 arithmetic also gives
//! float32's special values: overflow and underflow happen in the final conversion, NaN
//! propagates through the selects.
//!
//! - exp family: `k = round(x/ln 2)`, Cody-Waite with fdlibm's two-piece `ln 2`, Taylor to
//!   degree 9; `expm1` as `2^k p + (2^k - 1)` (no cancellation).
//! - logarithms: fdlibm's reduction and the first five of its seven coefficients; `log1p(x)` is
//!   `log(1 + x)`, as `1 + x` is exact in float64 for a float32 `x` with `|x| >= 2^-29` (below,
//!   the result is `x`).
//! - sin/cos/tan: the three-piece `pi/2` reduction without the double-double low word, musl's
//!   kernels less their last term (arguments beyond `TRIG_MAX` still go to the exact pass).
//! - arctan2: fdlibm's reduction and polynomial without the double-double quotients: two
//!   divisions instead of five.

use super::atan::{AT, ATAN_HALF_HI, PIO4_HI};
use super::dd::*;
use super::exp::{INV_LN2, LN2_HI, LN2_LO, P};
use super::log::{reduce, LG};
use super::trig::{
    reduce_half_period, C1, C2, C3, C4, C5, INV_PIO2, PIO2_1, PIO2_2, PIO2_3, S1, S2, S3, S4, S5,
    SIN_TAYLOR,
};

/// `1/2!, 1/3!, ..., 1/9!` (the float64 series' first terms).
const T: [f64; 8] = [0.5, P[0], P[1], P[2], P[3], P[4], P[5], P[6]];

/// `e^x = 2^k (1 + p)`: returns `(k, p)`, `|p| <= 0.42`, `p` with a relative error below
/// `2^-34` (for `|x| <= 200`).
#[inline(always)]
fn core<const F: bool>(x: f64) -> (f64, f64) {
    let k = round(x * INV_LN2);
    let r = mla::<F>(-k, LN2_LO, mla::<F>(-k, LN2_HI, x));
    (k, mla::<F>(r * r, horner::<F, 8>(r, &T), r))
}

/// `2^k (1 + p) - 1` without cancellation for `k >= -60`: `2^k - 1` is exact, and for `k = 0`
/// the sum is `p` itself.
#[inline(always)]
fn em1<const F: bool>(k: f64, p: f64) -> f64 {
    let pk = pow2(k);
    mla::<F>(pk, p, pk - 1.0)
}

/// Below this `expm1(x)` and `tanh(x)` round to `x` in float32 (and keep a zero's sign).
const TINY: f64 = 1.0 / (1u64 << 30) as f64;

/// `e^x`.
#[inline(always)]
pub fn exp<const F: bool>(x: f64) -> f64 {
    // Beyond these the float32 result is inf or 0 (and the scale 2^k stays a normal double).
    let xc = sel(x > 100.0, 100.0, sel(x < -110.0, -110.0, x));
    let (k, p) = core::<F>(xc);
    pow2(k) * (1.0 + p)
}

/// `e^x - 1`.
#[inline(always)]
pub fn expm1<const F: bool>(x: f64) -> f64 {
    let xc = sel(x > 100.0, 100.0, sel(x < -40.0, -40.0, x));
    let (k, p) = core::<F>(xc);
    sel(fabs(x) < TINY, x, em1::<F>(k, p))
}

/// `tanh x = E/(E+2)` with `E = expm1(2|x|)`; 1 beyond `|x| = 10` (float32's 1 - 2^-25 is
/// passed at 8.7).
#[inline(always)]
pub fn tanh<const F: bool>(x: f64) -> f64 {
    let a = fabs(x);
    let ac = sel(a > 10.0, 10.0, a);
    let (k, p) = core::<F>(2.0 * ac);
    let e = em1::<F>(k, p);
    sel(a < TINY, x, mulsign(e / (e + 2.0), x))
}

/// `sinh x = (E + E/(E+1))/2` with `E = expm1|x|`.
#[inline(always)]
pub fn sinh<const F: bool>(x: f64) -> f64 {
    let a = fabs(x);
    let (k, p) = core::<F>(sel(a > 100.0, 100.0, a));
    let e = em1::<F>(k, p);
    sel(a < TINY, x, mulsign((e + e / (e + 1.0)) * 0.5, x))
}

/// `cosh x = (Y + 1/Y)/2` with `Y = e^|x|`.
#[inline(always)]
pub fn cosh<const F: bool>(x: f64) -> f64 {
    let a = fabs(x);
    let (k, p) = core::<F>(sel(a > 100.0, 100.0, a));
    let y = pow2(k) * (1.0 + p);
    (y + 1.0 / y) * 0.5
}

/// `arctan2(y, x)`: for the octant's quotient `t = min/max` of the magnitudes, fdlibm's
/// reduction of `t` computed from the operands and its polynomial, then `pi/2 - z` and `pi - z`
/// (no cancellation: both stay above `pi/4`), all in plain float64.
#[inline(always)]
pub fn atan2<const F: bool>(y: f64, x: f64) -> f64 {
    use std::f64::consts::{FRAC_PI_2, PI};
    let (ax, ay) = (fabs(x), fabs(y));
    let swap = ay > ax;
    let (n, d) = (sel(swap, ax, ay), sel(swap, ay, ax));
    // atan(n/d) = atan c + atan u, u = (n - c d)/(d + c n), with c = 0, 1/2 or 1 as n/d is
    // below 7/16, below 11/16 or not: no quotient to choose c, and one division (the float32
    // operands' products and sums here are exact in float64).
    let nonzero = d > 0.0;
    let id1 = nonzero && n >= 0.4375 * d;
    let id2 = nonzero && n >= 0.6875 * d;
    let c = sel(id2, 1.0, sel(id1, 0.5, 0.0));
    let base = sel(id2, PIO4_HI, sel(id1, ATAN_HALF_HI, 0.0));
    // 0/0 and inf/inf: C99's atan2 gives the octant's edge (0) and its middle (pi/4, c = 1).
    let u = sel(nonzero && d < f64::INFINITY, (n - c * d) / (d + c * n), 0.0);
    let z = u * u;
    let w = z * z;
    let s1 = z * horner::<F, 6>(w, &[AT[0], AT[2], AT[4], AT[6], AT[8], AT[10]]);
    let s2 = w * horner::<F, 5>(w, &[AT[1], AT[3], AT[5], AT[7], AT[9]]);
    let r = base + (u - u * (s1 + s2));
    let r = sel(swap, FRAC_PI_2 - r, r);
    let r = sel(x.is_sign_negative(), PI - r, r);
    sel(x.is_nan() || y.is_nan(), x + y, copysign(r, y))
}

/// `arctan x = arctan2(x, 1)`.
#[inline(always)]
pub fn atan<const F: bool>(x: f64) -> f64 {
    atan2::<F>(x, 1.0)
}

/// `log x` for a positive finite `x` (anything else: garbage): `k ln 2 + log(1 + f)`, `log(1 +
/// f) = f - f^2/2 + s (f^2/2 + R(s^2))`, `s = f/(2 + f)`.
#[inline(always)]
fn log_finite<const F: bool>(x: f64) -> f64 {
    let (k, m) = reduce(x);
    let f = m - 1.0;
    let hfsq = 0.5 * f * f;
    let s = f / (2.0 + f);
    let z = s * s;
    let r = z * horner::<F, 5>(z, &[LG[0], LG[1], LG[2], LG[3], LG[4]]);
    mla::<F>(k, std::f64::consts::LN_2, mla::<F>(s, hfsq + r, f - hfsq))
}

/// The value of `log`-like functions at 0, negative numbers, inf and NaN.
#[inline(always)]
fn log_special(x: f64) -> f64 {
    sel(x == 0.0, f64::NEG_INFINITY, sel(x < 0.0, f64::NAN, x + x))
}

/// Natural logarithm.
#[inline(always)]
pub fn log<const F: bool>(x: f64) -> f64 {
    sel(
        x > 0.0 && x < f64::INFINITY,
        log_finite::<F>(x),
        log_special(x),
    )
}

/// Base-2 logarithm (`log x / ln 2`: one more float64 rounding, far below float32's).
#[inline(always)]
pub fn log2<const F: bool>(x: f64) -> f64 {
    let r = log_finite::<F>(x) * std::f64::consts::LOG2_E;
    sel(x > 0.0 && x < f64::INFINITY, r, log_special(x))
}

/// Base-10 logarithm.
#[inline(always)]
pub fn log10<const F: bool>(x: f64) -> f64 {
    let r = log_finite::<F>(x) * std::f64::consts::LOG10_E;
    sel(x > 0.0 && x < f64::INFINITY, r, log_special(x))
}

/// `log(1 + x)`.
#[inline(always)]
pub fn log1p<const F: bool>(x: f64) -> f64 {
    const TINY_LOG: f64 = 1.0 / (1u64 << 29) as f64;
    let u = 1.0 + x;
    let r = sel(fabs(x) < TINY_LOG, x, log_finite::<F>(u));
    sel(u > 0.0 && u < f64::INFINITY, r, log_special(u))
}

/// `x = k pi/2 + r` for `|x| < TRIG_MAX` (beyond: the driver's exact pass): `(k mod 4, r)`.
/// `k pi/2` in three pieces, subtracted in plain float64: the first subtraction is exact, the
/// others err by less than `2^-64` absolute, far below float32's need even where `r` is small.
#[inline(always)]
fn reduce_pio2<const F: bool>(x: f64) -> (u64, f64) {
    let t = x * INV_PIO2 + MAGIC;
    let k = t - MAGIC;
    (
        (t.to_bits() & 3),
        mla::<F>(-k, PIO2_3, mla::<F>(-k, PIO2_2, x - k * PIO2_1)),
    )
}

/// `(sin r, cos r)` for `|r| <= pi/4`, musl's polynomials less their last term (truncation
/// below `2^-40`).
#[inline(always)]
fn sin_cos_kernel<const F: bool>(r: f64) -> (f64, f64) {
    let z = r * r;
    let s = mla::<F>(r * z, horner::<F, 5>(z, &[S1, S2, S3, S4, S5]), r);
    let c = mla::<F>(
        z * z,
        horner::<F, 5>(z, &[C1, C2, C3, C4, C5]),
        1.0 - 0.5 * z,
    );
    (s, c)
}

/// The sine (or the cosine, `cos = true`).
#[inline(always)]
fn sincos<const F: bool>(x: f64, cos: bool) -> f64 {
    let (q, r) = reduce_pio2::<F>(x);
    let (s, c) = sin_cos_kernel::<F>(r);
    let q = if cos { q + 1 } else { q };
    let v = sel(q & 1 == 1, c, s);
    f64::from_bits(v.to_bits() ^ ((q & 2) << 62))
}

/// With fused multiply-add: `+-sin r` after the float64 reduction by `pi`
/// ([`reduce_half_period`]) from the series to `r^15` (truncation below `2^-37` on
/// `|r| <= pi/2`), in plain float64.
#[inline(always)]
fn half_period<const COS: bool>(x: f64) -> f64 {
    let (r, sign) = reduce_half_period::<COS>(x);
    let z = r * r;
    let c: &[f64; 7] = SIN_TAYLOR.first_chunk().expect("7 terms");
    let s = mla::<true>(r * z, horner::<true, 7>(z, c), r);
    f64::from_bits(s.to_bits() ^ sign)
}

/// `sin x` (`|x| < TRIG_MAX`, else any value); with fused multiply-add the float64 reduction
/// by `pi` and a shorter series (`half_period`).
#[inline(always)]
pub fn sin<const F: bool>(x: f64) -> f64 {
    let r = if F {
        half_period::<false>(x)
    } else {
        sincos::<F>(x, false)
    };
    sel(fabs(x) < TINY, x, r)
}

/// `cos x` (`|x| < TRIG_MAX`, else any value), as [`sin`].
#[inline(always)]
pub fn cos<const F: bool>(x: f64) -> f64 {
    if F {
        half_period::<true>(x)
    } else {
        sincos::<F>(x, true)
    }
}

/// `tan x = sin/cos`, or `-cos/sin` in odd quadrants (`|x| < TRIG_MAX`, else any value).
#[inline(always)]
pub fn tan<const F: bool>(x: f64) -> f64 {
    let (q, r) = reduce_pio2::<F>(x);
    let (s, c) = sin_cos_kernel::<F>(r);
    let odd = q & 1 == 1;
    let t = sel(odd, -c, s) / sel(odd, s, c);
    sel(fabs(x) < TINY, x, t)
}

/// `x ** e` (`x ** -e` when `NEG`), `e < 2^NB`, for a float32 `x`, and whether the lane needs
/// the exact pass (never): square-and-multiply in plain float64. At most seven roundings of
/// `2^-53` each leave the result within `2^-50` of `x^e`, so rounded to float32 it is within
/// `0.5 + 2^-26` ulp; float64's range holds every float32 power short of float32's overflow and
/// underflow, and zeros, infinities and NaN come out as C's `pow` gives them (`1/-0 = -inf`).
#[inline(always)]
pub fn powi<const F: bool, const NB: u32, const NEG: bool>(x: f64, e: u32) -> (f64, bool) {
    if NB == 0 {
        return (1.0, false);
    }
    let mut r = sel(e & 1 == 1, x, 1.0);
    let mut b = x;
    for bit in 1..NB {
        b *= b;
        r = sel(e >> bit & 1 == 1, r * b, r);
    }
    (if NEG { 1.0 / r } else { r }, false)
}
