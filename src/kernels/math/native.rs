//! The float32 entry points of the math functions, and native float32 code for the levels with
//! fused multiply-add.
//!
//! [`super::single`] evaluates float32 functions in float64 (0.50 ulp, but 8 lanes per AVX-512
//! vector, 4 per AVX2 one). At the FMA levels (`F = true`) the functions below compute in
//! float32 itself, 16 (AVX-512) or 8 (AVX2) lanes per vector: Cody-Waite reductions whose first
//! step is exact by a fused multiply-add, minimax polynomials with float32 coefficients
//! (`tools/f32_minimax.py`), and the last few additions as unevaluated float32 pairs (exact
//! two-sums and fused-multiply-add residuals) so that the final rounding dominates: about
//! 0.56-0.97 ulp instead of 0.50 (measured over every float32, `tests/ulp.rs`'s `every_float32`:
//! exp 0.77, expm1 0.74, log 0.62, log2 0.70, log10 0.63, log1p 0.70, sin 0.76, cos 0.74,
//! tan 0.97, sinh 0.67, cosh 0.56, tanh 0.69). At SSE2 (`F = false`) there is no fused
//! multiply-add to make the reductions exact, and the functions keep [`super::single`]'s float64
//! road; so do arctan, arctan2 and the small integral powers at every level.
//!
//! The same rules as the float64 code apply: straight-line code over one element (selects, bit
//! operations, the `1.5 * 2^23` rounding trick), no tables and no libm calls, so that the
//! driver's loop vectorises.
//!
//! Algorithms (the structure of fdlibm/musl's and SLEEF's float functions, own coefficients):
//! - `exp`, `expm1`: `k = round(x/ln 2)`, `r = x - k ln 2` as a float32 pair (the product by the
//!   high part of `ln 2` is exact in the fused multiply-add), `expm1(r) = r + r^2 P(r)` with a
//!   degree-5 minimax `P` (relative error `2^-30.7` on `|r| <= ln(2)/2`) and its rounding error
//!   kept; `e^x = 2^k (1 + q)` and `expm1(x) = (2^k - 1) + 2^k q` each summed by a fast two-sum
//!   (no cancellation left for `expm1` near `x = 0.35`, where `k` becomes 1), scaled in two
//!   steps so that subnormal results round once. `tanh = E/(E + 2)` with `E = expm1(2|x|)`,
//!   `sinh = (E + E/(E + 1))/2` with `E = expm1|x|`, `cosh = (Y + 1/Y)/2` with `Y = e^|x|`:
//!   single.rs's formulas, each quotient from one reciprocal corrected by its residual.
//! - `log`, `log1p`, `log2`, `log10`: `x = 2^k (1 + f)`, `1 + f` in `[sqrt(2)/2, sqrt(2))` from
//!   the bits, `log(1 + f) = f - f^2/2 + f^3 P(f)` with a degree-8 minimax `P` (relative error
//!   `2^-29.9`), no division; `k ln 2 + f - f^2/2` by fast two-sums with a 16-bit high part of
//!   `ln 2`; `log2`/`log10` multiply `f - f^2/2` (a pair) by `1/ln 2`, `1/ln 10` as pairs.
//!   `log1p` reduces `u = 1 + x` and adds the rounding error `d` of that sum as `d/(1 + f) ~ d
//!   (1 - f + f^2)`.
//! - `sin`, `cos`, `tan`: `k = round(x 2/pi)`, `r = x - k pi/2` with three float32 pieces of
//!   `pi/2` (the first product exact in the fused multiply-add, the second's error kept), as a
//!   pair `s + lo`; on `|r| <= pi/4 + 0.07`, `sin r = r + r^3 S(r^2)` and `cos r = 1 - r^2/2 +
//!   r^4 C(r^2)` (minimax, relative errors `2^-32.2`, `2^-31.7`), `1 - r^2/2` with its rounding
//!   error, a bitwise quadrant select; `tan` is the quotient of the two as pairs. Accurate for
//!   `|x| <= TRIG_MAX = 1.6e6` (the smallest `|r|` of a float32 there is `2^-27.8`, near 252.9);
//!   beyond, the driver's exact pass as before.

use super::dd::sel;
use super::single;

/// `1.5 * 2^23`: `(x + MAGIC) - MAGIC` rounds `x` to an integer (ties to even) for
/// `|x| < 2^22`, and the low bits of `(x + MAGIC).to_bits()` hold it.
const MAGIC: f32 = 12582912.0;

/// `a * b + c` rounded once (only ever compiled where it is one instruction: `F = true`).
#[inline(always)]
fn fma(a: f32, b: f32, c: f32) -> f32 {
    a.mul_add(b, c)
}

/// `2^k` for an integral `k` in `[-126, 127]`, from the exponent field (see `dd::pow2`).
#[inline(always)]
fn pow2(k: f32) -> f32 {
    f32::from_bits((k + (MAGIC + 127.0)).to_bits() << 23)
}

/// `y * 2^k` for an integral `k` in `[-252, 254]`, in two steps so that neither factor
/// overflows and a subnormal result is rounded once.
#[inline(always)]
fn scale(y: f32, k: f32) -> f32 {
    let k1 = fma(k, 0.5, MAGIC) - MAGIC;
    y * pow2(k1) * pow2(k - k1)
}

/// Polynomial `c[0] + c[1] x + ... + c[N-1] x^(N-1)` by Horner's rule.
#[inline(always)]
fn horner<const N: usize>(x: f32, c: &[f32; N]) -> f32 {
    let mut r = c[N - 1];
    let mut i = N - 1;
    while i > 0 {
        i -= 1;
        r = fma(r, x, c[i]);
    }
    r
}

// ---- exp, expm1 ----

const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// `ln 2 = LN2_HI + LN2_LO`, `LN2_HI = fl(ln 2)`: `k * LN2_HI` is exact inside a fused
/// multiply-add, and `x - k * LN2_HI` is exact (a multiple of `2^-25` below 1).
const LN2_HI: f32 = 0.693_147_182_464_599_6;
const LN2_LO: f32 = -1.904_654_212_125_933_6e-9;

/// `expm1(r) = r + r^2 P(r)`: minimax for the relative error of `expm1` on `|r| <= ln(2)/2 +
/// 2^-12`, `2^-30.7` (`tools/f32_minimax.py expm1 6`).
const EXPM1_P: [f32; 6] = [
    0.5,
    0.166_666_656_732_559_2,
    0.041_666_466_742_753_98,
    0.008_333_643_898_367_882,
    0.001_393_516_547_977_924_3,
    0.000_196_595_196_030_102_67,
];

/// `e^x = 2^k (1 + q)` for `|x| <= 104`: returns `k` and `q` as a pair `th + lo` (`|th| <=
/// 0.42`, `lo` within `2^-28 |th|` of the rest). `k` is `round(x log2 e)`, which the float32
/// `log2 e` can misplace by `5e-6` (covered by the polynomial's interval).
#[inline(always)]
fn exp_core(x: f32) -> (f32, f32, f32) {
    let k = fma(x, LOG2_E, MAGIC) - MAGIC;
    let r1 = fma(-k, LN2_HI, x);
    // r1 + c as a pair r + rl: a fast two-sum, since r1 is a multiple of 2^-25, hence of
    // ulp(c), whenever it is the smaller.
    let c = -k * LN2_LO;
    let r = r1 + c;
    let rl = (r1 - r) + c;
    let z = r * r;
    let p = horner(r, &EXPM1_P);
    let th = fma(z, p, r);
    // th's rounding error (r - th is exact: th is within a factor 1.2 of r).
    let tl = fma(z, p, r - th);
    // e^(r + rl) - 1 = th + tl + rl (1 + th).
    (k, th, fma(rl, th, rl + tl))
}

/// `e^x`: `1 + q` by a fast two-sum, then `2^k` in two steps. Beyond `|x| = 104` the result is
/// inf or 0 (and NaN stays NaN through the clamps).
#[inline(always)]
fn exp_native(x: f32) -> f32 {
    let xc = sel(x > 104.0, 104.0, sel(x < -104.0, -104.0, x));
    let (k, th, lo) = exp_core(xc);
    let s = 1.0 + th;
    let e = (1.0 - s) + th;
    scale(s + (e + lo), k)
}

/// `e^x - 1 = ((2^k - 1) + 2^k q) 2^j` for `-40 <= x <= 100` as a pair `s + l` and the scale
/// `2^j`: `2^k - 1` (as a pair beyond `k = 24`) is at least `2^k |q|` in magnitude (or zero), so
/// a fast two-sum adds them without error. Beyond `k = 64` the `- 1` is negligible and the
/// rest of `2^k`, `j = k - 64`, is left to the caller (`j = 0` below).
#[inline(always)]
fn expm1_pair(x: f32) -> (f32, f32, f32) {
    let (k, th, lo) = exp_core(x);
    let kl = sel(k > 64.0, 64.0, k);
    let pk = pow2(kl);
    // 2^k - 1 = a + ae exactly (ae = -1 once 2^k - 1 needs more than 24 bits).
    let a = pk - 1.0;
    let ae = (pk - a) - 1.0;
    let b = pk * th;
    let s = a + b;
    let e = b - (s - a);
    (s, fma(pk, lo, e + ae), k - kl)
}

/// `e^x - 1`: one rounding of [`expm1_pair`] plus the small terms (overflow rounds as `exp`'s).
#[inline(always)]
fn expm1_native(x: f32) -> f32 {
    let (s, l, j) = expm1_pair(sel(x > 100.0, 100.0, sel(x < -40.0, -40.0, x)));
    let y = (s + l) * pow2(j);
    // expm1(-0) = -0.
    sel(x == 0.0, x, y)
}

/// `x` with the sign of `x` flipped where `s` is negative.
#[inline(always)]
fn mulsign(x: f32, s: f32) -> f32 {
    f32::from_bits(x.to_bits() ^ (s.to_bits() & 0x8000_0000))
}

/// `n/d` for pairs `n = nh + nl`, `d = dh + dl`, as a pair: `q = nh/dh` from one reciprocal,
/// corrected by the residual `n - q d` (fused multiply-adds) over `dh` (the correction is tiny,
/// so the reciprocal's rounding and `dl` in the divisor do not matter).
#[inline(always)]
fn div_pair(nh: f32, nl: f32, dh: f32, dl: f32) -> (f32, f32) {
    let inv = 1.0 / dh;
    let q = nh * inv;
    (q, fma(-q, dl, fma(-q, dh, nh) + nl) * inv)
}

/// `h + e = a + b` for nonnegative `a` and `b = 1` or `2` (a fast two-sum, larger first).
#[inline(always)]
fn add_small_int(a: f32, b: f32) -> (f32, f32) {
    let h = a + b;
    (h, sel(a > b, (a - h) + b, (b - h) + a))
}

/// `tanh x = E/(E + 2)`, `E = expm1(2|x|)` as a pair ([`expm1_pair`]), the quotient as a pair
/// ([`div_pair`]); `|x|` is clamped at 10 (float32's `1 - 2^-25` is passed at 9.01), and the
/// sign of `x` (so of zeros) restored at the end.
#[inline(always)]
fn tanh_native(x: f32) -> f32 {
    let a = f32::from_bits(x.to_bits() & 0x7fff_ffff);
    let (s, l, _) = expm1_pair(2.0 * sel(a > 10.0, 10.0, a));
    let (dh, de) = add_small_int(s, 2.0);
    let (q, ql) = div_pair(s, l, dh, de + l);
    mulsign(q + ql, x)
}

/// `sinh x = (E + E/(E + 1))/2`, `E = expm1|x|` as a pair, the quotient as a pair, their sum
/// by a fast two-sum (`E >= E/(E + 1)`); beyond `k = 64` (where `E/(E + 1)` is 1 and
/// negligible) the scale `2^j` of [`expm1_pair`] is applied with the halving, so results up to
/// float32's overflow at 89.4 are finite.
#[inline(always)]
fn sinh_native(x: f32) -> f32 {
    let a = f32::from_bits(x.to_bits() & 0x7fff_ffff);
    let (s, l, j) = expm1_pair(sel(a > 100.0, 100.0, a));
    let (dh, de) = add_small_int(s, 1.0);
    let (q, ql) = div_pair(s, l, dh, de + l);
    let h = s + q;
    let e = q - (h - s);
    mulsign((h + (e + (l + ql))) * pow2(j - 1.0), x)
}

/// `cosh x = 2^(k-1) (y + 2^-2k / y)` for `e^|x| = 2^k y`, `y` a pair from `exp`'s core, the
/// reciprocal as a pair (corrected by its residual), their sum by a two-sum (either may be the
/// larger for `k = 0`); `2^-2k` is dropped beyond `k = 60`, and `2^(k-1)` applied in two steps.
#[inline(always)]
fn cosh_native(x: f32) -> f32 {
    let a = f32::from_bits(x.to_bits() & 0x7fff_ffff);
    let (k, th, lo) = exp_core(sel(a > 100.0, 100.0, a));
    let y = 1.0 + th;
    let yl = ((1.0 - y) + th) + lo;
    let w = sel(k > 60.0, 0.0, pow2(-2.0 * k));
    let inv = 1.0 / y;
    let r = w * inv;
    let rl = r * fma(-inv, yl, fma(-inv, y, 1.0));
    let (big, small) = (sel(y > r, y, r), sel(y > r, r, y));
    let h = big + small;
    let e = small - (h - big);
    scale(h + (e + (yl + rl)), k - 1.0)
}

// ---- log, log1p ----

/// The bits of `fl(sqrt(1/2))`: reduced mantissas lie in `[sqrt(1/2), sqrt(2))`.
const SQRT_HALF_BITS: u32 = 0x3f35_04f3;
/// `ln 2` with a 16-bit high part: `k * LN2_HI16` is exact for `|k| < 256`.
const LN2_HI16: f32 = 0.693_145_751_953_125;
const LN2_LO16: f32 = 1.428_606_765_330_187e-6;

/// `log(1 + f) = f - f^2/2 + f^3 P(f)`: minimax for the relative error of `log1p` on
/// `[sqrt(1/2) - 1, sqrt(2) - 1]`, `2^-29.9` (`tools/f32_minimax.py log1p 9`).
const LOG1P_P: [f32; 9] = [
    0.333_333_134_651_184_1,
    -0.250_000_298_023_223_9,
    0.200_020_462_274_551_4,
    -0.166_675_657_033_920_3,
    0.142_205_849_289_894_1,
    -0.124_055_534_601_211_55,
    0.118_785_984_814_167_02,
    -0.117_064_759_135_246_28,
    0.068_290_822_207_927_7,
];

/// `x = 2^k (1 + f)` for a positive normal `x`: `(k, f)`, `1 + f` in `[sqrt(1/2), sqrt(2))`
/// (`f` is exact: `1 + f` is within a factor 2 of 1).
#[inline(always)]
fn log_reduce(x: f32) -> (f32, f32) {
    let ix = x.to_bits().wrapping_sub(SQRT_HALF_BITS);
    let k = ((ix as i32) >> 23) as f32;
    let m = f32::from_bits((ix & 0x007f_ffff) + SQRT_HALF_BITS);
    (k, m - 1.0)
}

/// `log(1 + f) - f = -f^2/2 + (f^3 P(f) - zl/2)`: the first part exact, the second with `zl`
/// the rounding error of `f^2`.
#[inline(always)]
fn log1p_tail(f: f32) -> (f32, f32) {
    let z = f * f;
    let zl = fma(f, f, -z);
    (-0.5 * z, fma(f * z, horner(f, &LOG1P_P), -0.5 * zl))
}

/// `k ln 2 + log(1 + f) + d` (`d` a small correction): `k ln 2_hi + f` by a fast two-sum
/// (`|k ln 2_hi| >= ln 2 > |f|` unless `k = 0`), then `-f^2/2` by another (up to a fifth of
/// the result, and smaller than the sum: `|k ln 2 + f| >= 0.28 > f^2/2` unless `k = 0`, when
/// it is `f`), and the rest and the low parts added to their error terms.
#[inline(always)]
fn log_sum(k: f32, f: f32, d: f32) -> f32 {
    let (hz, rest) = log1p_tail(f);
    let a = k * LN2_HI16;
    let t = a + f;
    let e = f - (t - a);
    let t2 = t + hz;
    let e2 = (t - t2) + hz;
    t2 + fma(k, LN2_LO16, (e + e2) + (rest + d))
}

/// `1/ln 2` and `1/ln 10` as float32 pairs, and `log10(2)` with a 16-bit high part.
const INV_LN2_HI: f32 = std::f32::consts::LOG2_E;
const INV_LN2_LO: f32 = 1.925_963_033_500_011e-8;
const INV_LN10_HI: f32 = std::f32::consts::LOG10_E;
const INV_LN10_LO: f32 = -1.010_304_995_219_257_8e-8;
const LOG10_2_HI16: f32 = 0.301_033_020_019_531_25;
const LOG10_2_LO16: f32 = -3.024_355_464_731_343e-6;

/// `k b + log(1 + f) / ln B` for base `B`, `b = log_B(2) = B_HI + B_LO` (`k B_HI` exact), `1/ln
/// B = INV_HI + INV_LO`: `u = f - f^2/2` as a pair (fast two-sum), `u INV_HI` as a pair
/// (fused-multiply-add residual) added to `k B_HI` by a fast two-sum (`|k B_HI| >= 0.3 > |u
/// INV_HI|` unless `k = 0`), the rest of the tail and the low parts to the error terms.
#[inline(always)]
fn log_base(k: f32, f: f32, b: (f32, f32), inv: (f32, f32)) -> f32 {
    let (hz, rest) = log1p_tail(f);
    let u = f + hz;
    let ue = (f - u) + hz;
    let a = k * b.0;
    let h = u * inv.0;
    let hl = fma(u, inv.0, -h);
    let t = a + h;
    let e = h - (t - a);
    let small = fma(ue + rest, inv.0, fma(u, inv.1, hl));
    t + fma(k, b.1, e + small)
}

/// `(k, f)` of a positive finite `x`, subnormals scaled by `2^23` first.
#[inline(always)]
fn log_reduce_sub(x: f32) -> (f32, f32) {
    let sub = x < f32::MIN_POSITIVE;
    let (k, f) = log_reduce(sel(sub, x * 8_388_608.0, x));
    (k - sel(sub, 23.0, 0.0), f)
}

/// `log`-like functions at 0, negative numbers, inf and NaN.
#[inline(always)]
fn log_special(x: f32) -> f32 {
    sel(x == 0.0, f32::NEG_INFINITY, sel(x < 0.0, f32::NAN, x + x))
}

/// Natural logarithm.
#[inline(always)]
fn log_native(x: f32) -> f32 {
    let (k, f) = log_reduce_sub(x);
    sel(
        x > 0.0 && x < f32::INFINITY,
        log_sum(k, f, 0.0),
        log_special(x),
    )
}

/// Base-2 logarithm (exact at powers of two: `f = 0`).
#[inline(always)]
fn log2_native(x: f32) -> f32 {
    let (k, f) = log_reduce_sub(x);
    let r = log_base(k, f, (1.0, 0.0), (INV_LN2_HI, INV_LN2_LO));
    sel(x > 0.0 && x < f32::INFINITY, r, log_special(x))
}

/// Base-10 logarithm.
#[inline(always)]
fn log10_native(x: f32) -> f32 {
    let (k, f) = log_reduce_sub(x);
    let r = log_base(
        k,
        f,
        (LOG10_2_HI16, LOG10_2_LO16),
        (INV_LN10_HI, INV_LN10_LO),
    );
    sel(x > 0.0 && x < f32::INFINITY, r, log_special(x))
}

/// `log(1 + x)`: `u = 1 + x` rounded, reduced as `log`'s argument (`u >= 2^-24` whenever
/// `x > -1`), plus its exact rounding error `err` (a fast two-sum, larger operand first),
/// which shifts `1 + f` by `d = err 2^-k` and so the logarithm by `d/(1 + f) ~ d (1 - f + f^2)`
/// (`d f^3/(1 + f)` below 0.1 ulp of the result). For `k = 0`, `f + d` is `x` itself, so
/// `f = x`, `d = 0`; for `k > 126` `d` is far below the result's ulp, and `2^-k` is clamped to
/// stay normal.
#[inline(always)]
fn log1p_native(x: f32) -> f32 {
    let u = 1.0 + x;
    let err = sel(x > 1.0, (x - u) + 1.0, (1.0 - u) + x);
    let (k, f) = log_reduce(u);
    // For k = 0, 1 + f = u and f + err = x: take f = x (no correction to approximate).
    let k0 = k == 0.0;
    let d = sel(k0, 0.0, err * pow2(-sel(k > 126.0, 126.0, k)));
    let f = sel(k0, x, f);
    let r = log_sum(k, f, fma(d, fma(f, f, -f), d));
    // log1p(-0) = -0.
    let r = sel(x == 0.0, x, r);
    sel(u > 0.0 && u < f32::INFINITY, r, log_special(u))
}

// ---- sin, cos ----

const INV_PIO2: f32 = std::f32::consts::FRAC_2_PI;
/// `pi/2 = PIO2_1 + PIO2_2 + PIO2_3 + O(2^-76)`, each the float32 nearest the rest.
const PIO2_1: f32 = 1.570_796_370_506_286_6;
const PIO2_2: f32 = -4.371_138_828_673_793e-8;
const PIO2_3: f32 = -1.715_124_510_005_881_9e-15;

/// `sin r = r + r^3 S(r^2)`: minimax for the relative error of `sin` on `|r| <= pi/4 + 0.07`,
/// `2^-32.2` (`tools/f32_minimax.py sin 4`).
const SIN_P: [f32; 4] = [
    -0.166_666_671_633_720_4,
    0.008_333_371_020_853_52,
    -0.000_198_488_181_922_584_77,
    2.783_565_378_194_907_7e-6,
];

/// `cos r = 1 - r^2/2 + r^4 C(r^2)`: minimax for the relative error of `cos` on the same
/// interval, `2^-31.7` (`tools/f32_minimax.py cos 3`).
const COS_P: [f32; 3] = [
    0.041_666_630_655_527_115,
    -0.001_388_663_775_287_568_6,
    2.436_114_482_406_992_5e-5,
];

/// `x = k pi/2 + (s + lo)` for `|x| <= TRIG_MAX`: returns `(k mod 4, s, lo)`, `|s| <= pi/4 +
/// 0.07`. `x - k PIO2_1` is exact (a multiple of `2^-24` below 2, in one fused multiply-add);
/// `k PIO2_2` is the pair `p + pe` (fused-multiply-add residual); their difference is the pair
/// `s + se` by a fast two-sum (exact: the first operand is a multiple of `2^-24`, hence of
/// `ulp(p)`, when it is the smaller); the rest is small enough to round once.
#[inline(always)]
fn reduce_pio2(x: f32) -> (u32, f32, f32) {
    let t = fma(x, INV_PIO2, MAGIC);
    let k = t - MAGIC;
    let r1 = fma(-k, PIO2_1, x);
    let p = k * PIO2_2;
    let pe = fma(k, PIO2_2, -p);
    let s = r1 - p;
    let se = (r1 - s) - p;
    (t.to_bits() & 3, s, fma(-k, PIO2_3, se - pe))
}

/// `sin(s + lo) = s + sl` and `cos(s + lo) = w + cl` as unevaluated pairs, `z = s^2`:
/// - `w = 1 - s^2/2` rounded once (the product is exact inside the fused multiply-add), and
///   `cl` its rounding error (from a second one; `1 - w` is exact), `-s lo` and `z^2 C(z)`;
/// - `sl = s z S(z) + lo cos s` (`w` standing for `cos s`), at most a tenth of `s`.
#[inline(always)]
fn sin_cos_kernels(s: f32, lo: f32, z: f32) -> (f32, f32, f32) {
    let hs = -0.5 * s;
    let w = fma(hs, s, 1.0);
    let corr = fma(hs, s, 1.0 - w);
    let cl = fma(z * z, horner(z, &COS_P), fma(-s, lo, corr));
    let sl = fma(s * z, horner(z, &SIN_P), lo * w);
    (w, cl, sl)
}

/// `sin x` (`COS = false`) or `cos x` for `|x| <= TRIG_MAX` (else any value): both kernels,
/// then the quadrant's by a select and a sign flip.
#[inline(always)]
fn sincos_native<const COS: bool>(x: f32) -> f32 {
    let (q, s, lo) = reduce_pio2(x);
    let (w, cl, sl) = sin_cos_kernels(s, lo, s * s);
    let q = if COS { q + 1 } else { q };
    let v = if q & 1 == 1 { w + cl } else { s + sl };
    let v = f32::from_bits(v.to_bits() ^ ((q & 2) << 30));
    // sin(-0) = -0.
    if COS {
        v
    } else {
        sel(x == 0.0, x, v)
    }
}

/// `tan x = sin/cos` (`-cos/sin` in odd quadrants) for `|x| <= TRIG_MAX` (else any value): the
/// kernels as unevaluated pairs, their quotient `q = n/d` from one reciprocal, corrected by the
/// residual `n - q d` (fused multiply-adds), so that the result rounds once more.
#[inline(always)]
fn tan_native(x: f32) -> f32 {
    let (q, s, lo) = reduce_pio2(x);
    let (w, cl, sl) = sin_cos_kernels(s, lo, s * s);
    let odd = q & 1 == 1;
    let (nh, nl) = (sel(odd, w, s), sel(odd, cl, sl));
    let (dh, dl) = (sel(odd, s, w), sel(odd, sl, cl));
    let inv = 1.0 / (dh + dl);
    let t = (nh + nl) * inv;
    let res = fma(-t, dl, fma(-t, dh, nh) + nl);
    let r = fma(res, inv, t);
    let r = f32::from_bits(r.to_bits() ^ ((q & 1) << 31));
    sel(x == 0.0, x, r)
}

// ---- The float32 entry points (`num::Float` for f32) ----

/// The float32 entry points: the native code at the FMA levels (`F`), [`single`]'s float64
/// road without FMA (the reductions above rely on exact fused products).
macro_rules! entry_points {
    ($($(#[$doc:meta])* $name:ident => $native:expr;)*) => {$(
        $(#[$doc])*
        #[inline(always)]
        pub fn $name<const F: bool>(x: f32) -> f32 {
            if F {
                $native(x)
            } else {
                single::$name::<F>(x as f64) as f32
            }
        }
    )*};
}

entry_points! {
    /// `e^x`.
    exp => exp_native;
    /// `e^x - 1`.
    expm1 => expm1_native;
    /// Natural logarithm.
    log => log_native;
    /// `log(1 + x)`.
    log1p => log1p_native;
    /// `sin x` (`|x| <= TRIG_MAX`, else any value).
    sin => sincos_native::<false>;
    /// `cos x` (`|x| <= TRIG_MAX`, else any value).
    cos => sincos_native::<true>;
    /// Base-2 logarithm.
    log2 => log2_native;
    /// Base-10 logarithm.
    log10 => log10_native;
    /// `tan x` (`|x| <= TRIG_MAX`, else any value).
    tan => tan_native;
    /// `sinh x`.
    sinh => sinh_native;
    /// `cosh x`.
    cosh => cosh_native;
    /// `tanh x`.
    tanh => tanh_native;
}

/// `arctan x` ([`single`]'s float64 road).
#[inline(always)]
pub fn atan<const F: bool>(x: f32) -> f32 {
    single::atan::<F>(x as f64) as f32
}

/// `arctan2(y, x)` ([`single`]'s float64 road).
#[inline(always)]
pub fn atan2<const F: bool>(y: f32, x: f32) -> f32 {
    single::atan2::<F>(y as f64, x as f64) as f32
}

/// `x ** ±e` for a small integral exponent ([`single::powi`], float64 products).
#[inline(always)]
pub fn powi<const F: bool, const NB: u32, const NEG: bool>(x: f32, e: u32) -> (f32, bool) {
    let (r, bad) = single::powi::<F, NB, NEG>(x as f64, e);
    (r as f32, bad)
}
