//! log, log2, log10, log1p, the inverse hyperbolic functions and a double-double log for
//! `power`. Reduction: `x = 2^k m`, `m` in `[sqrt(2)/2, sqrt(2))`, `f = m - 1` (exact); then
//! `log(1+f) = 2 atanh(s)`, `s = f/(2+f)`, with the minimax polynomial of fdlibm/musl
//! (`e_log.c`, `e_log2.c`, `e_log10.c`) or, in double-double, the atanh Taylor series.

use super::dd::*;
use super::exp::{LN2_HI, LN2_LO};

/// fdlibm's `Lg1..Lg7` (`e_log.c`): `R(z) ~ (log(1+f) - 2s)/s` on `|s| < 0.1716`.
pub const LG: [f64; 7] = [
    6.666666666666735130e-01,
    3.999999999940941908e-01,
    2.857142874366239149e-01,
    2.222219843214978396e-01,
    1.818357216161805012e-01,
    1.531383769920937332e-01,
    1.479819860511658591e-01,
];

const TWO_P54: f64 = 18014398509481984.0;

/// `x = 2^k m` for a positive `x` (normal or subnormal): returns `(k, m)` with `m` in
/// `[sqrt(2)/2, sqrt(2))`. Other inputs give garbage (callers select their special values).
#[inline(always)]
pub fn reduce(x: f64) -> (f64, f64) {
    let sub = x < f64::MIN_POSITIVE;
    let xs = sel(sub, x * TWO_P54, x);
    let u = xs
        .to_bits()
        .wrapping_add(0x3ff0_0000_0000_0000 - 0x3fe6_a09e_0000_0000);
    // The biased exponent as a float without an integer conversion.
    let e = f64::from_bits(0x4330_0000_0000_0000 | (u >> 52)) - (4503599627370496.0 + 1023.0);
    let k = e - sel(sub, 54.0, 0.0);
    let m = f64::from_bits((u & 0x000f_ffff_ffff_ffff) + 0x3fe6_a09e_0000_0000);
    (k, m)
}

/// The parts of musl's `log` kernel: `(s, hfsq, R)` for `f`.
#[inline(always)]
fn parts<const F: bool>(f: f64) -> (f64, f64, f64) {
    let hfsq = 0.5 * f * f;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * mla::<F>(w, mla::<F>(w, LG[5], LG[3]), LG[1]);
    let t2 = z * mla::<F>(w, mla::<F>(w, mla::<F>(w, LG[6], LG[4]), LG[2]), LG[0]);
    (s, hfsq, t1 + t2)
}

/// `k ln 2 + log(1 + f) + c` (`c` a small correction), as musl's `log`/`log1p`: < 1 ulp.
#[inline(always)]
fn kernel<const F: bool>(k: f64, f: f64, c: f64) -> f64 {
    let (s, hfsq, r) = parts::<F>(f);
    mla::<F>(s, hfsq + r, mla::<F>(k, LN2_LO, c)) - hfsq + f + k * LN2_HI
}

/// The value of `log`-like functions at 0, negative numbers, inf and NaN.
#[inline(always)]
fn special(x: f64, at_zero: f64) -> f64 {
    sel(x == 0.0, at_zero, sel(x < 0.0, f64::NAN, x + x))
}

/// Natural logarithm.
#[inline(always)]
pub fn log<const F: bool>(x: f64) -> f64 {
    let (k, m) = reduce(x);
    let r = kernel::<F>(k, m - 1.0, 0.0);
    sel(
        x > 0.0 && x < f64::INFINITY,
        r,
        special(x, f64::NEG_INFINITY),
    )
}

/// Base-2 logarithm (musl's `log2`: the high part of `f - f^2/2` times a split `1/ln 2`).
#[inline(always)]
pub fn log2<const F: bool>(x: f64) -> f64 {
    const IVLN2HI: f64 = 1.44269504072144627571e+00;
    const IVLN2LO: f64 = 1.67517131648865118353e-10;
    let (k, m) = reduce(x);
    let f = m - 1.0;
    let (s, hfsq, r) = parts::<F>(f);
    let hi = f64::from_bits((f - hfsq).to_bits() & 0xffff_ffff_0000_0000);
    let lo = f - hi - hfsq + s * (hfsq + r);
    let val_hi = hi * IVLN2HI;
    let val_lo = (lo + hi) * IVLN2LO + lo * IVLN2HI;
    let w = k + val_hi;
    let val_lo = val_lo + ((k - w) + val_hi);
    let res = val_lo + w;
    sel(
        x > 0.0 && x < f64::INFINITY,
        res,
        special(x, f64::NEG_INFINITY),
    )
}

/// Base-10 logarithm (musl's `log10`).
#[inline(always)]
pub fn log10<const F: bool>(x: f64) -> f64 {
    const IVLN10HI: f64 = 4.34294481878168880939e-01;
    const IVLN10LO: f64 = 2.50829467116549348656e-11;
    const LOG10_2HI: f64 = 3.01029995663611771306e-01;
    const LOG10_2LO: f64 = 3.69423907715893078616e-13;
    let (k, m) = reduce(x);
    let f = m - 1.0;
    let (s, hfsq, r) = parts::<F>(f);
    let hi = f64::from_bits((f - hfsq).to_bits() & 0xffff_ffff_0000_0000);
    let lo = f - hi - hfsq + s * (hfsq + r);
    let val_hi = hi * IVLN10HI;
    let y2 = k * LOG10_2HI;
    let val_lo = k * LOG10_2LO + (lo + hi) * IVLN10LO + lo * IVLN10HI;
    let w = y2 + val_hi;
    let val_lo = val_lo + ((y2 - w) + val_hi);
    let res = val_lo + w;
    sel(
        x > 0.0 && x < f64::INFINITY,
        res,
        special(x, f64::NEG_INFINITY),
    )
}

/// `log(1 + ah + al)` for `1 + ah > 0` finite, `|al| <= ulp(ah)`: `u = fl(1 + ah)`; when
/// `u` needs no scaling `f = ah` exactly, else `f = m - 1` and the rounding error of `u` is
/// added back as `c/u` (as musl's `log1p`).
#[inline(always)]
fn log1p_dd<const F: bool>(ah: f64, al: f64) -> f64 {
    let u = 1.0 + ah;
    let (k, m) = reduce(u);
    let k0 = k == 0.0;
    let f = sel(k0, ah, m - 1.0);
    let err = sel(k0, 0.0, sel(ah < 9007199254740992.0, ah - (u - 1.0), 0.0));
    kernel::<F>(k, f, (err + al) / u)
}

/// `log(1 + x)`.
#[inline(always)]
pub fn log1p<const F: bool>(x: f64) -> f64 {
    let r = log1p_dd::<F>(x, 0.0);
    let r = sel(fabs(x) < 5.6e-17, x, r);
    let at = sel(x == -1.0, f64::NEG_INFINITY, sel(x < -1.0, f64::NAN, x + x));
    sel(x > -1.0 && x < f64::INFINITY, r, at)
}

/// `sqrt(h + l)` as a double-double, `h >= 0` (0 stays 0).
#[inline(always)]
pub fn sqrt_dd<const F: bool>(h: f64, l: f64) -> (f64, f64) {
    let s = h.sqrt();
    let (p, pe) = two_sqr::<F>(s);
    let c = (((h - p) - pe) + l) / (2.0 * s);
    (s, sel(s > 0.0, c, 0.0))
}

/// `atanh x = sign(x) log1p(2|x| / (1 - |x|)) / 2`, the quotient as a double-double.
#[inline(always)]
pub fn atanh<const F: bool>(x: f64) -> f64 {
    let a = fabs(x);
    let (dh, dl) = two_sum(1.0, -a);
    let n = 2.0 * a;
    let (q, ql) = div_dd::<F>(n, 0.0, dh, dl);
    let ql = sel(a < 1.0, ql, 0.0);
    let r = 0.5 * log1p_dd::<F>(q, ql);
    let r = sel(a < 1.0, r, sel(a == 1.0, f64::INFINITY, f64::NAN));
    let r = sel(a < 7.5e-9, a, r);
    sel(x.is_nan(), x, mulsign(r, x))
}

/// `asinh x = sign(x) log1p(|x| + x^2/(1 + sqrt(1 + x^2)))` in double-doubles, or
/// `log|x| + ln 2` beyond `2^28`.
#[inline(always)]
pub fn asinh<const F: bool>(x: f64) -> f64 {
    let a0 = fabs(x);
    let a = sel(a0 > 268435456.0, 1.0, a0);
    let (p, pe) = two_sqr::<F>(a);
    let (s, se) = two_sum(1.0, p);
    let (rh, rl) = sqrt_dd::<F>(s, se + pe);
    let (dh, dl0) = two_sum(1.0, rh);
    let dl = dl0 + rl;
    let (t, tl) = div_dd::<F>(p, pe, dh, dl);
    let (vh, ve) = fast_two_sum(a, t);
    let small = log1p_dd::<F>(vh, ve + tl);
    let (k, m) = reduce(a0);
    let big = kernel::<F>(k + 1.0, m - 1.0, 0.0);
    let r = sel(a0 > 268435456.0, big, small);
    let r = sel(a0 < 7.5e-9 || a0 == f64::INFINITY, a0, r);
    sel(x.is_nan(), x, mulsign(r, x))
}

/// `acosh x = log1p(t + sqrt(2t + t^2))`, `t = x - 1`, in double-doubles, or `log x + ln 2`
/// beyond `2^28`.
#[inline(always)]
pub fn acosh<const F: bool>(x: f64) -> f64 {
    let xc = sel(x > 268435456.0, 2.0, x);
    let t = xc - 1.0; // exact for x in [1, 2^28]
    let (p, pe) = two_sqr::<F>(t);
    let (s, se) = two_sum(2.0 * t, p);
    let (rh, rl) = sqrt_dd::<F>(s, se + pe);
    let (vh, ve) = two_sum(t, rh);
    let small = log1p_dd::<F>(vh, ve + rl);
    let (k, m) = reduce(x);
    let big = kernel::<F>(k + 1.0, m - 1.0, 0.0);
    let r = sel(x > 268435456.0, big, small);
    sel(
        (1.0..f64::INFINITY).contains(&x),
        r,
        sel(x == f64::INFINITY, x, f64::NAN),
    )
}

/// `2/5, 2/7, ..., 2/25`: `log(1+f) = 2s + 2s^3/3 + s^5 T(s^2)` (atanh's Taylor series; the
/// remainder is below `2^-64` relative on `|s| < 0.1716`).
const T: [f64; 11] = [
    2.0 / 5.0,
    2.0 / 7.0,
    2.0 / 9.0,
    2.0 / 11.0,
    2.0 / 13.0,
    2.0 / 15.0,
    2.0 / 17.0,
    2.0 / 19.0,
    2.0 / 21.0,
    2.0 / 23.0,
    2.0 / 25.0,
];
const TWO_THIRDS: f64 = 0.6666666666666666;
const TWO_THIRDS_LO: f64 = 3.700743415417188e-17;

/// `log x` as a double-double (relative error near `2^-66`) for a positive finite `x`.
#[inline(always)]
pub fn log_dd<const F: bool>(x: f64) -> (f64, f64) {
    let (k, m) = reduce(x);
    let f = m - 1.0;
    let (dh, dl) = fast_two_sum(2.0, f);
    let sh = f / dh;
    let (p, pe) = two_prod::<F>(sh, dh);
    let sl = (((f - p) - pe) - sh * dl) / dh;
    let (zh, zl0) = two_sqr::<F>(sh);
    let zl = zl0 + 2.0 * sh * sl;
    let (ch, cl0) = two_prod::<F>(sh, zh);
    let cl = cl0 + (sh * zl + sl * zh);
    let (th, tl0) = two_prod::<F>(ch, TWO_THIRDS);
    let tl = tl0 + (cl * TWO_THIRDS + ch * TWO_THIRDS_LO);
    let t5 = ch * zh * estrin11::<F>(zh, &T);
    let (a, ae) = fast_two_sum(2.0 * sh, th);
    let lo = ae + 2.0 * sl + tl + t5;
    let (b, be) = two_sum(k * LN2_HI, a);
    fast_two_sum(b, be + lo + k * LN2_LO)
}
