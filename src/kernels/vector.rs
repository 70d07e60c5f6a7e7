//! Explicit float vectors for the fused-chain kernel ([`super::chain`]): one type per
//! instruction-set level and float dtype, all behind one trait, so the chain is written once.
//!
//! The other kernels are plain element loops that LLVM vectorises. A chain cannot be: it keeps a
//! tile of values in registers while it interprets its links, and LLVM only promotes such a
//! tile to registers when it fully unrolls every per-link loop first, which it stops doing past
//! ~32 elements (float32 tiles then lived on the stack and ran slower than separate passes).
//! With vectors as values the tile is a few SSA registers whatever the level.
//!
//! Every operation is IEEE-exact and matches the element functions of [`super::ops`] bit for
//! bit: add, subtract, multiply, divide and sqrt are the IEEE operations; negation and absolute
//! value flip or clear the sign bit (as Rust's `-x` and `abs`); comparisons are ordered (false
//! with a NaN) except `!=`; `maximum(a, b)` is `a` when `a` is NaN or `a > b`, else `b`.

use super::num::{Float, Order};

/// The most lanes of any [`Vector`] (AVX-512's float32).
const MAX_LANES: usize = 16;

/// `N` lanes of `Self::Elem`.
pub trait Vector: Copy {
    type Elem: Float + Order;
    /// A per-lane condition.
    type Mask: Copy;
    const LANES: usize;

    fn zero() -> Self;
    fn splat(a: Self::Elem) -> Self;
    /// # Safety
    /// `p` must address `LANES` readable elements (any alignment).
    unsafe fn load(p: *const Self::Elem) -> Self;
    /// # Safety
    /// `p` must address `LANES` writable elements (any alignment).
    unsafe fn store(self, p: *mut Self::Elem);
    fn add(self, b: Self) -> Self;
    fn sub(self, b: Self) -> Self;
    fn mul(self, b: Self) -> Self;
    fn div(self, b: Self) -> Self;
    fn sqrt(self) -> Self;
    fn neg(self) -> Self;
    fn abs(self) -> Self;
    fn lt(self, b: Self) -> Self::Mask;
    fn le(self, b: Self) -> Self::Mask;
    fn gt(self, b: Self) -> Self::Mask;
    fn ge(self, b: Self) -> Self::Mask;
    fn eq(self, b: Self) -> Self::Mask;
    /// True where the lanes differ or either is NaN.
    fn ne(self, b: Self) -> Self::Mask;
    /// True where either lane is NaN.
    fn unordered(self, b: Self) -> Self::Mask;
    fn or(m: Self::Mask, k: Self::Mask) -> Self::Mask;
    /// `p` where `m`, else `q`.
    fn select(m: Self::Mask, p: Self, q: Self) -> Self;

    /// Whether the level has fused multiply-add (the `F` of its element kernels).
    const FMA: bool;

    /// `x**3` as the level's `power` kernel computes it ([`Float::cube`]); here lane by lane,
    /// the levels with fused multiply-add compute it in vectors.
    #[inline(always)]
    fn cube(self) -> Self {
        self.lanewise(|x| {
            if Self::FMA {
                x.cube::<true>()
            } else {
                x.cube::<false>()
            }
        })
    }

    /// `f` of every lane, one at a time.
    #[inline(always)]
    fn lanewise(self, f: impl Fn(Self::Elem) -> Self::Elem) -> Self {
        let mut lanes = [Self::Elem::ZERO; MAX_LANES];
        let lanes = &mut lanes[..Self::LANES.min(MAX_LANES)];
        // SAFETY: `lanes` holds LANES elements (no vector here has more than MAX_LANES).
        unsafe { self.store(lanes.as_mut_ptr()) };
        for x in lanes.iter_mut() {
            *x = f(*x);
        }
        // SAFETY: as above.
        unsafe { Self::load(lanes.as_ptr()) }
    }

    #[inline(always)]
    fn maximum(self, b: Self) -> Self {
        Self::select(Self::or(self.unordered(self), self.gt(b)), self, b)
    }
    #[inline(always)]
    fn minimum(self, b: Self) -> Self {
        Self::select(Self::or(self.unordered(self), self.lt(b)), self, b)
    }
}

/// One lane: the element itself (levels without explicit vectors here).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[derive(Clone, Copy)]
pub struct One<A>(A);

impl<A: Float + Order> Vector for One<A> {
    type Elem = A;
    type Mask = bool;
    const LANES: usize = 1;
    const FMA: bool = false;
    #[inline(always)]
    fn zero() -> Self {
        One(A::ZERO)
    }
    #[inline(always)]
    fn splat(a: A) -> Self {
        One(a)
    }
    #[inline(always)]
    unsafe fn load(p: *const A) -> Self {
        // SAFETY: the caller's contract.
        One(unsafe { p.read_unaligned() })
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut A) {
        // SAFETY: the caller's contract.
        unsafe { p.write_unaligned(self.0) }
    }
    #[inline(always)]
    fn add(self, b: Self) -> Self {
        One(self.0 + b.0)
    }
    #[inline(always)]
    fn sub(self, b: Self) -> Self {
        One(self.0 - b.0)
    }
    #[inline(always)]
    fn mul(self, b: Self) -> Self {
        One(self.0 * b.0)
    }
    #[inline(always)]
    fn div(self, b: Self) -> Self {
        One(self.0 / b.0)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        One(self.0.sqrt())
    }
    #[inline(always)]
    fn neg(self) -> Self {
        One(-self.0)
    }
    #[inline(always)]
    fn abs(self) -> Self {
        One(self.0.abs())
    }
    #[inline(always)]
    fn lt(self, b: Self) -> bool {
        self.0.lt(b.0)
    }
    #[inline(always)]
    fn le(self, b: Self) -> bool {
        self.0.le(b.0)
    }
    #[inline(always)]
    fn gt(self, b: Self) -> bool {
        b.0.lt(self.0)
    }
    #[inline(always)]
    fn ge(self, b: Self) -> bool {
        b.0.le(self.0)
    }
    #[inline(always)]
    fn eq(self, b: Self) -> bool {
        Order::eq(self.0, b.0)
    }
    #[inline(always)]
    fn ne(self, b: Self) -> bool {
        !Order::eq(self.0, b.0)
    }
    #[inline(always)]
    fn unordered(self, b: Self) -> bool {
        self.0.is_nan() || b.0.is_nan()
    }
    #[inline(always)]
    fn or(m: bool, k: bool) -> bool {
        m | k
    }
    #[inline(always)]
    fn select(m: bool, p: Self, q: Self) -> Self {
        if m {
            p
        } else {
            q
        }
    }
}

/// [`Vector`] methods that are one intrinsic call each: `bin` (two vectors), `cmp` (a
/// predicate-taking comparison: AVX, AVX-512) or `pred` (one comparison intrinsic per
/// predicate: SSE2), returning `$out`.
#[cfg(target_arch = "x86_64")]
macro_rules! x86_calls {
    (bin $($name:ident $f:ident),*) => {$(
        #[inline(always)]
        fn $name(self, b: Self) -> Self {
            // SAFETY: the entry point of the level this vector belongs to enables the
            // intrinsic's features, and these `#[inline(always)]` methods are only called there.
            unsafe { $f(self, b) }
        }
    )*};
    (cmp $out:ty, $cmp:ident: $($name:ident $pred:ident),*) => {$(
        #[inline(always)]
        fn $name(self, b: Self) -> $out {
            // SAFETY: as for `bin`.
            unsafe { $cmp::<$pred>(self, b) }
        }
    )*};
    (pred $out:ty: $($name:ident $f:ident),*) => {$(
        #[inline(always)]
        fn $name(self, b: Self) -> $out {
            // SAFETY: as for `bin`.
            unsafe { $f(self, b) }
        }
    )*};
}

/// The [`Vector`] methods every x86 level writes alike, given its intrinsics.
#[cfg(target_arch = "x86_64")]
macro_rules! x86_common {
    ($elem:ty, $lanes:literal, $m:ty, $load:ident, $store:ident, $add:ident, $sub:ident,
     $mul:ident, $div:ident, $sqrt:ident, $xor:ident, $andnot:ident, $set1:ident) => {
        type Elem = $elem;
        type Mask = $m;
        const LANES: usize = $lanes;
        #[inline(always)]
        fn zero() -> Self {
            // SAFETY: as for `x86_calls!(bin ..)`.
            unsafe { $set1(0.0) }
        }
        #[inline(always)]
        fn splat(a: $elem) -> Self {
            // SAFETY: as for `x86_calls!(bin ..)`.
            unsafe { $set1(a) }
        }
        #[inline(always)]
        unsafe fn load(p: *const $elem) -> Self {
            // SAFETY: the caller's contract; the features as for `x86_calls!(bin ..)`.
            unsafe { $load(p) }
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut $elem) {
            // SAFETY: as `load`.
            unsafe { $store(p, self) }
        }
        x86_calls!(bin add $add, sub $sub, mul $mul, div $div);
        #[inline(always)]
        fn sqrt(self) -> Self {
            // SAFETY: as for `x86_calls!(bin ..)`.
            unsafe { $sqrt(self) }
        }
        #[inline(always)]
        fn neg(self) -> Self {
            // SAFETY: as for `x86_calls!(bin ..)`.
            unsafe { $xor(self, $set1(-0.0)) }
        }
        #[inline(always)]
        fn abs(self) -> Self {
            // SAFETY: as for `x86_calls!(bin ..)`.
            unsafe { $andnot($set1(-0.0), self) }
        }
    };
}

/// The comparisons of the levels whose comparison intrinsic takes the predicate.
#[cfg(target_arch = "x86_64")]
macro_rules! x86_predicates {
    ($out:ty, $cmp:ident) => {
        x86_calls!(cmp $out, $cmp: lt _CMP_LT_OQ, le _CMP_LE_OQ, gt _CMP_GT_OQ, ge _CMP_GE_OQ,
                   eq _CMP_EQ_OQ, ne _CMP_NEQ_UQ, unordered _CMP_UNORD_Q);
    };
}

/// AVX-512: comparisons into mask registers.
#[cfg(target_arch = "x86_64")]
macro_rules! avx512_vector {
    ($v:ty, $elem:ty, $lanes:literal, $m:ty,
     [$load:ident, $store:ident, $add:ident, $sub:ident, $mul:ident, $div:ident, $sqrt:ident,
      $xor:ident, $andnot:ident, $set1:ident], $cmp:ident, $blend:ident, $cube:ident) => {
        impl Vector for $v {
            x86_common!(
                $elem, $lanes, $m, $load, $store, $add, $sub, $mul, $div, $sqrt, $xor, $andnot,
                $set1
            );
            x86_predicates!($m, $cmp);
            const FMA: bool = true;
            #[inline(always)]
            fn cube(self) -> Self {
                super::cube::$cube(self)
            }
            #[inline(always)]
            fn or(m: $m, k: $m) -> $m {
                m | k
            }
            #[inline(always)]
            fn select(m: $m, p: Self, q: Self) -> Self {
                // SAFETY: as for `x86_calls!(bin ..)`.
                unsafe { $blend(m, q, p) }
            }
        }
    };
}

/// AVX (the AVX2 level): comparisons into vectors, `blendv` to select.
#[cfg(target_arch = "x86_64")]
macro_rules! avx_vector {
    ($v:ty, $elem:ty, $lanes:literal,
     [$load:ident, $store:ident, $add:ident, $sub:ident, $mul:ident, $div:ident, $sqrt:ident,
      $xor:ident, $andnot:ident, $set1:ident], $cmp:ident, $or:ident, $blendv:ident,
     $cube:ident) => {
        impl Vector for $v {
            x86_common!(
                $elem, $lanes, $v, $load, $store, $add, $sub, $mul, $div, $sqrt, $xor, $andnot,
                $set1
            );
            x86_predicates!(Self, $cmp);
            const FMA: bool = true;
            #[inline(always)]
            fn cube(self) -> Self {
                super::cube::$cube(self)
            }
            #[inline(always)]
            fn or(m: Self, k: Self) -> Self {
                // SAFETY: as for `x86_calls!(bin ..)`.
                unsafe { $or(m, k) }
            }
            #[inline(always)]
            fn select(m: Self, p: Self, q: Self) -> Self {
                // SAFETY: as for `x86_calls!(bin ..)`.
                unsafe { $blendv(q, p, m) }
            }
        }
    };
}

/// SSE2 (the x86-64 baseline): a comparison intrinsic per predicate, and/andnot/or to select.
#[cfg(target_arch = "x86_64")]
macro_rules! sse2_vector {
    ($v:ty, $elem:ty, $lanes:literal,
     [$load:ident, $store:ident, $add:ident, $sub:ident, $mul:ident, $div:ident, $sqrt:ident,
      $xor:ident, $andnot:ident, $set1:ident],
     [$lt:ident, $le:ident, $gt:ident, $ge:ident, $eq:ident, $ne:ident, $unord:ident],
     $and:ident, $or:ident) => {
        impl Vector for $v {
            x86_common!(
                $elem, $lanes, $v, $load, $store, $add, $sub, $mul, $div, $sqrt, $xor, $andnot,
                $set1
            );
            x86_calls!(pred Self: lt $lt, le $le, gt $gt, ge $ge, eq $eq, ne $ne,
                       unordered $unord);
            const FMA: bool = false;
            #[inline(always)]
            fn or(m: Self, k: Self) -> Self {
                // SAFETY: as for `x86_calls!(bin ..)`.
                unsafe { $or(m, k) }
            }
            #[inline(always)]
            fn select(m: Self, p: Self, q: Self) -> Self {
                // SAFETY: as for `x86_calls!(bin ..)`.
                unsafe { $or($and(m, p), $andnot(m, q)) }
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Vector;
    use std::arch::x86_64::*;

    avx512_vector!(
        __m512d,
        f64,
        8,
        __mmask8,
        [
            _mm512_loadu_pd,
            _mm512_storeu_pd,
            _mm512_add_pd,
            _mm512_sub_pd,
            _mm512_mul_pd,
            _mm512_div_pd,
            _mm512_sqrt_pd,
            _mm512_xor_pd,
            _mm512_andnot_pd,
            _mm512_set1_pd
        ],
        _mm512_cmp_pd_mask,
        _mm512_mask_blend_pd,
        avx512_f64
    );
    avx512_vector!(
        __m512,
        f32,
        16,
        __mmask16,
        [
            _mm512_loadu_ps,
            _mm512_storeu_ps,
            _mm512_add_ps,
            _mm512_sub_ps,
            _mm512_mul_ps,
            _mm512_div_ps,
            _mm512_sqrt_ps,
            _mm512_xor_ps,
            _mm512_andnot_ps,
            _mm512_set1_ps
        ],
        _mm512_cmp_ps_mask,
        _mm512_mask_blend_ps,
        avx512_f32
    );
    avx_vector!(
        __m256d,
        f64,
        4,
        [
            _mm256_loadu_pd,
            _mm256_storeu_pd,
            _mm256_add_pd,
            _mm256_sub_pd,
            _mm256_mul_pd,
            _mm256_div_pd,
            _mm256_sqrt_pd,
            _mm256_xor_pd,
            _mm256_andnot_pd,
            _mm256_set1_pd
        ],
        _mm256_cmp_pd,
        _mm256_or_pd,
        _mm256_blendv_pd,
        avx2_f64
    );
    avx_vector!(
        __m256,
        f32,
        8,
        [
            _mm256_loadu_ps,
            _mm256_storeu_ps,
            _mm256_add_ps,
            _mm256_sub_ps,
            _mm256_mul_ps,
            _mm256_div_ps,
            _mm256_sqrt_ps,
            _mm256_xor_ps,
            _mm256_andnot_ps,
            _mm256_set1_ps
        ],
        _mm256_cmp_ps,
        _mm256_or_ps,
        _mm256_blendv_ps,
        avx2_f32
    );
    sse2_vector!(
        __m128d,
        f64,
        2,
        [
            _mm_loadu_pd,
            _mm_storeu_pd,
            _mm_add_pd,
            _mm_sub_pd,
            _mm_mul_pd,
            _mm_div_pd,
            _mm_sqrt_pd,
            _mm_xor_pd,
            _mm_andnot_pd,
            _mm_set1_pd
        ],
        [
            _mm_cmplt_pd,
            _mm_cmple_pd,
            _mm_cmpgt_pd,
            _mm_cmpge_pd,
            _mm_cmpeq_pd,
            _mm_cmpneq_pd,
            _mm_cmpunord_pd
        ],
        _mm_and_pd,
        _mm_or_pd
    );
    sse2_vector!(
        __m128,
        f32,
        4,
        [
            _mm_loadu_ps,
            _mm_storeu_ps,
            _mm_add_ps,
            _mm_sub_ps,
            _mm_mul_ps,
            _mm_div_ps,
            _mm_sqrt_ps,
            _mm_xor_ps,
            _mm_andnot_ps,
            _mm_set1_ps
        ],
        [
            _mm_cmplt_ps,
            _mm_cmple_ps,
            _mm_cmpgt_ps,
            _mm_cmpge_ps,
            _mm_cmpeq_ps,
            _mm_cmpneq_ps,
            _mm_cmpunord_ps
        ],
        _mm_and_ps,
        _mm_or_ps
    );
}

/// `x**3` in the vectors of the levels with fused multiply-add, bit for bit the `power`
/// kernel's integral road ([`super::math::powi`] with `F`, [`super::math::single::powi`] for
/// float32); lanes that road leaves to C's `pow` go through [`Float::cube`] one at a time.
#[cfg(target_arch = "x86_64")]
mod cube {
    use super::super::num::Float;
    use super::Vector;
    use std::arch::x86_64::*;

    /// `2^-960` and `2^995`: float64 cubes outside this range take the exact road.
    const LO: i64 = 0x03f0_0000_0000_0000;
    const HI: i64 = 0x7e20_0000_0000_0000;

    // SAFETY (every function): called only from the `Vector` methods of its level, which run
    // inside that level's entry points (`#[target_feature]` enabling these intrinsics).

    /// `x^2 = p + pe` exactly, `x^3 = fma(p, x, pe x)`, as `math::powi` for `F`, `NB = 2`.
    #[inline(always)]
    pub fn avx512_f64(x: __m512d) -> __m512d {
        // SAFETY: see above.
        unsafe {
            let p = _mm512_mul_pd(x, x);
            let pe = _mm512_fmsub_pd(x, x, p);
            let r = _mm512_fmadd_pd(p, x, _mm512_mul_pd(pe, x));
            // One unsigned comparison of |r|'s bits, as `powi`'s flag.
            let bits = _mm512_castpd_si512(r.abs());
            let off = _mm512_sub_epi64(bits, _mm512_set1_epi64(LO));
            if _mm512_cmpgt_epu64_mask(off, _mm512_set1_epi64(HI - LO)) == 0 {
                r
            } else {
                x.lanewise(|v| v.cube::<true>())
            }
        }
    }

    /// As [`avx512_f64`]; AVX2 has no unsigned 64-bit comparison, so the range is two ordered
    /// comparisons (false for NaN, as the unsigned form flags it).
    #[inline(always)]
    pub fn avx2_f64(x: __m256d) -> __m256d {
        // SAFETY: see above.
        unsafe {
            let p = _mm256_mul_pd(x, x);
            let pe = _mm256_fmsub_pd(x, x, p);
            let r = _mm256_fmadd_pd(p, x, _mm256_mul_pd(pe, x));
            let a = r.abs();
            let lo = _mm256_castsi256_pd(_mm256_set1_epi64x(LO));
            let hi = _mm256_castsi256_pd(_mm256_set1_epi64x(HI));
            let inside = _mm256_and_pd(
                _mm256_cmp_pd::<_CMP_GE_OQ>(a, lo),
                _mm256_cmp_pd::<_CMP_LE_OQ>(a, hi),
            );
            if _mm256_movemask_pd(inside) == 0xf {
                r
            } else {
                x.lanewise(|v| v.cube::<true>())
            }
        }
    }

    /// float32: `x (x x)` in float64 (never flagged), rounded to float32, as
    /// `math::single::powi`.
    #[inline(always)]
    pub fn avx512_f32(x: __m512) -> __m512 {
        // SAFETY: see above.
        unsafe {
            let cube = |v: __m512d| _mm512_cvtpd_ps(_mm512_mul_pd(v, _mm512_mul_pd(v, v)));
            let lo = _mm512_cvtps_pd(_mm512_castps512_ps256(x));
            let hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(
                _mm512_castps_pd(x),
            )));
            let (lo, hi) = (cube(lo), cube(hi));
            _mm512_castpd_ps(_mm512_insertf64x4::<1>(
                _mm512_castpd256_pd512(_mm256_castps_pd(lo)),
                _mm256_castps_pd(hi),
            ))
        }
    }

    /// As [`avx512_f32`].
    #[inline(always)]
    pub fn avx2_f32(x: __m256) -> __m256 {
        // SAFETY: see above.
        unsafe {
            let cube = |v: __m256d| _mm256_cvtpd_ps(_mm256_mul_pd(v, _mm256_mul_pd(v, v)));
            let lo = cube(_mm256_cvtps_pd(_mm256_castps256_ps128(x)));
            let hi = cube(_mm256_cvtps_pd(_mm256_extractf128_ps::<1>(x)));
            _mm256_insertf128_ps::<1>(_mm256_castps128_ps256(lo), hi)
        }
    }
}

/// The vector types of each level for one float dtype.
pub trait Lanes: Float + Order {
    /// The compile target's level.
    type Baseline: Vector<Elem = Self>;
    /// x86-64-v3 (AVX2).
    type Avx2: Vector<Elem = Self>;
    /// x86-64-v4 (AVX-512).
    type Avx512: Vector<Elem = Self>;
}

#[cfg(target_arch = "x86_64")]
mod lanes {
    use super::Lanes;
    use std::arch::x86_64::*;
    impl Lanes for f64 {
        type Baseline = __m128d;
        type Avx2 = __m256d;
        type Avx512 = __m512d;
    }
    impl Lanes for f32 {
        type Baseline = __m128;
        type Avx2 = __m256;
        type Avx512 = __m512;
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod lanes {
    use super::{Lanes, One};
    impl Lanes for f64 {
        type Baseline = One<f64>;
        type Avx2 = One<f64>;
        type Avx512 = One<f64>;
    }
    impl Lanes for f32 {
        type Baseline = One<f32>;
        type Avx2 = One<f32>;
        type Avx512 = One<f32>;
    }
}
