//! arctan2 (and through it arctan, arcsin, arccos): with `t = min/max` of the operands'
//! magnitudes in `[0, 1]`, fdlibm's `s_atan.c` reduction (`t` near 0.5 or 1 shifted by
//! `atan(1/2)`, `pi/4`) computed straight from the operands as one double-double quotient, and
//! its degree-11 odd minimax polynomial; then `pi/2 - z` and `pi - z` for the octant, in
//! double-doubles.

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

/// `atan2(yh + yl, xh + xl)` (the low parts: a double-double operand, else 0).
///
/// With `n`, `d` the smaller and larger magnitudes, `atan(n/d) = atan c + atan u`,
/// `u = (n - c d)/(d + c n)` for `c = 0`, `1/2` or `1` as `n/d` is below `7/16`, below `11/16`
/// or not (the choice needs no quotient: `7/16 d` and `11/16 d` are exact). `n - c d` is exact
/// (Sterbenz), so one double-double division gives `u`: one division on the critical path
/// instead of fdlibm's two in a row (`t = n/d`, then `u` from `t`).
#[inline(always)]
pub fn atan2_dd<const F: bool>(y: f64, yl: f64, x: f64, xl: f64) -> f64 {
    let (ax, ay) = (fabs(x), fabs(y));
    let (axl, ayl) = (mulsign(xl, x), mulsign(yl, y));
    let swap = ay > ax;
    let (n, nl) = (sel(swap, ax, ay), sel(swap, axl, ayl));
    let (d, dl) = (sel(swap, ay, ax), sel(swap, ayl, axl));
    // Keep the exact products clear of overflow and underflow.
    let f = sel(d > P600, M600, sel(d < M600, P600, 1.0));
    let (n, nl, d, dl) = (n * f, nl * f, d * f, dl * f);
    let nonzero = d > 0.0;
    let id1 = nonzero && n >= 0.4375 * d;
    let id2 = nonzero && n >= 0.6875 * d;
    let c = sel(id2, 1.0, sel(id1, 0.5, 0.0));
    let (den, de) = two_sum(d, c * n);
    let (u, uc) = div_dd::<F>(n - c * d, nl - c * dl, den, de + dl + c * nl);
    // 0/0 and inf/inf: C99's atan2 gives the octant's edge (0) and its middle (pi/4, c = 1).
    let finite = nonzero && d < f64::INFINITY;
    let (u, uc) = (sel(finite, u, 0.0), sel(finite, uc, 0.0));
    let z = u * u;
    let w = z * z;
    let s1 = z * horner::<F, 6>(w, &[AT[0], AT[2], AT[4], AT[6], AT[8], AT[10]]);
    let s2 = w * horner::<F, 5>(w, &[AT[1], AT[3], AT[5], AT[7], AT[9]]);
    // The octant: |atan2| = K + s (atan c + atan(u + uc)) with K = 0, pi/2 or pi and s = -1
    // when exactly one of swap (pi/2 - z) and a negative x (pi - z) holds. K + s atan c depends
    // on no quotient, so the one two-sum after u is the only one on the critical path.
    let neg = x.is_sign_negative();
    let (kh, kl) = (
        sel(swap, PIO2_HI, sel(neg, PI_HI, 0.0)),
        sel(swap, PIO2_LO, sel(neg, PI_LO, 0.0)),
    );
    let flip = |v: f64| sel(swap != neg, -v, v);
    let bh = flip(sel(id2, PIO4_HI, sel(id1, ATAN_HALF_HI, 0.0)));
    let bl = flip(sel(id2, PIO4_LO, sel(id1, ATAN_HALF_LO, 0.0)));
    let (base, be) = two_sum(kh, bh);
    let (h, e) = two_sum(base, flip(u));
    // atan(u + uc) = atan u + uc (1 - u^2 + ...): uc is about an ulp of u, u^2 < 0.2.
    let tail = flip(mla::<F>(-uc, z, uc) - u * (s1 + s2));
    let r = h + (e + ((be + kl + bl) + tail));
    sel(x.is_nan() || y.is_nan(), x + y, copysign(r, y))
}

/// `arctan2(y, x)`.
#[inline(always)]
pub fn atan2<const F: bool>(y: f64, x: f64) -> f64 {
    atan2_dd::<F>(y, 0.0, x, 0.0)
}

/// `arctan x = arctan2(x, 1)`.
#[inline(always)]
pub fn atan<const F: bool>(x: f64) -> f64 {
    atan2_dd::<F>(x, 0.0, 1.0, 0.0)
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
    atan2_dd::<F>(x, 0.0, s, sl)
}

/// `arccos x = arctan2(sqrt(1 - x^2), x)`.
#[inline(always)]
pub fn acos<const F: bool>(x: f64) -> f64 {
    let (s, sl) = cofactor::<F>(x);
    atan2_dd::<F>(s, sl, x, 0.0)
}
