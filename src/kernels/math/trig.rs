//! sin, cos, tan: Cody-Waite reduction by `pi/2` with fdlibm's three 33-bit pieces of `pi/2`
//! (`e_rem_pio2.c`) into a double-double `r`, `|r| <= pi/4`, then fdlibm/musl's minimax
//! kernels `__sin`/`__cos` (`k_sin.c`, `k_cos.c`) and a quadrant select. The reduction is exact
//! enough for `|x| < 2^20 pi/2`; larger arguments are left to the driver's exact pass
//! ([`TRIG_MAX`]).

use super::dd::*;

/// Beyond this the fast reduction is not accurate: `needs_exact` (std's Payne-Hanek).
pub const TRIG_MAX: f64 = 1.6e6;

pub const INV_PIO2: f64 = std::f64::consts::FRAC_2_PI;
pub const PIO2_1: f64 = 1.57079632673412561417e+00;
pub const PIO2_2: f64 = 6.07710050630396597660e-11;
pub const PIO2_3: f64 = 2.02226624871116645580e-21;
const PIO2_3T: f64 = 8.47842766036889956997e-32;

pub const S1: f64 = -1.66666666666666324348e-01;
pub const S2: f64 = 8.33333333332248946124e-03;
pub const S3: f64 = -1.98412698298579493134e-04;
pub const S4: f64 = 2.75573137070700676789e-06;
pub const S5: f64 = -2.50507602534068634195e-08;
pub const S6: f64 = 1.58969099521155010221e-10;

pub const C1: f64 = 4.16666666666666019037e-02;
pub const C2: f64 = -1.38888888888741095749e-03;
pub const C3: f64 = 2.48015872894767294178e-05;
pub const C4: f64 = -2.75573143513906633035e-07;
pub const C5: f64 = 2.08757232129817482790e-09;
pub const C6: f64 = -1.13596475577881948265e-11;

/// `x = k pi/2 + (rh + rl)`: returns `(k mod 4, rh, rl)` for `|x| < TRIG_MAX`.
#[inline(always)]
fn reduce(x: f64) -> (u64, f64, f64) {
    let t = x * INV_PIO2 + MAGIC;
    let k = t - MAGIC;
    let q = t.to_bits() & 3;
    let a = x - k * PIO2_1; // exact: k * PIO2_1 is, and Sterbenz
    let (s1, e1) = two_sum(a, -(k * PIO2_2));
    let (s2, e2) = two_sum(s1, -(k * PIO2_3));
    let lo = (e1 + e2) - k * PIO2_3T;
    let (rh, rl) = fast_two_sum(s2, lo);
    (q, rh, rl)
}

/// `sin(x + y)` for `|x| <= pi/4`, `|y| < ulp(x)`, as an unevaluated sum `hi + lo` (musl
/// `__sin`).
#[inline(always)]
fn ksin(x: f64, y: f64) -> (f64, f64) {
    let z = x * x;
    let w = z * z;
    let r = S2 + z * (S3 + z * S4) + z * w * (S5 + z * S6);
    let v = z * x;
    (x, -((z * (0.5 * y - v * r) - y) - v * S1))
}

/// `cos(x + y)` as [`ksin`] (musl `__cos`).
#[inline(always)]
fn kcos(x: f64, y: f64) -> (f64, f64) {
    let z = x * x;
    let w = z * z;
    let r = z * (C1 + z * (C2 + z * C3)) + w * w * (C4 + z * (C5 + z * C6));
    let hz = 0.5 * z;
    let w = 1.0 - hz;
    (w, ((1.0 - w) - hz) + (z * r - x * y))
}

/// Picks `a` where the mask is all ones, else `b`, bitwise.
#[inline(always)]
fn pick(mask: u64, a: f64, b: f64) -> f64 {
    f64::from_bits((a.to_bits() & mask) | (b.to_bits() & !mask))
}

/// The sine (or the cosine, `cos = true`).
#[inline(always)]
fn sincos(x: f64, cos: bool) -> f64 {
    let (q, rh, rl) = reduce(x);
    let (sh, sl) = ksin(rh, rl);
    let (ch, cl) = kcos(rh, rl);
    let (s, c) = (sh + sl, ch + cl);
    let q = if cos { q + 1 } else { q };
    let odd = (q & 1).wrapping_neg();
    let r = pick(odd, c, s);
    f64::from_bits(r.to_bits() ^ ((q & 2) << 62))
}

/// `sin x` (`|x| < TRIG_MAX`, else any value).
#[inline(always)]
pub fn sin(x: f64) -> f64 {
    sel(fabs(x) < 1e-8, x, sincos(x, false))
}

/// `cos x` (`|x| < TRIG_MAX`, else any value).
#[inline(always)]
pub fn cos(x: f64) -> f64 {
    sincos(x, true)
}

/// `tan x = sin/cos` (or `-cos/sin` in odd quadrants) as a double-double quotient
/// (`|x| < TRIG_MAX`, else any value).
#[inline(always)]
pub fn tan(x: f64) -> f64 {
    let (q, rh, rl) = reduce(x);
    let (sh, sl) = ksin(rh, rl);
    let (ch, cl) = kcos(rh, rl);
    let (sh, sl) = fast_two_sum(sh, sl);
    let (ch, cl) = fast_two_sum(ch, cl);
    let odd = (q & 1).wrapping_neg();
    // Numerator and denominator: (s, c), or (c, s) with the sign flipped later.
    let (nh, nl) = (pick(odd, ch, sh), pick(odd, cl, sl));
    let (dh, dl) = (pick(odd, sh, ch), pick(odd, sl, cl));
    let t = nh / dh;
    let (p, pe) = two_prod(t, dh);
    let tc = (((nh - p) - pe) + nl - t * dl) / dh;
    let r = t + tc;
    let r = f64::from_bits(r.to_bits() ^ ((q & 1) << 63));
    sel(fabs(x) < 1e-8, x, r)
}
