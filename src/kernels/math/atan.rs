//! arctan2 (and through it arctan, arcsin, arccos): the quotient `t = min/max` of the operands'
//! magnitudes, in `[0, 1]`, as a double-double; fdlibm's `s_atan.c` reduction (`t` near 0.5 or
//! 1 shifted by `atan(1/2)`, `pi/4`) and its degree-11 odd minimax polynomial; then
//! `pi/2 - z` and `pi - z` for the octant, in double-doubles.

use super::dd::*;

/// fdlibm's `aT[0..10]`: `atan(u) ~ u - u (s1 + s2)`.
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
const ATAN_HALF_LO: f64 = 2.26987774529616870924e-17;
pub const PIO4_HI: f64 = std::f64::consts::FRAC_PI_4;
const PIO4_LO: f64 = 3.06161699786838301793e-17;
const PIO2_HI: f64 = std::f64::consts::FRAC_PI_2;
const PIO2_LO: f64 = 6.12323399573676603587e-17;
const PI_HI: f64 = std::f64::consts::PI;
const PI_LO: f64 = 1.2246467991473531772e-16;
/// `2^600` and `2^-600`.
const P600: f64 = f64::from_bits(0x6570_0000_0000_0000);
const M600: f64 = f64::from_bits(0x1a70_0000_0000_0000);

/// `atan(t + tl)` for `t` in `[0, 1]`, as an unevaluated sum.
#[inline(always)]
fn atan01(t: f64, tl: f64) -> (f64, f64) {
    let id1 = t >= 0.4375;
    let id2 = t >= 0.6875;
    // atan t = atan c + atan((t - c)/(1 + c t)), c = 0, 1/2 or 1; the numerators are exact.
    let num = sel(id2, t - 1.0, sel(id1, 2.0 * t - 1.0, t));
    let (dh, dl) = two_sum(
        sel(id2, t, sel(id1, 2.0, 0.0)),
        sel(id1, sel(id2, 1.0, t), 1.0),
    );
    let bh = sel(id2, PIO4_HI, sel(id1, ATAN_HALF_HI, 0.0));
    let bl = sel(id2, PIO4_LO, sel(id1, ATAN_HALF_LO, 0.0));
    let u = num / dh;
    let (p, pe) = two_prod(u, dh);
    let uc = (((num - p) - pe) - u * dl) / dh;
    let z = u * u;
    let w = z * z;
    let s1 = z * (AT[0] + w * (AT[2] + w * (AT[4] + w * (AT[6] + w * (AT[8] + w * AT[10])))));
    let s2 = w * (AT[1] + w * (AT[3] + w * (AT[5] + w * (AT[7] + w * AT[9]))));
    let (h, e) = two_sum(bh, u);
    let lo = e + bl - u * (s1 + s2) + uc / (1.0 + z) + tl / (1.0 + t * t);
    (h, lo)
}

/// `atan2(yh + yl, xh + xl)` (the low parts: a double-double operand, else 0).
#[inline(always)]
pub fn atan2_dd(y: f64, yl: f64, x: f64, xl: f64) -> f64 {
    let (ax, ay) = (fabs(x), fabs(y));
    let (axl, ayl) = (mulsign(xl, x), mulsign(yl, y));
    let swap = ay > ax;
    let (n, nl) = (sel(swap, ax, ay), sel(swap, axl, ayl));
    let (d, dl) = (sel(swap, ay, ax), sel(swap, ayl, axl));
    // Keep Dekker's product clear of overflow and underflow.
    let f = sel(d > P600, M600, sel(d < M600, P600, 1.0));
    let (n, nl, d, dl) = (n * f, nl * f, d * f, dl * f);
    let t = n / d;
    let (p, pe) = two_prod(t, d);
    let tl = (((n - p) - pe) + nl - t * dl) / d;
    let finite = d > 0.0 && d < f64::INFINITY;
    let tl = sel(finite, tl, 0.0);
    // 0/0 and inf/inf: C99's atan2 gives the octant's edge (0) and its middle (pi/4).
    let t = sel(d == 0.0, 0.0, sel(n == f64::INFINITY, 1.0, t));
    let (zh, zl) = atan01(t, tl);
    let (h, e) = two_sum(PIO2_HI, -zh);
    let (zh, zl) = (sel(swap, h, zh), sel(swap, e + PIO2_LO - zl, zl));
    let (h, e) = two_sum(PI_HI, -zh);
    let neg = x.is_sign_negative();
    let (zh, zl) = (sel(neg, h, zh), sel(neg, e + PI_LO - zl, zl));
    let r = zh + zl;
    sel(x.is_nan() || y.is_nan(), x + y, copysign(r, y))
}

/// `arctan2(y, x)`.
#[inline(always)]
pub fn atan2(y: f64, x: f64) -> f64 {
    atan2_dd(y, 0.0, x, 0.0)
}

/// `arctan x = arctan2(x, 1)`.
#[inline(always)]
pub fn atan(x: f64) -> f64 {
    atan2_dd(x, 0.0, 1.0, 0.0)
}

/// `sqrt(1 - x^2)` as a double-double (NaN for `|x| > 1`).
#[inline(always)]
fn cofactor(x: f64) -> (f64, f64) {
    let (p, pe) = two_sqr(x);
    let (wh, wl) = fast_two_sum(1.0, -p);
    let wl = wl - pe;
    let s = wh.sqrt();
    let (q, qe) = two_sqr(s);
    let c = (((wh - q) - qe) + wl) / (2.0 * s);
    (s, sel(s > 0.0, c, 0.0))
}

/// `arcsin x = arctan2(x, sqrt(1 - x^2))`.
#[inline(always)]
pub fn asin(x: f64) -> f64 {
    let (s, sl) = cofactor(x);
    atan2_dd(x, 0.0, s, sl)
}

/// `arccos x = arctan2(sqrt(1 - x^2), x)`.
#[inline(always)]
pub fn acos(x: f64) -> f64 {
    let (s, sl) = cofactor(x);
    atan2_dd(s, sl, x, 0.0)
}
