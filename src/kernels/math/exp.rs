//! exp, exp2, expm1 and the hyperbolic functions, over one core: `exp(x) = 2^k (1 + q)` with
//! `k = round(x / ln 2)`, `r = x - k ln 2` (Cody-Waite, two constants), `q = expm1(r)` as a
//! double-double from a Taylor polynomial of degree 13 on `|r| <= ln(2)/2`.

use super::dd::*;

/// `ln 2` split as fdlibm's `e_exp.c`: the high part has 32 significant bits, so `k * LN2_HI` is
/// exact for `|k| < 2^21`.
pub const LN2_HI: f64 = 6.93147180369123816490e-01;
pub const LN2_LO: f64 = 1.90821492927058770002e-10;
pub const INV_LN2: f64 = std::f64::consts::LOG2_E;
/// `ln 2` as a double-double of full doubles.
pub const LN2_D: f64 = std::f64::consts::LN_2;
pub const LN2_D_LO: f64 = 2.3190468138462996e-17;

/// `1/3!, 1/4!, ..., 1/13!`: `expm1(r) = r + r^2/2 + r^3 P(r)`; the Taylor remainder is below
/// `|r|^14/14! < 2^-57` on `|r| <= 0.3466`.
pub const P: [f64; 11] = [
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5040.0,
    1.0 / 40320.0,
    1.0 / 362880.0,
    1.0 / 3628800.0,
    1.0 / 39916800.0,
    1.0 / 479001600.0,
    1.0 / 6227020800.0,
];

/// `exp(xh + xl) = 2^k (1 + qh + ql)` for `|xh| <= 1100`, `|xl| <= ulp(xh)`: returns
/// `(k, qh, ql)`, `|qh| <= 0.42`, with a relative error of `1 + q` near `2^-57`.
#[inline(always)]
pub fn exp_core<const F: bool>(xh: f64, xl: f64) -> (f64, f64, f64) {
    let k = round(xh * INV_LN2);
    let hi = mla::<F>(-k, LN2_HI, xh); // exact
    let lo = mla::<F>(-k, LN2_LO, xl);
    let (r, c) = two_sum(hi, lo);
    let (p, pe) = two_sqr::<F>(r);
    let (h, he) = (p * 0.5, pe * 0.5);
    let (s, se) = fast_two_sum(r, h);
    let poly = p * r * estrin11::<F>(r, &P);
    let rest = mla::<F>(c, 1.0 + s, se + he + poly);
    let (qh, ql) = fast_two_sum(s, rest);
    (k, qh, ql)
}

/// `2^k (1 + qh + ql)` rounded once (`k` in `[-2044, 2046]`).
#[inline(always)]
fn finish<const F: bool>(k: f64, qh: f64, ql: f64) -> f64 {
    let (y, ye) = fast_two_sum(1.0, qh);
    scale(y + (ye + ql), k)
}

/// `2^k (1 + qh + ql) - 1` as a double-double, for `k` in `[-1022, 60]`.
#[inline(always)]
fn em1_dd<const F: bool>(k: f64, qh: f64, ql: f64) -> (f64, f64) {
    let pk = pow2(k);
    let (m, me) = two_sum(pk, -1.0);
    let (s, e) = two_sum(m, pk * qh);
    fast_two_sum(s, e + me + pk * ql)
}

/// `e^x`.
#[inline(always)]
pub fn exp<const F: bool>(x: f64) -> f64 {
    let xc = sel(x > 710.0, 710.0, sel(x < -746.0, -746.0, x));
    let (k, qh, ql) = exp_core::<F>(xc, 0.0);
    finish::<F>(k, qh, ql)
}

/// `2^x`: `k = round(x)`, `2^(x-k) = exp((x-k) ln 2)` with the product as a double-double.
#[inline(always)]
pub fn exp2<const F: bool>(x: f64) -> f64 {
    let xc = sel(x > 1025.0, 1025.0, sel(x < -1080.0, -1080.0, x));
    let k = round(xc);
    let f = xc - k;
    let (rh, rl) = two_prod::<F>(f, LN2_D);
    let (k2, qh, ql) = exp_core::<F>(rh, rl + f * LN2_D_LO);
    finish::<F>(k + k2, qh, ql)
}

/// `e^x - 1`.
#[inline(always)]
pub fn expm1<const F: bool>(x: f64) -> f64 {
    let xc = sel(x > 710.0, 710.0, sel(x < -50.0, -50.0, x));
    let (k, qh, ql) = exp_core::<F>(xc, 0.0);
    let big = finish::<F>(k, qh, ql);
    let (eh, el) = em1_dd::<F>(sel(k > 56.0, 0.0, k), qh, ql);
    let r = sel(k > 56.0, big, eh + el);
    sel(fabs(x) < 5.6e-17, x, r)
}

/// `sinh x = (E + E/(E+1))/2` with `E = expm1|x|` as a double-double up to `|x| = 20`, then
/// `e^|x| / 2`.
#[inline(always)]
pub fn sinh<const F: bool>(x: f64) -> f64 {
    let a = fabs(x);
    let ac = sel(a > 711.0, 711.0, a);
    let (k, qh, ql) = exp_core::<F>(ac, 0.0);
    let big = finish::<F>(k - 1.0, qh, ql);
    let (eh, el) = em1_dd::<F>(sel(a > 20.0, 0.0, k), qh, ql);
    let (dh, dl0) = two_sum(eh, 1.0);
    let dl = dl0 + el;
    let (q, qc) = div_dd::<F>(eh, el, dh, dl);
    let (s, e) = two_sum(eh, q);
    let small = (s + (e + el + qc)) * 0.5;
    let r = sel(a > 20.0, big, small);
    sel(a < 7.5e-9, x, mulsign(r, x))
}

/// `cosh x = (Y + 1/Y)/2` with `Y = e^|x|` as a double-double up to `|x| = 20`, then `e^|x|/2`.
#[inline(always)]
pub fn cosh<const F: bool>(x: f64) -> f64 {
    let a = fabs(x);
    let ac = sel(a > 711.0, 711.0, a);
    let (k, qh, ql) = exp_core::<F>(ac, 0.0);
    let big = finish::<F>(k - 1.0, qh, ql);
    let pk = pow2(sel(a > 20.0, 0.0, k));
    let (y0, y1) = fast_two_sum(1.0, qh);
    let (yh, yl) = (y0 * pk, (y1 + ql) * pk);
    let (inv, ic) = div_dd::<F>(1.0, 0.0, yh, yl);
    let (s, e) = two_sum(yh, inv);
    let small = (s + (e + yl + ic)) * 0.5;
    sel(a > 20.0, big, small)
}

/// `tanh x = E/(E+2)` with `E = expm1(2|x|)` as a double-double; 1 beyond `|x| = 20`.
#[inline(always)]
pub fn tanh<const F: bool>(x: f64) -> f64 {
    let a = fabs(x);
    let ac = sel(a > 20.0, 20.0, a);
    let (k, qh, ql) = exp_core::<F>(2.0 * ac, 0.0);
    let (eh, el) = em1_dd::<F>(k, qh, ql);
    let (dh, dl0) = two_sum(eh, 2.0);
    let dl = dl0 + el;
    let (q, qc) = div_dd::<F>(eh, el, dh, dl);
    let r = q + qc;
    sel(a < 7.5e-9, x, mulsign(r, x))
}
