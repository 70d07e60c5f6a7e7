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
pub fn pow<const F: bool>(x: f64, y: f64) -> f64 {
    let (lh, ll) = log_dd::<F>(fabs(x));
    // Beyond 2^900 every |x| != 1 over/underflows; this keeps Dekker's split finite.
    let yc = sel(y > 8.45e270, 8.45e270, sel(y < -8.45e270, -8.45e270, y));
    let (th, tl0) = two_prod::<F>(yc, lh);
    let tl = tl0 + yc * ll;
    let clamp = fabs(th) > 1000.0; // finite: special operands are not here
    let (thc, tl) = (sel(clamp, copysign(1000.0, th), th), sel(clamp, 0.0, tl));
    let (k, qh, ql) = exp_core::<F>(thc, tl);
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

/// The largest `|k|` [`powi`] takes: four bits, at most three squarings.
const POWI_MAX: f64 = 15.0;

/// `Some(k)` when `y` is an integer of magnitude at most 15, the exponents [`powi`] takes.
#[inline(always)]
pub fn small_int_exponent(y: f64) -> Option<i32> {
    (fabs(y) <= POWI_MAX && round(y) == y).then_some(y as i32)
}

/// `x ** e` (`x ** -e` when `NEG`) for `e < 2^NB`, `NB <= 4`, and whether the lane must go to
/// the exact `pow` instead. `x^e` is a square-and-multiply product of double-doubles (relative
/// error below 2^-100, so rounding it to a double is correct but in the rarest near-halfway
/// cases: at most 0.5 + 2^-40 ULP, inside `pow`'s bound), the reciprocal for `NEG` corrected by
/// one Newton step. `NB` (the exponent's bit length) fixes the number of squarings at compile
/// time; the bits themselves pick the factors through selects, so the loop has no branch and
/// vectorises. Each double's Veltkamp split is made once and reused. Lanes whose power or
/// result leaves `[2^-960, 2^995]`, where the split and the low words are exact (overflow,
/// underflow, zeros, infinities, NaN), are flagged; `x ** 0` is 1 for every `x`, as C's `pow`.
#[inline(always)]
pub fn powi<const F: bool, const NB: u32, const NEG: bool>(x: f64, e: u32) -> (f64, bool) {
    const LO: f64 = f64::from_bits(0x03f0_0000_0000_0000); // 2^-960
    const HI: f64 = f64::from_bits(0x7e20_0000_0000_0000); // 2^995
    if NB == 0 {
        return (1.0, false);
    }
    // One unsigned comparison of the magnitude's bits (zeros wrap around to the top, NaN and
    // infinities lie above HI). At AVX-512 a comparison writes a mask register through a
    // single port: `fabs(v) >= LO && fabs(v) <= HI` of both words took `a**3` from 49 to 92 µs
    // (2.4x10^5 elements, one thread), this form of `v` alone 60.
    let out = |v: f64| fabs(v).to_bits().wrapping_sub(LO.to_bits()) > HI.to_bits() - LO.to_bits();
    if F && NB == 2 && !NEG {
        // e is 2 or 3 (`x**3`, the common case, in four operations): x^2 = p + pe exactly,
        // and x^3 = p x + pe x, rounded once by the fused multiply-add with `pe x` rounded
        // first (its error is below 2^-106 |x^3|): as accurate as the loop below. x^2 is p
        // itself, correctly rounded.
        let p = x * x;
        let pe = mla::<F>(x, x, -p);
        let r = mla::<F>(p, x, pe * x);
        let cube = e & 1 == 1;
        // Only the result is checked: when it is in range, so are x^2 and the low words (the
        // range keeps `pe x`, about 2^-53 x^3, normal).
        let v = sel(cube, r, p);
        return (v, out(v));
    }
    let (xs, xt) = split(x);
    let low_bit = e & 1 == 1;
    // r = x^(bits seen so far), b = x^(2^bit); (rs, rt) and (bs, bt) their splits.
    let (mut rh, mut rl) = (sel(low_bit, x, 1.0), 0.0);
    let (mut rs, mut rt) = (sel(low_bit, xs, 1.0), sel(low_bit, xt, 0.0));
    let (mut bh, mut bl, mut bs, mut bt) = (x, 0.0, xs, xt);
    for bit in 1..NB {
        let p = bh * bh;
        // With FMA the products' errors are one instruction each, and no split is needed.
        let pe = if F {
            mla::<F>(bh, bh, -p) + 2.0 * (bh * bl)
        } else {
            ((bs * bs - p) + 2.0 * (bs * bt)) + bt * bt + 2.0 * (bh * bl)
        };
        (bh, bl) = fast_two_sum(p, pe);
        if !F {
            (bs, bt) = split(bh);
        }
        let p = rh * bh;
        let pe = if F {
            mla::<F>(rh, bh, -p) + (rh * bl + rl * bh)
        } else {
            ((rs * bs - p) + rs * bt + rt * bs) + rt * bt + (rh * bl + rl * bh)
        };
        let (h, l) = fast_two_sum(p, pe);
        let on = e >> bit & 1 == 1;
        (rh, rl) = (sel(on, h, rh), sel(on, l, rl));
        if !F && bit + 1 < NB {
            (rs, rt) = split(rh);
        }
    }
    let r = if NEG {
        // 1 / (rh + rl): q, then q + q (1 - q rh - q rl) with q rh exact.
        let q = 1.0 / rh;
        let (p, pe) = two_prod::<F>(q, rh);
        q + q * (((1.0 - p) - pe) - q * rl)
    } else {
        rh + rl
    };
    (r, out(rh) | out(r))
}

/// `sqrt(x^2 + y^2)` without overflow: scaled by a power of two, squares and sum as
/// double-doubles, one corrected square root. inf if either is infinite (even with a NaN).
#[inline(always)]
pub fn hypot<const F: bool>(x: f64, y: f64) -> f64 {
    const P600: f64 = f64::from_bits(0x6570_0000_0000_0000);
    const M600: f64 = f64::from_bits(0x1a70_0000_0000_0000);
    const P450: f64 = f64::from_bits(0x5c10_0000_0000_0000);
    const M450: f64 = f64::from_bits(0x23d0_0000_0000_0000);
    let (ax, ay) = (fabs(x), fabs(y));
    let a = sel(ax > ay, ax, ay);
    // Squares neither overflow nor lose bits to underflow: |a| in (2^-474, 2^450] after.
    let f = sel(a > P450, M600, sel(a < M450, P600, 1.0));
    let (u, v) = (ax * f, ay * f);
    let (p, pe) = two_sqr::<F>(u);
    let (q, qe) = two_sqr::<F>(v);
    let (s, se) = two_sum(p, q);
    let sl = se + pe + qe;
    let h = s.sqrt();
    let (hh, he) = two_sqr::<F>(h);
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
pub fn cbrt<const F: bool>(x: f64) -> f64 {
    let ax = fabs(x);
    let (k, m) = reduce(ax);
    let q = round(k * (1.0 / 3.0));
    let rem = k - 3.0 * q; // -1, 0 or 1
    let v = m * pow2(rem);
    let mut y = horner::<F, 3>(v, &CBRT0);
    for _ in 0..2 {
        let y3 = y * y * y;
        y = y * (y3 + 2.0 * v) / (2.0 * y3 + v);
    }
    let (p, pe) = two_sqr::<F>(y);
    let (c, ce) = two_prod::<F>(p, y);
    let res = ((v - c) - ce) - pe * y;
    let y = y + res / (3.0 * p);
    let r = y * pow2(q);
    let r = sel(ax > 0.0 && ax < f64::INFINITY, r, ax);
    sel(x.is_nan(), x, mulsign(r, x))
}
