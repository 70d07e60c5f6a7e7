//! arctan2 (and through it arctan, arcsin, arccos). With `n <= d` the operands' magnitudes,
//! `atan(n/d) = c pi/4 + atan u`, `u = (n - c d)/(d + c n)`, with `c = 1` above `n/d = tan(pi/8)`
//! and `c = 0` below, so `|u| <= tan(pi/8)`; `u` is one double-double quotient of the operands,
//! `atan u` a minimax polynomial, and the octant adds a multiple of `pi/4`, exactly (see
//! `atan2_core`).
//!
//! float32's arctan2 ([`super::single`]) keeps fdlibm's `s_atan.c` reduction and polynomial
//! [`AT`].

use super::dd::*;

/// fdlibm's `aT[0..10]`: `atan(u) ~ u - u (s1 + s2)` for `|u| <= 7/16` (float32's arctan2).
pub const AT: [f64; 11] = [
    3.33333333333329318027e-01,
    -1.99999999998764832476e-01,
    1.42857142725034663711e-01,
    -1.11111104054623557880e-01,
    9.09088713343650656196e-02,
    -7.69187620504482999495e-02,
    6.66107313738753120669e-02,
    -5.83357013379057348645e-02,
    4.97687799461593236017e-02,
    -3.65315727442169155270e-02,
    1.62858201153657823623e-02,
];
pub const ATAN_HALF_HI: f64 = 4.63647609000806093515e-01;
/// `pi/4 = PIO4_HI + PIO4_LO`; `PIO4_HI` ends in three zero bits, so `m PIO4_HI` is exact for
/// the integers `m <= 7`.
pub const PIO4_HI: f64 = std::f64::consts::FRAC_PI_4;
const PIO4_LO: f64 = 3.06161699786838301793e-17;

/// `atan u ~ u + u^3 P(u^2)`, `P`'s coefficients: minimax for the relative error of `atan u` on
/// `|u| <= 0.41422` (`tan(pi/8)` and a margin for the rounded threshold test), `2^-59.4`. From a
/// Remez exchange in 60-digit `mpmath` (`tools/atan_minimax.py`), each coefficient rounded to
/// float64 in turn and the rest refitted; the bound is that of the rounded coefficients,
/// evaluated exactly on a 20001-point grid.
const AT8: [f64; 11] = [
    -0.333333333333332,
    0.19999999999953674,
    -0.14285714280199954,
    0.11111110783523807,
    -0.09090897758657865,
    0.07692060233915532,
    -0.06663104395741332,
    0.05847893123860829,
    -0.050393285033051974,
    0.038065341932370086,
    -0.017908261673622784,
];
/// `tan(pi/8)`: `c = 1` from here on makes `|u| <= tan(pi/8)` on both sides.
const TAU: f64 = 0.41421356237309503;
/// `2^500`, `2^-500`, `2^400`.
const P500: f64 = f64::from_bits(0x5f30_0000_0000_0000);
const M500: f64 = f64::from_bits(0x20b0_0000_0000_0000);
const P400: f64 = f64::from_bits(0x58f0_0000_0000_0000);

/// `arctan2(y + yl, x + xl)`; with `DD` the low parts are those of a double-double operand,
/// without it they are ignored (and cost nothing).
///
/// With `n <= d` the magnitudes and `c` = 0 or 1 (`n >= tan(pi/8) d`, no quotient needed),
/// `|atan2| = m pi/4 + s (atan u)`, `u = (n - c d)/(d + c n)`: `m` = 0 to 4 and the sign `s`
/// from `c`, the swap (`|y| > |x|`: `pi/2 - t`) and `x`'s sign (`pi - t`). The sign is put into
/// the numerator, so `u` itself is signed and the polynomial (odd) needs no fix-up.
///
/// Exact parts: scaling by a power of two (`2^400` below `d = 2^500`, `2^-500` above) keeps
/// `d + n` from overflowing, `1/(d + cn)` from being subnormal, and residuals from underflow
/// (Dekker's split without FMA needs `|den| < 2^995`, here `<= 2^901`); it is exact except when
/// the result is subnormal anyway. `num + nl = n - c d` and `den + de = d + c n` are exact
/// (Dekker's fast two-sum: `c d >= n`, `d >= c n`). `m PIO4_HI + u = h + e` exactly (fast
/// two-sum with the exact product, `m PIO4_HI > |u|` unless `m = 0`).
///
/// Error bound (binary64, `2^-53` = half an ulp of 1; `q` the exact quotient): `u = fl(num
/// fl(1/den))` is within `4·2^-53 |q|` of `q` (two roundings, `nl/num` and `de/den` below
/// `2^-53` each), and the residual correction `uc` brings `u + uc` within `2^-101 |q|`.
/// `atan(u + uc) = atan u + uc/(1 + u^2)`, taken as `uc (1 - u^2)`: off by
/// `|uc| u^4/(1 + u^2) <= 0.1·2^-53 |u|`. The polynomial: `2^-59.4 |atan u|`; evaluating it,
/// `z = u^2`, `P(z)` (terms shrinking by `z/2` or faster) and `z P` round to within
/// `1.08 z·2^-53` of `z P(z)`, so `u z P` to within `0.19·2^-53 |u|`. The three small sums
/// (`tail`, `lo`, `lo + e`, each at most `(z/3 + 2^-51)|u|`) round to within
/// `z·2^-53 |u|` together. So before the last rounding `h + (lo + e)` is within
/// `2^-53 |u| (4 z^2/(1+z) + 2.08 z) + 2^-59.4 |atan u|` of the exact value `T`, which over
/// every octant case (`|u| <= 1.055 |T|`: `T >= pi/8` when `m >= 1`) is at most 0.39 ulp of
/// `T`, largest at `T = pi/8`. The result is within 0.89 ulp of `atan2`: faithful, at most one
/// ulp from the correctly rounded value (measured against mpmath: 0.67). For subnormal
/// results (`q < 2^-1022`) the operand scaling and `u`'s rounding add at most half an
/// ulp each: below one ulp too. Without FMA (`F = false`) the quotient's residual is Dekker's
/// product, and the other steps round as analysed.
///
/// With double-double operands (`arcsin`, `arccos`) their low parts join `nl` and `de`; `nl`
/// is then not always below `2^-53 num` (`n - c d` may cancel), but the residual correction
/// still gives `u + uc` to `2^-100` of the result, and `|uc| <= 2^-52` keeps the
/// `uc (1 - u^2)` term's error below `2^-57` (measured against mpmath: 0.65 ulp).
///
/// Special values follow C99: `0/0` (`d` raised to the least normal, so `u = 0`) gives the
/// octant's edge (`m` = 0 or 4), `inf/inf` (`c = 1`, `u` set to 0) its middle (`pi/4`, `3pi/4`),
/// a finite over an infinite magnitude `0`, `pi/2` or `pi`; NaN propagates through `d` or `n`.
#[inline(always)]
fn atan2_core<const F: bool, const DD: bool>(y: f64, yl: f64, x: f64, xl: f64) -> f64 {
    let (ax, ay) = (fabs(x), fabs(y));
    let swap = ay > ax;
    let (n, d) = (sel(swap, ax, ay), sel(swap, ay, ax));
    let f = sel(d > P500, M500, P400);
    let (n, d) = (n * f, d * f);
    let d = sel(f64::MIN_POSITIVE > d, f64::MIN_POSITIVE, d);
    let id = n >= TAU * d;
    let (cd, cn) = (sel(id, d, 0.0), sel(id, n, 0.0));
    let (num, nl) = fast_two_sum(-cd, n);
    let (den, de) = fast_two_sum(d, cn);
    let (nl, de) = if DD {
        let (axl, ayl) = (mulsign(xl, x) * f, mulsign(yl, y) * f);
        let (ml, dl) = (sel(swap, axl, ayl), sel(swap, ayl, axl));
        (nl + (ml - sel(id, dl, 0.0)), de + (dl + sel(id, ml, 0.0)))
    } else {
        (nl, de)
    };
    let neg = x.is_sign_negative();
    let flip = swap != neg;
    let (num, nl) = (sel(flip, -num, num), sel(flip, -nl, nl));
    // div_dd, with q dl fused too: one instruction fewer, and at least as accurate.
    let (u, uc) = if F {
        let inv = 1.0 / den;
        let u = num * inv;
        (u, mla::<F>(-u, de, mla::<F>(-u, den, num) + nl) * inv)
    } else {
        div_dd::<F>(num, nl, den, de)
    };
    // An infinite d: u = 0 (n/inf, or inf/inf at the octant's middle), unless n is NaN.
    let ok = d != f64::INFINITY || n.is_nan();
    let (u, uc) = (sel(ok, u, 0.0), sel(ok, uc, 0.0));
    let z = u * u;
    // Even and odd halves in z^2: two shorter dependency chains than Horner's in z.
    let w = z * z;
    let pe = horner::<F, 6>(w, &[AT8[0], AT8[2], AT8[4], AT8[6], AT8[8], AT8[10]]);
    let po = horner::<F, 5>(w, &[AT8[1], AT8[3], AT8[5], AT8[7], AT8[9]]);
    let p = z * mla::<F>(z, po, pe);
    let tail = mla::<F>(u, p, mla::<F>(-uc, z, uc));
    let m = sel(id, sel(neg, 3.0, 1.0), sel(swap, 2.0, sel(neg, 4.0, 0.0)));
    let h = mla::<F>(m, PIO4_HI, u);
    let e = u - mla::<F>(-m, PIO4_HI, h);
    let r = h + (mla::<F>(m, PIO4_LO, tail) + e);
    copysign(r, y)
}

/// `arctan2(y, x)`.
#[inline(always)]
pub fn atan2<const F: bool>(y: f64, x: f64) -> f64 {
    atan2_core::<F, false>(y, 0.0, x, 0.0)
}

/// `arctan x = arctan2(x, 1)`.
#[inline(always)]
pub fn atan<const F: bool>(x: f64) -> f64 {
    atan2::<F>(x, 1.0)
}

/// `sqrt(1 - x^2)` as a double-double (NaN for `|x| > 1`).
#[inline(always)]
fn cofactor<const F: bool>(x: f64) -> (f64, f64) {
    let (p, pe) = two_sqr::<F>(x);
    let (wh, wl) = fast_two_sum(1.0, -p);
    let wl = wl - pe;
    let s = wh.sqrt();
    let (q, qe) = two_sqr::<F>(s);
    let c = (((wh - q) - qe) + wl) / (2.0 * s);
    (s, sel(s > 0.0, c, 0.0))
}

/// `arcsin x = arctan2(x, sqrt(1 - x^2))`.
#[inline(always)]
pub fn asin<const F: bool>(x: f64) -> f64 {
    let (s, sl) = cofactor::<F>(x);
    atan2_core::<F, true>(x, 0.0, s, sl)
}

/// `arccos x = arctan2(sqrt(1 - x^2), x)`.
#[inline(always)]
pub fn acos<const F: bool>(x: f64) -> f64 {
    let (s, sl) = cofactor::<F>(x);
    atan2_core::<F, true>(s, sl, x, 0.0)
}
