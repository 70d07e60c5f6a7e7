//! sin, cos, tan: Cody-Waite reduction by `pi/2` with fdlibm's three 33-bit pieces of `pi/2`
//! (`e_rem_pio2.c`) into a double-double `r`, `|r| <= pi/4`, then fdlibm/musl's minimax
//! kernels `__sin`/`__cos` (`k_sin.c`, `k_cos.c`) and a quadrant select. The reduction is exact
//! enough for `|x| < 2^20 pi/2`; larger arguments are left to the driver's exact pass
//! ([`TRIG_MAX`]).
//!
//! With fused multiply-add, sin and cos take a shorter road ([`reduce_half_period`] and `half_period`): a reduction by
//! `pi` (or by `pi` about `pi/2` for the cosine) to `|r| <= pi/2`, one odd Taylor polynomial and
//! a sign, a third of the work of evaluating both of fdlibm's kernels and selecting one.

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
fn reduce<const F: bool>(x: f64) -> (u64, f64, f64) {
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
fn ksin<const F: bool>(x: f64, y: f64) -> (f64, f64) {
    let z = x * x;
    let w = z * z;
    let r = mla::<F>(
        z * w,
        mla::<F>(z, S6, S5),
        mla::<F>(z, mla::<F>(z, S4, S3), S2),
    );
    let v = z * x;
    let t = mla::<F>(z, mla::<F>(-v, r, 0.5 * y), -y);
    (x, -mla::<F>(-v, S1, t))
}

/// `cos(x + y)` as [`ksin`] (musl `__cos`).
#[inline(always)]
fn kcos<const F: bool>(x: f64, y: f64) -> (f64, f64) {
    let z = x * x;
    let w = z * z;
    let r = mla::<F>(
        w * w,
        mla::<F>(z, mla::<F>(z, C6, C5), C4),
        z * mla::<F>(z, mla::<F>(z, C3, C2), C1),
    );
    let hz = 0.5 * z;
    let w = 1.0 - hz;
    (w, ((1.0 - w) - hz) + mla::<F>(z, r, -(x * y)))
}

/// Picks `a` where the mask is all ones, else `b`, bitwise.
#[inline(always)]
fn pick(mask: u64, a: f64, b: f64) -> f64 {
    f64::from_bits((a.to_bits() & mask) | (b.to_bits() & !mask))
}

/// The sine (or the cosine, `cos = true`).
#[inline(always)]
fn sincos<const F: bool>(x: f64, cos: bool) -> f64 {
    let (q, rh, rl) = reduce::<F>(x);
    let (sh, sl) = ksin::<F>(rh, rl);
    let (ch, cl) = kcos::<F>(rh, rl);
    let (s, c) = (sh + sl, ch + cl);
    let q = if cos { q + 1 } else { q };
    let odd = (q & 1).wrapping_neg();
    let r = pick(odd, c, s);
    f64::from_bits(r.to_bits() ^ ((q & 2) << 62))
}

/// `pi` as three doubles (the first two are `fl(pi)` and `fl(pi - fl(pi))`).
const PI_A: f64 = std::f64::consts::PI;
const PI_B: f64 = 1.2246467991473532e-16;
const PI_C: f64 = -2.9947698097183397e-33;
const INV_PI: f64 = std::f64::consts::FRAC_1_PI;

/// `-1/6 - fl(-1/6)`.
const C3_LO: f64 = -9.25185853854297e-18;

/// `n!` (exact in a double up to `n = 22`).
const fn factorial(n: u32) -> f64 {
    let mut r = 1.0;
    let mut i = 2;
    while i <= n {
        r *= i as f64;
        i += 1;
    }
    r
}

/// `sin r = r + r^3 (-1/3! + r^2/5! - ... + r^18/21!)`: on `|r| <= pi/2 + 2^-20` the next term
/// is below `2^-59` relative.
pub const SIN_TAYLOR: [f64; 10] = {
    let mut c = [0.0; 10];
    let mut i = 0;
    while i < 10 {
        let v = 1.0 / factorial(2 * i as u32 + 3);
        c[i] = if i % 2 == 0 { -v } else { v };
        i += 1;
    }
    c
};

/// The reduction of `half_period`: `x = h pi/2 + r`, `|r| <= pi/2`, with `h = 2k` for the
/// sine (`COS = false`) and `h = 2k + 1` for the cosine; returns `r` and the sign bit to apply
/// to `sin r` (the parity of `k`, of `k + 1` for the cosine). Needs fused multiply-add: `h
/// fl(pi/2)` and `x` are both multiples of `ulp(x)` or of `2^-52`, so the first step
/// `x - h fl(pi/2)` is exact whenever the result is small, and the two further pieces of `pi/2`
/// bring `r` within half an ulp (plus `2^-95`).
#[inline(always)]
pub fn reduce_half_period<const COS: bool>(x: f64) -> (f64, u64) {
    let t = if COS {
        mla::<true>(x, INV_PI, -0.5) + MAGIC
    } else {
        x * INV_PI + MAGIC
    };
    let k = t - MAGIC;
    let h = if COS { 2.0 * k + 1.0 } else { 2.0 * k };
    let r = mla::<true>(-h, 0.5 * PI_A, x);
    let r = mla::<true>(-h, 0.5 * PI_B, r);
    let r = mla::<true>(-h, 0.5 * PI_C, r);
    // sin(r + k pi) = (-1)^k sin r; cos x = sin(r + (k + 1/2) pi) = (-1)^(k + 1) sin r.
    (r, ((t.to_bits() & 1) ^ COS as u64) << 63)
}

/// `sin x` (`COS = false`) or `cos x` for the levels with fused multiply-add: one odd
/// polynomial after [`reduce_half_period`], a third of the work of fdlibm's two kernels and a
/// select. `sin r = r - r^3/6 + r^5 T(r^2)`: near `|r| = pi/2` the cubic term is a third of `r`,
/// so it and its sum with `r` are double-doubles (`r^3` and `-1/6` too); the rest is below a
/// twelfth of the result, where plain rounding costs a fraction of an ulp. Measured: 1 ulp from
/// glibc, as fdlibm's road.
#[inline(always)]
fn half_period<const COS: bool>(x: f64) -> f64 {
    let (r, sign) = reduce_half_period::<COS>(x);
    let z = r * r;
    let zl = mla::<true>(r, r, -z);
    let p = z * r;
    let pl = mla::<true>(z, r, -p) + zl * r;
    let m = p * SIN_TAYLOR[0];
    let ml = mla::<true>(p, SIN_TAYLOR[0], -m) + mla::<true>(pl, SIN_TAYLOR[0], p * C3_LO);
    let c: &[f64; 9] = SIN_TAYLOR[1..].first_chunk().expect("9 terms");
    let tail = (p * z) * horner::<true, 9>(z, c);
    let (h, e) = fast_two_sum(r, m);
    let s = h + (e + (ml + tail));
    f64::from_bits(s.to_bits() ^ sign)
}

/// `sin x` (`|x| < TRIG_MAX`, else any value).
#[inline(always)]
pub fn sin<const F: bool>(x: f64) -> f64 {
    let r = if F {
        half_period::<false>(x)
    } else {
        sincos::<F>(x, false)
    };
    sel(fabs(x) < 1e-8, x, r)
}

/// `cos x` (`|x| < TRIG_MAX`, else any value).
#[inline(always)]
pub fn cos<const F: bool>(x: f64) -> f64 {
    if F {
        half_period::<true>(x)
    } else {
        sincos::<F>(x, true)
    }
}

/// `tan x = sin/cos` (or `-cos/sin` in odd quadrants) as a double-double quotient
/// (`|x| < TRIG_MAX`, else any value).
#[inline(always)]
pub fn tan<const F: bool>(x: f64) -> f64 {
    let (q, rh, rl) = reduce::<F>(x);
    let (sh, sl) = ksin::<F>(rh, rl);
    let (ch, cl) = kcos::<F>(rh, rl);
    let (sh, sl) = fast_two_sum(sh, sl);
    let (ch, cl) = fast_two_sum(ch, cl);
    let odd = (q & 1).wrapping_neg();
    // Numerator and denominator: (s, c), or (c, s) with the sign flipped later.
    let (nh, nl) = (pick(odd, ch, sh), pick(odd, cl, sl));
    let (dh, dl) = (pick(odd, sh, ch), pick(odd, sl, cl));
    let t = nh / dh;
    let (p, pe) = two_prod::<F>(t, dh);
    let tc = (((nh - p) - pe) + nl - t * dl) / dh;
    let r = t + tc;
    let r = f64::from_bits(r.to_bits() ^ ((q & 1) << 63));
    sel(fabs(x) < 1e-8, x, r)
}
