//! power, hypot, cbrt.

use super::dd::*;
use super::exp::exp_core;
use super::log::{log_dd, reduce};

const TWO_P52: f64 = 4503599627370496.0;
const TWO_P53: f64 = 9007199254740992.0;

/// Whether [`pow`]'s fast path does not apply: a zero, infinite or NaN base, or an infinite or
/// NaN exponent (C99 `pow`'s special cases, left to the exact pass).
#[inline(always)]
pub fn pow_special(x: f64, y: f64) -> bool {
    let ax = fabs(x);
    !(ax > 0.0 && ax < f64::INFINITY && fabs(y) < f64::INFINITY)
}

/// `x ** y = exp(y log|x|)` with the logarithm and the product as double-doubles (the error of
/// `y log|x|`, up to 745 in magnitude, must stay below `2^-53`), and the sign of a negative
/// base for an odd integral exponent (NaN for a non-integral one). For finite nonzero `x` and
/// finite `y` only ([`pow_special`]).
#[inline(always)]
pub fn pow(x: f64, y: f64) -> f64 {
    let (lh, ll) = log_dd(fabs(x));
    // Beyond 2^900 every |x| != 1 over/underflows; this keeps Dekker's split finite.
    let yc = sel(y > 8.45e270, 8.45e270, sel(y < -8.45e270, -8.45e270, y));
    let (th, tl0) = two_prod(yc, lh);
    let tl = tl0 + yc * ll;
    let clamp = fabs(th) > 1000.0; // finite: special operands are not here
    let (thc, tl) = (sel(clamp, copysign(1000.0, th), th), sel(clamp, 0.0, tl));
    let (k, qh, ql) = exp_core(thc, tl);
    let (m, me) = fast_two_sum(1.0, qh);
    let r = scale(m + (me + ql), k);
    // The parity of an integral y: round(|y|) below 2^52 through 2^52's ulp of 1.
    let ay = fabs(y);
    let big = ay >= TWO_P52;
    let p = sel(big, ay, ay + TWO_P52);
    let int = big || (p - TWO_P52 == ay);
    let odd = int && ay < TWO_P53 && (p.to_bits() & 1 == 1);
    let neg = x < 0.0;
    sel(neg, sel(int, sel(odd, -r, r), f64::NAN), r)
}

/// `sqrt(x^2 + y^2)` without overflow: scaled by a power of two, squares and sum as
/// double-doubles, one corrected square root. inf if either is infinite (even with a NaN).
#[inline(always)]
pub fn hypot(x: f64, y: f64) -> f64 {
    const P600: f64 = f64::from_bits(0x6570_0000_0000_0000);
    const M600: f64 = f64::from_bits(0x1a70_0000_0000_0000);
    const P450: f64 = f64::from_bits(0x5c10_0000_0000_0000);
    const M450: f64 = f64::from_bits(0x23d0_0000_0000_0000);
    let (ax, ay) = (fabs(x), fabs(y));
    let a = sel(ax > ay, ax, ay);
    // Squares neither overflow nor lose bits to underflow: |a| in (2^-474, 2^450] after.
    let f = sel(a > P450, M600, sel(a < M450, P600, 1.0));
    let (u, v) = (ax * f, ay * f);
    let (p, pe) = two_sqr(u);
    let (q, qe) = two_sqr(v);
    let (s, se) = two_sum(p, q);
    let sl = se + pe + qe;
    let h = s.sqrt();
    let (hh, he) = two_sqr(h);
    let c = (((s - hh) - he) + sl) / (2.0 * h);
    let r = (h + sel(h > 0.0, c, 0.0)) / f;
    let inf = ax == f64::INFINITY || ay == f64::INFINITY;
    sel(inf, f64::INFINITY, sel(x.is_nan() || y.is_nan(), x + y, r))
}

/// Quadratic interpolant of `v^(1/3)` at Chebyshev nodes on `[0.35, 2.83]` (4% error).
const CBRT0: [f64; 3] = [0.5747765997259666, 0.4731862234382729, -0.06327968643491488];

/// `cbrt x`: `|x| = 2^(3q) v`, `v` in `[0.35, 2.83)`; a quadratic guess, two Halley steps and a
/// last Newton step with the residual `v - y^3` in double-doubles.
#[inline(always)]
pub fn cbrt(x: f64) -> f64 {
    let ax = fabs(x);
    let (k, m) = reduce(ax);
    let q = round(k * (1.0 / 3.0));
    let rem = k - 3.0 * q; // -1, 0 or 1
    let v = m * pow2(rem);
    let mut y = horner(v, &CBRT0);
    for _ in 0..2 {
        let y3 = y * y * y;
        y = y * (y3 + 2.0 * v) / (2.0 * y3 + v);
    }
    let (p, pe) = two_sqr(y);
    let (c, ce) = two_prod(p, y);
    let res = ((v - c) - ce) - pe * y;
    let y = y + res / (3.0 * p);
    let r = y * pow2(q);
    let r = sel(ax > 0.0 && ax < f64::INFINITY, r, ax);
    sel(x.is_nan(), x, mulsign(r, x))
}
