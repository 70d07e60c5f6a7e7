//! Error-free transformations and small helpers, all straight-line `f64` code.
//!
//! The const parameter `F` of the helpers that multiply and add says whether the kernel level
//! has fused multiply-add instructions (AVX2 and AVX-512 do, baseline SSE2 does not; see the
//! module documentation of [`super`]). With `F` a product and a sum round once, and Dekker's
//! exact product is two instructions instead of seventeen; without it they are the plain
//! operations (`f64::mul_add` would be a slow libm call).

/// `1.5 * 2^52`: `(x + MAGIC) - MAGIC` rounds `x` to the nearest integer (ties to even) for
/// `|x| < 2^51`, and the low bits of `(x + MAGIC).to_bits()` hold that integer.
pub const MAGIC: f64 = 6755399441055744.0;

/// Rounds to the nearest integer, ties to even (`|x| < 2^51`; NaN stays NaN).
#[inline(always)]
pub fn round(x: f64) -> f64 {
    (x + MAGIC) - MAGIC
}

/// `2^k` for an integral `k` in `[-1022, 1023]`, from its exponent field: the low bits of
/// `k + 1023 + MAGIC` are `k + 1023`, and shifting them to the exponent drops the rest.
#[inline(always)]
pub fn pow2(k: f64) -> f64 {
    f64::from_bits((k + (MAGIC + 1023.0)).to_bits() << 52)
}

/// `y * 2^k` for an integral `k` in `[-2044, 2046]`, in two steps so that neither factor
/// overflows; a subnormal result is rounded once.
#[inline(always)]
pub fn scale(y: f64, k: f64) -> f64 {
    let k1 = round(k * 0.5);
    y * pow2(k1) * pow2(k - k1)
}

/// `if c { a } else { b }`, written so that LLVM emits a select.
#[inline(always)]
pub fn sel<T>(c: bool, a: T, b: T) -> T {
    if c {
        a
    } else {
        b
    }
}

/// `s + e == a + b` exactly, `s = fl(a + b)` (Knuth's two-sum; any order of magnitudes).
#[inline(always)]
pub fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

/// As [`two_sum`] when `|a| >= |b|` (or `a == 0`): Dekker's fast two-sum.
#[inline(always)]
pub fn fast_two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    (s, b - (s - a))
}

/// Veltkamp's split: `a == hi + lo`, both with at most 26 significant bits (`|a| < 2^995`).
#[inline(always)]
pub fn split(a: f64) -> (f64, f64) {
    let c = 134217729.0 * a; // 2^27 + 1
    let hi = c - (c - a);
    (hi, a - hi)
}

/// `a * b + c`: one rounding with `F` (a fused multiply-add), two without.
#[inline(always)]
pub fn mla<const F: bool>(a: f64, b: f64, c: f64) -> f64 {
    if F {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// `p + e == a * b` exactly, `p = fl(a * b)`: the fused multiply-add's residual with `F`,
/// else Dekker's product (no overflow or underflow in the partial products assumed).
#[inline(always)]
pub fn two_prod<const F: bool>(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    if F {
        return (p, a.mul_add(b, -p));
    }
    let (ah, al) = split(a);
    let (bh, bl) = split(b);
    (p, ((ah * bh - p) + ah * bl + al * bh) + al * bl)
}

/// `a * a` as [`two_prod`].
#[inline(always)]
pub fn two_sqr<const F: bool>(a: f64) -> (f64, f64) {
    let p = a * a;
    if F {
        return (p, a.mul_add(a, -p));
    }
    let (ah, al) = split(a);
    (p, ((ah * ah - p) + 2.0 * (ah * al)) + al * al)
}

/// `(nh + nl) / (dh + dl)` as an unevaluated sum `q + qc` (relative error near `2^-100`): the
/// quotient of the high parts corrected by the exact residual. With `F` the quotient is a
/// product with the reciprocal (one division, the slowest instruction here, instead of two),
/// which the correction makes as good.
#[inline(always)]
pub fn div_dd<const F: bool>(nh: f64, nl: f64, dh: f64, dl: f64) -> (f64, f64) {
    if F {
        let inv = 1.0 / dh;
        let q = nh * inv;
        return (q, (mla::<F>(-q, dh, nh) + nl - q * dl) * inv);
    }
    let q = nh / dh;
    let (p, pe) = two_prod::<F>(q, dh);
    (q, (((nh - p) - pe) + nl - q * dl) / dh)
}

/// `|x|` by clearing the sign bit.
#[inline(always)]
pub fn fabs(x: f64) -> f64 {
    f64::from_bits(x.to_bits() & !(1 << 63))
}

/// `|x|` with the sign of `s`.
#[inline(always)]
pub fn copysign(x: f64, s: f64) -> f64 {
    f64::from_bits((x.to_bits() & !(1 << 63)) | (s.to_bits() & (1 << 63)))
}

/// `x` with its sign flipped when `s` is negative (sign bit set).
#[inline(always)]
pub fn mulsign(x: f64, s: f64) -> f64 {
    f64::from_bits(x.to_bits() ^ (s.to_bits() & (1 << 63)))
}

/// Polynomial `c[0] + c[1] x + ... + c[N-1] x^(N-1)` by Horner's rule.
#[inline(always)]
pub fn horner<const F: bool, const N: usize>(x: f64, c: &[f64; N]) -> f64 {
    let mut r = c[N - 1];
    let mut i = N - 1;
    while i > 0 {
        i -= 1;
        r = mla::<F>(r, x, c[i]);
    }
    r
}

/// The degree-10 polynomial `c[0] + ... + c[10] x^10` by Estrin's scheme: four dependent
/// multiply-add levels instead of Horner's ten, so long polynomials are not latency-bound.
#[inline(always)]
pub fn estrin11<const F: bool>(x: f64, c: &[f64; 11]) -> f64 {
    let x2 = x * x;
    let x4 = x2 * x2;
    let x8 = x4 * x4;
    let a0 = mla::<F>(c[1], x, c[0]);
    let a1 = mla::<F>(c[3], x, c[2]);
    let a2 = mla::<F>(c[5], x, c[4]);
    let a3 = mla::<F>(c[7], x, c[6]);
    let a4 = mla::<F>(c[9], x, c[8]);
    let b0 = mla::<F>(a1, x2, a0);
    let b1 = mla::<F>(a3, x2, a2);
    let b2 = mla::<F>(c[10], x2, a4);
    mla::<F>(b2, x8, mla::<F>(b1, x4, b0))
}
