//! Reductions: the block loop computes a reduction program's values a block at a time (never
//! more than a block of `a*b` exists for `sum(a*b)`), and a [`Reducer`] folds each block into a
//! partial as it leaves the registers.
//!
//! Determinism: partials belong to fixed work units (blocks of the iteration plan), not to
//! threads, and are combined in a fixed pairwise order at the end, so a result is the same bits
//! for every thread count.
//!
//! Along an axis, the walk follows the inputs' memory: when the reduced axis is their innermost
//! one, each output element's run is one row of the plan, folded like a full reduction; when it
//! is an outer one (`axis=0` of a C-ordered array), rows of the kept axes are streamed and
//! added element by element into rows of accumulators ([`Sweep`]), as NumPy does.
//!
//! Accuracy: float sums use NumPy's own pairwise summation (8 partial sums for runs of at most
//! 128, halving above) within each block, and combine the blocks' partials pairwise, so the
//! error grows as O(log n)·ε as NumPy's does; for a contiguous run of at most one block the
//! result is NumPy's bit for bit. Over an outer axis, rows are added one after another (NumPy's
//! order) within at most [`SWEEP_CHUNKS`] chunks of consecutive rows, and the chunks pairwise.

use super::exec::{self, is_flat, Job, Slot, Sweep};
use super::plan::{broadcast_strides, contiguous_strides, Plan};
use super::{Bound, RawArray, RunOptions};
use crate::bytecode::{Op, Operand, Program, Reduce, ReduceKind};
use crate::error::{Error, ErrorKind, Result};
use crate::types::DType;
use half::f16;
use num_complex::{Complex, Complex32, Complex64};
use std::cell::UnsafeCell;
use std::ops::{Add, Div, Mul, Sub};

/// The floats sums are computed in.
pub(crate) trait Float:
    Copy
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + PartialOrd
    + Default
    + 'static
{
    const ZERO: Self;
    const NEG_ZERO: Self;
    fn to_f64(self) -> f64;
    fn from_f64(x: f64) -> Self;
}

impl Float for f32 {
    const ZERO: f32 = 0.0;
    const NEG_ZERO: f32 = -0.0;
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn from_f64(x: f64) -> f32 {
        x as f32
    }
}

impl Float for f64 {
    const ZERO: f64 = 0.0;
    const NEG_ZERO: f64 = -0.0;
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(x: f64) -> f64 {
        x
    }
}

/// A run of values a float sum reads: a slice, or the products of two runs as the multiply
/// kernel rounds them (for `sum(a*b)` folded without writing the products to a register), or
/// one value repeated (a broadcast or scalar factor).
pub(crate) trait Values<T>: Copy {
    fn get(self, i: usize) -> T;
    /// Values `8 i .. 8 i + 8`.
    fn chunk(self, i: usize) -> [T; 8];
    /// The run from value `k` on.
    fn skip(self, k: usize) -> Self;
}

impl<T: Copy> Values<T> for &[T] {
    #[inline(always)]
    fn get(self, i: usize) -> T {
        self[i]
    }
    #[inline(always)]
    fn chunk(self, i: usize) -> [T; 8] {
        *self[8 * i..]
            .first_chunk::<8>()
            .expect("the caller stays inside the run")
    }
    #[inline(always)]
    fn skip(self, k: usize) -> Self {
        &self[k..]
    }
}

/// One value, as long a run as needed.
#[derive(Clone, Copy)]
pub(crate) struct Splat<T>(pub(crate) T);

impl<T: Copy> Values<T> for Splat<T> {
    #[inline(always)]
    fn get(self, _: usize) -> T {
        self.0
    }
    #[inline(always)]
    fn chunk(self, _: usize) -> [T; 8] {
        [self.0; 8]
    }
    #[inline(always)]
    fn skip(self, _: usize) -> Self {
        self
    }
}

/// `x[i] * y[i]`, each product rounded (no fused multiply-add), as NumPy's multiply gives it.
#[derive(Clone, Copy)]
pub(crate) struct Products<X, Y>(pub(crate) X, pub(crate) Y);

impl<T: Float, X: Values<T>, Y: Values<T>> Values<T> for Products<X, Y> {
    #[inline(always)]
    fn get(self, i: usize) -> T {
        self.0.get(i) * self.1.get(i)
    }
    #[inline(always)]
    fn chunk(self, i: usize) -> [T; 8] {
        let (x, y) = (self.0.chunk(i), self.1.chunk(i));
        std::array::from_fn(|j| x[j] * y[j])
    }
    #[inline(always)]
    fn skip(self, k: usize) -> Self {
        Products(self.0.skip(k), self.1.skip(k))
    }
}

/// One operand of a multiply whose products a sum folds: a run of values, or a scalar (or
/// broadcast) one.
#[derive(Clone, Copy)]
pub(crate) enum Factor<'a, T> {
    Run(&'a [T]),
    Scalar(T),
}

impl<'a, T: Copy> Factor<'a, T> {
    /// # Safety
    /// `p` addresses `n` values of `T` (one if `scalar`), valid and unchanged for `'a`.
    pub(crate) unsafe fn new(p: *const u8, scalar: bool, n: usize) -> Factor<'a, T> {
        if scalar {
            // SAFETY: the caller's contract.
            Factor::Scalar(unsafe { (p as *const T).read_unaligned() })
        } else {
            // SAFETY: the caller's contract.
            Factor::Run(unsafe { std::slice::from_raw_parts(p as *const T, n) })
        }
    }

    fn sub(self, k: usize, m: usize) -> Factor<'a, T> {
        match self {
            Factor::Run(xs) => Factor::Run(&xs[k..k + m]),
            scalar => scalar,
        }
    }
}

/// NumPy's pairwise sum of a contiguous run (`@TYPE@_pairwise_sum`, numpy/_core/src/umath/
/// loops_utils.h.src): sequential below 8 elements, 8 interleaved partial sums up to 128,
/// halved (at a multiple of 8) above. Same order of operations, so the same bits.
pub(crate) fn pairwise<T: Float>(xs: &[T]) -> T {
    pairwise_of(xs, xs.len())
}

/// The most leaves [`pairwise_of`] computes in one loop (a run of 2048 values).
const LOOP_LEAVES: usize = 16;

/// [`pairwise`] of the first `n` values of `v`.
///
/// Runs of `128 * 2^k` values (whole blocks) are summed in one loop over the run that restarts
/// the partial sums every 128 values, and the leaves are then added as NumPy's halving pairs
/// them. Written as NumPy's recursion with fixed-length leaves, LLVM unrolls each leaf into
/// straight-line code, and then the hardware prefetcher (which learns the stride of each load
/// instruction) no longer follows a stream from memory: `sum(a)` at 10^7 ran at a third of the
/// read bandwidth.
#[inline(always)]
pub(crate) fn pairwise_of<T: Float, V: Values<T>>(v: V, n: usize) -> T {
    let sum8 = |r: [T; 8]| ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    if n < 8 {
        (0..n).fold(T::ZERO, |r, i| r + v.get(i))
    } else if n <= 128 {
        let (r, end) = partials8(v, n);
        (end..n).fold(sum8(r), |res, i| res + v.get(i))
    } else if n.is_multiple_of(128) && (n / 128).is_power_of_two() && n / 128 <= LOOP_LEAVES {
        let mut leaves = [T::ZERO; LOOP_LEAVES];
        // NumPy starts a leaf's partial sums from its first 8 values; -0.0 + x is x, bit for
        // bit, so starting from -0.0 and adding them gives the same sums without a branch.
        let mut r = [T::NEG_ZERO; 8];
        for i in 0..n / 8 {
            let c = v.chunk(i);
            for j in 0..8 {
                r[j] = r[j] + c[j];
            }
            if i % 16 == 15 {
                leaves[i / 16] = sum8(r);
                r = [T::NEG_ZERO; 8];
            }
        }
        // NumPy's halving of 128 * 2^k values pairs neighbouring leaves, level by level.
        let mut m = n / 128;
        while m > 1 {
            m /= 2;
            for k in 0..m {
                leaves[k] = leaves[2 * k] + leaves[2 * k + 1];
            }
        }
        leaves[0]
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_of(v, n2) + pairwise_of(v.skip(n2), n - n2)
    }
}

/// The leaf of NumPy's pairwise sum over the first `n` values of `v` (8 <= `n` <= 128): eight
/// interleaved partial sums over the longest prefix of whole groups of 8, and that prefix's
/// length (the caller adds the rest, and combines the partials its own way: real or (re, im)
/// pairs).
fn partials8<T: Float, V: Values<T>>(v: V, n: usize) -> ([T; 8], usize) {
    let mut r = v.chunk(0);
    for i in 1..n / 8 {
        let c = v.chunk(i);
        for j in 0..8 {
            r[j] = r[j] + c[j];
        }
    }
    (r, n - n % 8)
}

/// NumPy's complex pairwise sum: the same recursion over the interleaved (re, im) floats, with
/// the 8 partial sums holding 4 real and 4 imaginary ones.
pub(crate) fn pairwise_complex<T: Float>(xs: &[T]) -> (T, T) {
    let n = xs.len();
    if n < 8 {
        let mut rr = T::ZERO;
        let mut ri = T::ZERO;
        for c in xs.chunks_exact(2) {
            rr = rr + c[0];
            ri = ri + c[1];
        }
        (rr, ri)
    } else if n <= 128 {
        let (r, end) = partials8(xs, n);
        let mut rr = (r[0] + r[2]) + (r[4] + r[6]);
        let mut ri = (r[1] + r[3]) + (r[5] + r[7]);
        for c in xs[end..].chunks_exact(2) {
            rr = rr + c[0];
            ri = ri + c[1];
        }
        (rr, ri)
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        let (a, b) = pairwise_complex(&xs[..n2]);
        let (c, d) = pairwise_complex(&xs[n2..]);
        (a + c, b + d)
    }
}

/// Writing a result: the value itself, or (float32 accumulations of float16 values) rounded to
/// float16 once at the end, as NumPy's half loops do.
pub(crate) trait Store: Copy {
    /// # Safety
    /// `out` is writable for one element of the result dtype.
    unsafe fn store(self, out: *mut u8, half: bool) {
        let _ = half;
        // SAFETY: the caller's contract.
        unsafe { (out as *mut Self).write_unaligned(self) }
    }
}

impl Store for f32 {
    unsafe fn store(self, out: *mut u8, half: bool) {
        // SAFETY: the caller's contract.
        unsafe {
            if half {
                (out as *mut f16).write_unaligned(f16::from_f32(self))
            } else {
                (out as *mut f32).write_unaligned(self)
            }
        }
    }
}

macro_rules! plain_store {
    ($($t:ty),*) => { $(impl Store for $t {})* };
}
plain_store!(bool, i8, i16, i32, i64, u8, u16, u32, u64, f64, Complex32, Complex64);

/// Comparisons as NumPy's `maximum`/`minimum`/`argmax`/`argmin` make them: complex numbers in
/// lexicographic order, and NaN (a NaN part for complex) winning over everything.
pub(crate) trait Ordered: Store + Default + Send + Sync + 'static {
    fn is_nan(self) -> bool {
        false
    }
    fn ge(self, other: Self) -> bool;
    fn le(self, other: Self) -> bool;
    fn gt(self, other: Self) -> bool;
    fn lt(self, other: Self) -> bool;
}

macro_rules! ordered_real {
    ($($t:ty: $nan:expr),*) => {$(
        impl Ordered for $t {
            #[allow(clippy::redundant_closure_call)]
            fn is_nan(self) -> bool { ($nan)(self) }
            fn ge(self, o: Self) -> bool { self >= o }
            fn le(self, o: Self) -> bool { self <= o }
            fn gt(self, o: Self) -> bool { self > o }
            fn lt(self, o: Self) -> bool { self < o }
        }
    )*};
}
ordered_real!(bool: |_| false, i8: |_| false, i16: |_| false, i32: |_| false, i64: |_| false,
    u8: |_| false, u16: |_| false, u32: |_| false, u64: |_| false,
    f32: |x: f32| x.is_nan(), f64: |x: f64| x.is_nan());

macro_rules! ordered_complex {
    ($($t:ty),*) => {$(
        impl Ordered for Complex<$t> {
            fn is_nan(self) -> bool { self.re.is_nan() || self.im.is_nan() }
            // NumPy's CGE/CLE/CGT/CLT (numpy/_core/src/umath/loops.c.src).
            fn ge(self, o: Self) -> bool {
                (self.re > o.re && !self.im.is_nan() && !o.im.is_nan())
                    || (self.re == o.re && self.im >= o.im)
            }
            fn le(self, o: Self) -> bool {
                (self.re < o.re && !self.im.is_nan() && !o.im.is_nan())
                    || (self.re == o.re && self.im <= o.im)
            }
            fn gt(self, o: Self) -> bool {
                (self.re > o.re && !self.im.is_nan() && !o.im.is_nan())
                    || (self.re == o.re && self.im > o.im)
            }
            fn lt(self, o: Self) -> bool {
                (self.re < o.re && !self.im.is_nan() && !o.im.is_nan())
                    || (self.re == o.re && self.im < o.im)
            }
        }
    )*};
}
ordered_complex!(f32, f64);

/// One reduction's arithmetic over values of one dtype.
trait Fold: Send + Sync + 'static {
    type T: Copy;
    type Acc: Copy + Send + Sync + Default;
    /// The value of an empty reduction (only asked of reductions that have one).
    fn identity(&self) -> Self::Acc;
    /// Folds a non-empty run; `first` is the flat index of `xs[0]` (argmin/argmax only).
    fn fold(&self, xs: &[Self::T], first: usize) -> Self::Acc;
    /// Combines the partials of two runs, `a` before `b`.
    fn combine(&self, a: Self::Acc, b: Self::Acc) -> Self::Acc;
    /// Whether [`Fold::fold_products`] is implemented.
    const PRODUCTS: bool = false;
    /// Folds the non-empty run `x[i] * y[i]`, `i < n`, as [`Fold::fold`] would fold the
    /// products the multiply kernel writes. Only called when [`Fold::PRODUCTS`] says so.
    fn fold_products(
        &self,
        _x: Factor<'_, Self::T>,
        _y: Factor<'_, Self::T>,
        _n: usize,
    ) -> Self::Acc {
        unreachable!("only folds with PRODUCTS are given products")
    }
    /// Adds one row of values to a row of accumulators, element by element (`init`: the first
    /// row, which sets them).
    fn accumulate(&self, acc: &mut [Self::Acc], xs: &[Self::T], init: bool) {
        for (a, x) in acc.iter_mut().zip(xs) {
            let v = self.fold(std::slice::from_ref(x), 0);
            *a = if init { v } else { self.combine(*a, v) };
        }
    }
    /// Writes the result of `count` values whose accumulation is `a`.
    ///
    /// # Safety
    /// `out` is writable for one element of the result dtype.
    unsafe fn finish(&self, a: Self::Acc, count: usize, out: *mut u8);
}

/// `sum` and `mean` of float32/float64 (float16 arrives as float32 and leaves rounded).
struct FloatSum<T> {
    mean: bool,
    half: bool,
    _t: std::marker::PhantomData<T>,
}

impl<T: Float + Store + Send + Sync> Fold for FloatSum<T> {
    type T = T;
    type Acc = T;
    fn identity(&self) -> T {
        T::ZERO
    }
    fn fold(&self, xs: &[T], _: usize) -> T {
        pairwise(xs)
    }
    fn combine(&self, a: T, b: T) -> T {
        a + b
    }
    const PRODUCTS: bool = true;
    fn fold_products(&self, x: Factor<'_, T>, y: Factor<'_, T>, n: usize) -> T {
        use Factor::{Run, Scalar};
        // The factors in the multiply's order (a NaN's payload comes from its first operand).
        match (x, y) {
            (Run(x), Run(y)) => pairwise_of(Products(x, y), n),
            (Run(x), Scalar(y)) => pairwise_of(Products(x, Splat(y)), n),
            (Scalar(x), Run(y)) => pairwise_of(Products(Splat(x), y), n),
            (Scalar(x), Scalar(y)) => pairwise_of(Products(Splat(x), Splat(y)), n),
        }
    }
    fn accumulate(&self, acc: &mut [T], xs: &[T], init: bool) {
        if init {
            acc.copy_from_slice(xs);
        } else {
            acc.iter_mut().zip(xs).for_each(|(a, &x)| *a = *a + x);
        }
    }
    unsafe fn finish(&self, a: T, count: usize, out: *mut u8) {
        // NumPy starts the reduction from the identity 0.0 (so a sum of -0.0s is 0.0).
        let mut v = T::ZERO + a;
        if self.mean {
            // np.mean divides the sum by the count as an `np.intp`, a strong int64: the
            // division is float64's (float32 / int64 promotes), rounded back to the dtype
            // (0/0 = NaN when empty).
            v = T::from_f64(v.to_f64() / count as f64);
        }
        // SAFETY: forwarded.
        unsafe { v.store(out, self.half) }
    }
}

/// `sum` and `mean` of complex values.
struct ComplexSum<T> {
    mean: bool,
    _t: std::marker::PhantomData<T>,
}

impl<T: Float + Send + Sync> Fold for ComplexSum<T>
where
    Complex<T>: Store,
{
    type T = Complex<T>;
    type Acc = (T, T);
    fn identity(&self) -> (T, T) {
        (T::ZERO, T::ZERO)
    }
    fn fold(&self, xs: &[Complex<T>], _: usize) -> (T, T) {
        // SAFETY: Complex<T> is repr(C) { re, im }: n complex values are 2n floats.
        let flat = unsafe { std::slice::from_raw_parts(xs.as_ptr() as *const T, xs.len() * 2) };
        pairwise_complex(flat)
    }
    fn combine(&self, a: (T, T), b: (T, T)) -> (T, T) {
        (a.0 + b.0, a.1 + b.1)
    }
    unsafe fn finish(&self, a: (T, T), count: usize, out: *mut u8) {
        let (mut re, mut im) = (T::ZERO + a.0, T::ZERO + a.1);
        if self.mean {
            // np.mean divides by the count as an `np.intp`: complex128 division by (n + 0j),
            // which NumPy does with Smith's method, (re + im*0) * (1/n) (not always re/n),
            // rounded back to the dtype.
            let (r, i) = (re.to_f64(), im.to_f64());
            let n = count as f64;
            let (x, y) = if count == 0 {
                (r / n, i / n)
            } else {
                let rat = 0.0 / n;
                let scl = 1.0 / (n + 0.0 * rat);
                ((r + i * rat) * scl, (i - r * rat) * scl)
            };
            (re, im) = (T::from_f64(x), T::from_f64(y));
        }
        // SAFETY: forwarded.
        unsafe { Complex::new(re, im).store(out, false) }
    }
}

/// `sum` and `prod` of int64/uint64 (smaller integers and bool arrive widened): wrapping, as
/// NumPy's integer loops.
struct IntFold<T> {
    prod: bool,
    _t: std::marker::PhantomData<T>,
}

macro_rules! int_fold {
    ($($t:ty),*) => {$(
        impl Fold for IntFold<$t> {
            type T = $t;
            type Acc = $t;
            fn identity(&self) -> $t {
                self.prod as $t
            }
            fn fold(&self, xs: &[$t], _: usize) -> $t {
                if self.prod {
                    xs.iter().fold(1, |a: $t, &x| a.wrapping_mul(x))
                } else {
                    xs.iter().fold(0, |a: $t, &x| a.wrapping_add(x))
                }
            }
            fn combine(&self, a: $t, b: $t) -> $t {
                if self.prod { a.wrapping_mul(b) } else { a.wrapping_add(b) }
            }
            fn accumulate(&self, acc: &mut [$t], xs: &[$t], init: bool) {
                if init {
                    acc.copy_from_slice(xs);
                } else if self.prod {
                    acc.iter_mut().zip(xs).for_each(|(a, &x)| *a = a.wrapping_mul(x));
                } else {
                    acc.iter_mut().zip(xs).for_each(|(a, &x)| *a = a.wrapping_add(x));
                }
            }
            unsafe fn finish(&self, a: $t, _: usize, out: *mut u8) {
                // SAFETY: forwarded.
                unsafe { a.store(out, false) }
            }
        }
    )*};
}
int_fold!(i64, u64);

/// `prod` of floats and complex: sequential, as NumPy's multiply loops reduce.
struct Product<T> {
    half: bool,
    one: T,
}

impl<T: Copy + Default + Mul<Output = T> + Store + Send + Sync + 'static> Fold for Product<T> {
    type T = T;
    type Acc = T;
    fn identity(&self) -> T {
        self.one
    }
    fn fold(&self, xs: &[T], _: usize) -> T {
        xs.iter().fold(self.one, |a, &x| a * x)
    }
    fn combine(&self, a: T, b: T) -> T {
        a * b
    }
    fn accumulate(&self, acc: &mut [T], xs: &[T], init: bool) {
        if init {
            acc.copy_from_slice(xs);
        } else {
            acc.iter_mut().zip(xs).for_each(|(a, &x)| *a = *a * x);
        }
    }
    unsafe fn finish(&self, a: T, _: usize, out: *mut u8) {
        // SAFETY: forwarded.
        unsafe { a.store(out, self.half) }
    }
}

/// `min` and `max`: NumPy's `minimum.reduce`/`maximum.reduce`, so any NaN gives NaN.
struct Extreme<T> {
    max: bool,
    half: bool,
    _t: std::marker::PhantomData<T>,
}

impl<T: Ordered> Extreme<T> {
    #[inline]
    fn pick(&self, a: T, b: T) -> T {
        let keep = a.is_nan() || if self.max { a.ge(b) } else { a.le(b) };
        if keep {
            a
        } else {
            b
        }
    }
}

impl<T: Ordered> Fold for Extreme<T> {
    type T = T;
    type Acc = T;
    fn identity(&self) -> T {
        T::default()
    }
    fn fold(&self, xs: &[T], _: usize) -> T {
        xs[1..].iter().fold(xs[0], |a, &x| self.pick(a, x))
    }
    fn combine(&self, a: T, b: T) -> T {
        self.pick(a, b)
    }
    fn accumulate(&self, acc: &mut [T], xs: &[T], init: bool) {
        if init {
            acc.copy_from_slice(xs);
        } else {
            acc.iter_mut()
                .zip(xs)
                .for_each(|(a, &x)| *a = self.pick(*a, x));
        }
    }
    unsafe fn finish(&self, a: T, _: usize, out: *mut u8) {
        // SAFETY: forwarded.
        unsafe { a.store(out, self.half) }
    }
}

/// `argmin` and `argmax`: the flat (C-order) index of the first extreme value; the first NaN
/// if there is one, as NumPy.
struct ArgExtreme<T> {
    max: bool,
    _t: std::marker::PhantomData<T>,
}

impl<T: Ordered> ArgExtreme<T> {
    #[inline]
    fn better(&self, x: T, than: T) -> bool {
        if self.max {
            x.gt(than)
        } else {
            x.lt(than)
        }
    }
}

impl<T: Ordered> Fold for ArgExtreme<T> {
    type T = T;
    type Acc = (T, usize);
    fn identity(&self) -> (T, usize) {
        (T::default(), 0)
    }
    fn fold(&self, xs: &[T], first: usize) -> (T, usize) {
        let mut best = (xs[0], first);
        if xs[0].is_nan() {
            return best;
        }
        for (i, &x) in xs.iter().enumerate().skip(1) {
            if x.is_nan() {
                return (x, first + i);
            }
            if self.better(x, best.0) {
                best = (x, first + i);
            }
        }
        best
    }
    fn combine(&self, a: (T, usize), b: (T, usize)) -> (T, usize) {
        if a.0.is_nan() {
            a
        } else if b.0.is_nan() || self.better(b.0, a.0) {
            b
        } else {
            a
        }
    }
    unsafe fn finish(&self, a: (T, usize), _: usize, out: *mut u8) {
        // SAFETY: forwarded.
        unsafe { (a.1 as i64).store(out, false) }
    }
}

/// `any` and `all` of values already tested for truth (bool).
struct Logical {
    all: bool,
}

impl Fold for Logical {
    type T = bool;
    type Acc = bool;
    fn identity(&self) -> bool {
        self.all
    }
    fn fold(&self, xs: &[bool], _: usize) -> bool {
        // Read as bytes: the cast kernel writes 0 or 1, and a byte fold vectorises.
        // SAFETY: bool is one byte.
        let bytes = unsafe { std::slice::from_raw_parts(xs.as_ptr() as *const u8, xs.len()) };
        if self.all {
            bytes.iter().fold(1u8, |a, &x| a & x) != 0
        } else {
            bytes.iter().fold(0u8, |a, &x| a | x) != 0
        }
    }
    fn combine(&self, a: bool, b: bool) -> bool {
        if self.all {
            a && b
        } else {
            a || b
        }
    }
    fn accumulate(&self, acc: &mut [bool], xs: &[bool], init: bool) {
        if init {
            acc.copy_from_slice(xs);
        } else if self.all {
            acc.iter_mut().zip(xs).for_each(|(a, &x)| *a &= x);
        } else {
            acc.iter_mut().zip(xs).for_each(|(a, &x)| *a |= x);
        }
    }
    unsafe fn finish(&self, a: bool, _: usize, out: *mut u8) {
        // SAFETY: forwarded.
        unsafe { a.store(out, false) }
    }
}

/// How blocks' values become results.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Mode {
    /// One partial per work unit, combined at the end: full reductions, and axis reductions
    /// whose runs along the axis span whole blocks.
    Partials,
    /// Every segment of a block is one whole run along the axis (short axes, blocks cut at run
    /// boundaries): finished straight into its output element.
    Runs,
    /// The reduced axis has length 1: every element is its own result, written at operand 0's
    /// address, stepping by `stride` bytes within a segment.
    Each { stride: isize },
    /// The reduced axis is an outer axis of the plan, run in the sweep's order: each block is
    /// added into the accumulators of its columns (one row of `inner` per row group and chunk
    /// of the reduced axis); with one chunk, the last row's block finishes them straight into
    /// the output (operand 0, stepping by `out_stride` bytes), else [`Reducer::finish_group`]
    /// combines the chunks.
    Sweep {
        sweep: exec::Sweep,
        inner: usize,
        block: usize,
        out_stride: isize,
    },
}

/// A reduction of one kind and dtype, with its partials: what the block loop hands each block's
/// values to.
pub(crate) trait Reducer: Sync {
    /// Folds one block of `n` values at `values` (contiguous, of the reduction's dtype) of work
    /// unit `unit`. `segments` are the block's runs within the plan's rows, each with operand
    /// 0's address of its first element (the output element, or the flat index as a pointer
    /// for argmin/argmax) and its length.
    ///
    /// # Safety
    /// `values` addresses `n` values; each unit is folded by one thread; in the `Runs`/`Each`
    /// modes segment pointers address output elements of the result dtype.
    unsafe fn block(&self, unit: usize, values: *const u8, n: usize, segments: &[(*mut u8, usize)]);

    /// Whether [`Reducer::block_products`] may be called: float sums in the `Partials` and
    /// `Runs` modes, which fold a block's values in one pass (so the products need not be
    /// written to a register first: the fold then overlaps the loads of the inputs).
    fn folds_products(&self) -> bool;

    /// As [`Reducer::block`] for the values `x[i] * y[i]`: `x` and `y` address `n` values of
    /// the reduction's dtype each, or one when the matching `scalar` flag is set.
    ///
    /// # Safety
    /// As [`Reducer::block`], for both factors.
    unsafe fn block_products(
        &self,
        unit: usize,
        x: (*const u8, bool),
        y: (*const u8, bool),
        n: usize,
        segments: &[(*mut u8, usize)],
    );

    /// Combines the partials of `units` pairwise and writes the result of `count` values.
    ///
    /// # Safety
    /// `out` is writable for one result; every unit in the range was folded.
    unsafe fn finish_units(&self, units: std::ops::Range<usize>, count: usize, out: *mut u8);

    /// `Sweep` mode with several chunks: combines the chunks' accumulators of row group `group`
    /// pairwise and writes its results from `out` on.
    ///
    /// # Safety
    /// `out` is the group's first output element; every unit was folded.
    unsafe fn finish_group(&self, group: usize, out: *mut u8);

    /// Writes the result of an empty reduction.
    ///
    /// # Safety
    /// `out` is writable for one result.
    unsafe fn finish_empty(&self, out: *mut u8);
}

#[repr(transparent)]
struct Cell<A>(UnsafeCell<A>);
// SAFETY: each cell is written by the one thread that claimed its unit, and read after the
// threads have joined.
unsafe impl<A: Send> Sync for Cell<A> {}

struct Run<F: Fold> {
    f: F,
    mode: Mode,
    partials: Vec<Cell<F::Acc>>,
}

impl<F: Fold> Run<F> {
    /// The `Partials` and `Runs` modes of [`Reducer::block`]: `fold(k, m, p)` folds the
    /// segment of `m` values from the block's `k`-th on, whose operand 0 is `p`.
    ///
    /// # Safety
    /// As [`Reducer::block`].
    unsafe fn fold_segments(
        &self,
        unit: usize,
        segments: &[(*mut u8, usize)],
        fold: impl Fn(usize, usize, usize) -> F::Acc,
    ) {
        let mut k = 0;
        if self.mode == Mode::Runs {
            for &(p, m) in segments {
                let a = fold(k, m, 0);
                // SAFETY: p is this run's output element.
                unsafe { self.f.finish(a, m, p) };
                k += m;
            }
            return;
        }
        let mut acc: Option<F::Acc> = None;
        for &(p, m) in segments {
            let a = fold(k, m, p as usize);
            acc = Some(match acc {
                None => a,
                Some(before) => self.f.combine(before, a),
            });
            k += m;
        }
        // SAFETY: this unit is this thread's.
        unsafe { *self.partials[unit].0.get() = acc.expect("a block is not empty") };
    }

    /// Pairwise, in order, as [`Run::combine_range`].
    fn combine_refs(&self, cells: &[&Cell<F::Acc>]) -> F::Acc {
        // SAFETY: read after the block loop joined its threads.
        match cells.len() {
            1 => unsafe { *cells[0].0.get() },
            n => {
                let (a, b) = cells.split_at(n / 2);
                self.f.combine(self.combine_refs(a), self.combine_refs(b))
            }
        }
    }

    fn combine_range(&self, units: &[Cell<F::Acc>]) -> F::Acc {
        // Pairwise, in unit order: the partials of neighbouring blocks meet first.
        // SAFETY: read after the block loop joined its threads.
        match units.len() {
            1 => unsafe { *units[0].0.get() },
            n => {
                let (a, b) = units.split_at(n / 2);
                self.f.combine(self.combine_range(a), self.combine_range(b))
            }
        }
    }
}

impl<F: Fold> Reducer for Run<F> {
    unsafe fn block(
        &self,
        unit: usize,
        values: *const u8,
        n: usize,
        segments: &[(*mut u8, usize)],
    ) {
        // SAFETY: the caller's contract.
        let xs = unsafe { std::slice::from_raw_parts(values as *const F::T, n) };
        match self.mode {
            Mode::Partials | Mode::Runs => {
                // SAFETY: forwarded.
                unsafe {
                    self.fold_segments(unit, segments, |k, m, p| self.f.fold(&xs[k..k + m], p))
                }
            }
            Mode::Sweep {
                sweep,
                inner,
                block,
                out_stride,
            } => {
                let (g, r, blk) = sweep.locate(unit);
                let q = r / sweep.chunk;
                let last = r + 1 == ((q + 1) * sweep.chunk).min(sweep.count);
                let e0 = (q * sweep.groups() + g) * inner + blk * block;
                assert!(e0 + n <= self.partials.len());
                // SAFETY: cells e0..e0+n (in bounds, checked) belong to this unit's item, which
                // one thread runs; Cell and UnsafeCell are transparent, so the cells are
                // consecutive accumulators.
                let acc = unsafe {
                    std::slice::from_raw_parts_mut(
                        UnsafeCell::raw_get(
                            self.partials.as_ptr().add(e0) as *const UnsafeCell<F::Acc>
                        ),
                        n,
                    )
                };
                self.f.accumulate(acc, xs, r % sweep.chunk == 0);
                if last && sweep.chunks == 1 {
                    let p = segments[0].0;
                    for (j, &a) in acc.iter().enumerate() {
                        // SAFETY: the j-th column's output element, inside the output.
                        unsafe {
                            self.f.finish(
                                a,
                                sweep.count,
                                p.wrapping_offset(j as isize * out_stride),
                            )
                        };
                    }
                }
            }
            Mode::Each { stride } => {
                let mut k = 0;
                for &(p, m) in segments {
                    for j in 0..m {
                        let a = self.f.fold(&xs[k + j..k + j + 1], 0);
                        // SAFETY: the j-th element's output, inside the output.
                        unsafe { self.f.finish(a, 1, p.wrapping_offset(j as isize * stride)) };
                    }
                    k += m;
                }
            }
        }
    }

    fn folds_products(&self) -> bool {
        F::PRODUCTS && matches!(self.mode, Mode::Partials | Mode::Runs)
    }

    unsafe fn block_products(
        &self,
        unit: usize,
        x: (*const u8, bool),
        y: (*const u8, bool),
        n: usize,
        segments: &[(*mut u8, usize)],
    ) {
        // SAFETY: the caller's contract.
        let (x, y) = unsafe { (Factor::new(x.0, x.1, n), Factor::new(y.0, y.1, n)) };
        // SAFETY: forwarded; only the Partials and Runs modes get here (`folds_products`).
        unsafe {
            self.fold_segments(unit, segments, |k, m, _| {
                self.f.fold_products(x.sub(k, m), y.sub(k, m), m)
            })
        }
    }

    unsafe fn finish_units(&self, units: std::ops::Range<usize>, count: usize, out: *mut u8) {
        let acc = self.combine_range(&self.partials[units]);
        // SAFETY: forwarded.
        unsafe { self.f.finish(acc, count, out) }
    }

    unsafe fn finish_group(&self, group: usize, out: *mut u8) {
        let Mode::Sweep {
            sweep,
            inner,
            out_stride,
            ..
        } = self.mode
        else {
            return;
        };
        let chunk_of =
            |q: usize, col: usize| &self.partials[(q * sweep.groups() + group) * inner + col];
        for col in 0..inner {
            let cells: Vec<&Cell<F::Acc>> = (0..sweep.chunks).map(|q| chunk_of(q, col)).collect();
            let acc = self.combine_refs(&cells);
            // SAFETY: the column's output element.
            unsafe {
                self.f.finish(
                    acc,
                    sweep.count,
                    out.wrapping_offset(col as isize * out_stride),
                )
            };
        }
    }

    unsafe fn finish_empty(&self, out: *mut u8) {
        // SAFETY: forwarded.
        unsafe { self.f.finish(self.f.identity(), 0, out) }
    }
}

fn run<F: Fold>(f: F, mode: Mode, units: usize) -> Box<dyn Reducer> {
    let partials = (0..units)
        .map(|_| Cell(UnsafeCell::new(F::Acc::default())))
        .collect();
    Box::new(Run { f, mode, partials })
}

/// The reducer for `spec`, with room for `units` partials.
pub(crate) fn reducer(spec: &Reduce, mode: Mode, units: usize) -> Result<Box<dyn Reducer>> {
    use std::marker::PhantomData as P;
    use DType as D;
    use ReduceKind as K;
    let half = spec.out == D::F16;
    let mean = spec.kind == K::Mean;
    let max = matches!(spec.kind, K::Max | K::ArgMax);
    macro_rules! ordered {
        ($make:ident) => {
            match spec.ty {
                D::Bool => $make!(bool),
                D::I8 => $make!(i8),
                D::I16 => $make!(i16),
                D::I32 => $make!(i32),
                D::I64 => $make!(i64),
                D::U8 => $make!(u8),
                D::U16 => $make!(u16),
                D::U32 => $make!(u32),
                D::U64 => $make!(u64),
                D::F32 => $make!(f32),
                D::F64 => $make!(f64),
                D::C64 => $make!(Complex32),
                D::C128 => $make!(Complex64),
                D::F16 => None,
            }
        };
    }
    macro_rules! extreme {
        ($t:ty) => {
            Some(run(Extreme::<$t> { max, half, _t: P }, mode, units))
        };
    }
    macro_rules! arg {
        ($t:ty) => {
            Some(run(ArgExtreme::<$t> { max, _t: P }, mode, units))
        };
    }
    let r = match (spec.kind, spec.ty) {
        (K::Sum | K::Mean, D::F32) => Some(run(FloatSum::<f32> { mean, half, _t: P }, mode, units)),
        (K::Sum | K::Mean, D::F64) => Some(run(FloatSum::<f64> { mean, half, _t: P }, mode, units)),
        (K::Sum | K::Mean, D::C64) => Some(run(ComplexSum::<f32> { mean, _t: P }, mode, units)),
        (K::Sum | K::Mean, D::C128) => Some(run(ComplexSum::<f64> { mean, _t: P }, mode, units)),
        (K::Sum, D::I64) => Some(run(IntFold::<i64> { prod: false, _t: P }, mode, units)),
        (K::Sum, D::U64) => Some(run(IntFold::<u64> { prod: false, _t: P }, mode, units)),
        (K::Prod, D::I64) => Some(run(IntFold::<i64> { prod: true, _t: P }, mode, units)),
        (K::Prod, D::U64) => Some(run(IntFold::<u64> { prod: true, _t: P }, mode, units)),
        (K::Prod, D::F32) => Some(run(Product::<f32> { half, one: 1.0 }, mode, units)),
        (K::Prod, D::F64) => Some(run(Product::<f64> { half, one: 1.0 }, mode, units)),
        (K::Prod, D::C64) => Some(run(
            Product::<Complex32> {
                half,
                one: Complex32::new(1.0, 0.0),
            },
            mode,
            units,
        )),
        (K::Prod, D::C128) => Some(run(
            Product::<Complex64> {
                half,
                one: Complex64::new(1.0, 0.0),
            },
            mode,
            units,
        )),
        (K::Min | K::Max, _) => ordered!(extreme),
        (K::ArgMin | K::ArgMax, _) => ordered!(arg),
        (K::Any | K::All, D::Bool) => Some(run(
            Logical {
                all: spec.kind == K::All,
            },
            mode,
            units,
        )),
        _ => None,
    };
    r.ok_or_else(|| {
        Error::new(
            ErrorKind::Internal,
            format!("no reduction {} over {} values", spec.kind.name(), spec.ty),
        )
    })
}

/// The axis of `spec` as an index into a shape of `ndim` axes, or NumPy's AxisError.
pub(crate) fn normalize_axis(spec: &Reduce, ndim: usize) -> Result<Option<usize>> {
    let Some(a) = spec.axis else { return Ok(None) };
    let k = if a < 0 { a + ndim as i64 } else { a };
    if k < 0 || k >= ndim as i64 {
        return Err(Error::at(
            ErrorKind::Shape,
            spec.axis_span,
            format!("axis {a} is out of bounds for array of dimension {ndim}"),
        ));
    }
    Ok(Some(k as usize))
}

/// The shape of a reduction's result over operands broadcast to `shape`.
pub(crate) fn result_shape(spec: &Reduce, shape: &[usize]) -> Result<Vec<usize>> {
    Ok(match normalize_axis(spec, shape.len())? {
        None => Vec::new(),
        Some(k) => {
            let mut s = shape.to_vec();
            s.remove(k);
            s
        }
    })
}

/// NumPy's error for `min`/`max`/`argmin`/`argmax` of nothing.
fn empty_error(kind: ReduceKind) -> Error {
    let message = match kind {
        ReduceKind::ArgMin | ReduceKind::ArgMax => {
            format!("attempt to get {} of an empty sequence", kind.name())
        }
        _ => format!(
            "zero-size array to reduction operation {} which has no identity",
            kind.ufunc_name()
        ),
    };
    Error::new(ErrorKind::Value, message)
}

/// Calls `f` with the address of every element of `out`.
fn for_each_element(out: &RawArray, f: &mut dyn FnMut(*mut u8)) {
    let n: usize = out.shape.iter().product();
    let strides = out.byte_strides();
    for flat in 0..n {
        let mut rest = flat;
        let mut offset = 0isize;
        for (axis, &d) in out.shape.iter().enumerate().rev() {
            offset += (rest % d) as isize * strides[axis];
            rest /= d;
        }
        f(out.ptr.wrapping_offset(offset));
    }
}

/// An outer-axis reduction cuts its reduced axis into at most this many chunks of consecutive
/// rows, each with its own accumulators (combined pairwise at the end): an item then reads
/// whole rows one after another (one stream through memory), there is work for every thread
/// even when the kept axes are small, and the error grows with the chunk's length instead of
/// the axis's. The number of chunks is a function of the shape alone, so the result does not
/// depend on the thread count.
const SWEEP_CHUNKS: usize = 16;

/// Accumulators all chunks may hold together (elements): the final combination of the chunks
/// runs on one thread, so it is kept well below the main pass's work.
const SWEEP_CELLS: usize = 1 << 17;

/// Blocks per row an item takes at most, so that its accumulators (a block's worth each) stay
/// in L2 while it walks its rows (64 blocks of 512 float64: 256 KiB).
const SWEEP_SPAN: usize = 64;

/// The plan and order for an axis reduction whose inputs do not lie along the reduced axis
/// (`sum(a, axis=0)` of a C-ordered `a`, or `axis=-1` of a Fortran one): the axes ordered by
/// the first full-size input's memory, blocks along its contiguous kept axes, each added into
/// a row of accumulators as NumPy's reduction over an outer axis does, instead of gathering a
/// run along the reduced axis for every output element. `None` when the reduced axis is the
/// inputs' innermost (runs along it are contiguous: the pairwise path) or when the kept run is
/// short (the gathering path packs whole runs into blocks).
fn sweep_plan(
    shape: &[usize],
    strides: &[Vec<isize>],
    block: usize,
    threads: usize,
) -> Option<(Plan, Sweep)> {
    // Strides of a full-size input (no broadcast axis) order the walk.
    let key = strides[1..].iter().find(|s| {
        shape
            .iter()
            .zip(s.iter())
            .all(|(&d, &st)| d == 1 || st != 0)
    })?;
    let plan = Plan::ordered(shape, strides, key);
    if plan.inner_strides[0] == 0 || is_flat(&plan, block) {
        return None;
    }
    // The reduced axis is the one outer axis operand 0 (the output) does not step along.
    let zero: Vec<usize> = (0..plan.outer.len())
        .filter(|&a| plan.outer_strides[0][a] == 0)
        .collect();
    let [q] = zero.as_slice() else { return None };
    let before: usize = plan.outer[..*q].iter().product();
    let count = plan.outer[*q];
    let after: usize = plan.outer[q + 1..].iter().product();
    let bpr = plan.blocks_per_row(block);
    let kept = before * after * plan.inner;
    let chunks = (SWEEP_CELLS / kept).clamp(1, SWEEP_CHUNKS).min(count);
    let chunk = count.div_ceil(chunks);
    let chunks = count.div_ceil(chunk);
    // Items: a few per thread (cutting the rows into spans of blocks only when the chunks and
    // groups are too few, or the rows too long for L2).
    let want = threads * 4;
    let spans = want
        .div_ceil(chunks * before * after)
        .max(bpr.div_ceil(SWEEP_SPAN))
        .clamp(1, bpr);
    let span = bpr.div_ceil(spans);
    let spans = bpr.div_ceil(span);
    let sweep = Sweep {
        bpr,
        before,
        count,
        after,
        chunk,
        chunks,
        span,
        spans,
    };
    Some((plan, sweep))
}

/// Runs a reduction program (its sub-reductions already in `bound.slots`) into `out`, which has
/// the reduced shape and the result dtype.
pub(super) fn execute(
    program: &Program,
    bound: &mut Bound,
    out: &RawArray,
    opts: &RunOptions,
) -> Result<()> {
    let Some(setup) = Setup::new(program, bound, out, opts)? else {
        // Nothing to reduce, or nothing to reduce into.
        if out.shape.contains(&0) {
            return Ok(());
        }
        let spec = program
            .reduce
            .ok_or_else(|| Error::new(ErrorKind::Internal, "not a reduction program"))?;
        if !spec.kind.has_identity() {
            return Err(empty_error(spec.kind));
        }
        let r = reducer(&spec, Mode::Partials, 0)?;
        // SAFETY: every element of the output, of the result dtype.
        for_each_element(out, &mut |p| unsafe { r.finish_empty(p) });
        return Ok(());
    };
    exec::run_prologue(program, &mut bound.slots, opts.lookup)?;
    let inputs: Vec<*const u8> = bound.inputs.iter().map(|i| i.ptr as *const u8).collect();
    // SAFETY: the bound inputs and `out` are the arrays the setup was made for.
    unsafe { setup.run(program, &bound.slots, out.ptr, &inputs) }
}

/// What a reduction's evaluation decides from the layouts of its operands alone (the walk, the
/// blocks, the kernels, how values become results), for [`Setup::run`] over their data; made
/// once per call by [`execute`], or once for many calls by a
/// [`Prepared`](super::prepared::Prepared) evaluation.
pub(super) struct Setup {
    spec: Reduce,
    axis: Option<usize>,
    /// Values folded into each result.
    count: usize,
    plan: Plan,
    sweep: Option<Sweep>,
    mode: Mode,
    block: usize,
    threads: usize,
    parallel_work: usize,
    kernels: Vec<exec::BodyKernel>,
    /// Element size of each operand (0: the output, or 1 for a full reduction's walk).
    sizes: Vec<usize>,
    /// Work units of the block loop, and the reducer's cells (partials or accumulators).
    units: usize,
    cells: usize,
    direct: Option<usize>,
    products: bool,
}

impl Setup {
    /// The setup of `program` (a reduction) over `bound`'s inputs into `out` (the reduced
    /// shape); `None` when there is nothing to reduce (no values per result) or no result.
    pub(super) fn new(
        program: &Program,
        bound: &Bound,
        out: &RawArray,
        opts: &RunOptions,
    ) -> Result<Option<Setup>> {
        let spec = program
            .reduce
            .ok_or_else(|| Error::new(ErrorKind::Internal, "not a reduction program"))?;
        let shape = bound.shape.clone();
        let axis = normalize_axis(&spec, shape.len())?;
        let count: usize = match axis {
            None => shape.iter().product(),
            Some(k) => shape[k],
        };
        if count == 0 || out.shape.contains(&0) {
            return Ok(None);
        }
        // Operand 0 decides the order of the walk and what a block's segments point at.
        let is_arg = matches!(spec.kind, ReduceKind::ArgMin | ReduceKind::ArgMax);
        let (size0, strides0): (usize, Vec<isize>) = match axis {
            // argmin/argmax: a C-ordered "array" of element size 1 at address 0, so that operand
            // 0's address of an element is its flat C-order index (NumPy's answer), and the walk
            // is in C order.
            None if is_arg => (
                1,
                broadcast_strides(&shape, &contiguous_strides(&shape, false), &shape),
            ),
            // Other full reductions walk in the first input's memory order (never dereferenced).
            None => (
                1,
                match bound.inputs.first() {
                    Some(i) => broadcast_strides(&i.shape, &i.byte_strides(), &shape),
                    None => vec![0; shape.len()],
                },
            ),
            // Axis: the output, repeated along the reduced axis (stride 0), which the plan then
            // puts innermost: each row of the plan is one output element's run.
            Some(k) => {
                let mut s = out.byte_strides();
                s.insert(k, 0);
                (out.size, broadcast_strides(&shape, &s, &shape))
            }
        };
        let mut strides = vec![strides0];
        let mut sizes = vec![size0];
        for input in &bound.inputs {
            strides.push(broadcast_strides(
                &input.shape,
                &input.byte_strides(),
                &shape,
            ));
            sizes.push(input.size);
        }
        // Not `exec::auto_block`'s short blocks: a sum's fold streams its input itself (`sum(a)`,
        // and `sum(a*b)` through `block_products`), and measured slower in them (sum(a) 1.2x its
        // read against 1.0x); along an axis, runs of up to `BLOCK` stay NumPy's bits.
        let mut block = opts.block.unwrap_or(exec::BLOCK).max(1);
        let threads = opts.threads.unwrap_or_else(super::num_threads).max(1);
        let swept = match axis {
            Some(_) if count > 1 => sweep_plan(&shape, &strides, block, threads),
            _ => None,
        };
        let plan = match &swept {
            Some((plan, _)) => plan.clone(),
            None => Plan::new(&shape, &strides),
        };
        let mode = match axis {
            _ if swept.is_some() => {
                let sweep = swept.as_ref().expect("checked").1;
                Mode::Sweep {
                    sweep,
                    inner: plan.inner,
                    block,
                    out_stride: plan.inner_strides[0],
                }
            }
            None => Mode::Partials,
            Some(_) if count == 1 => Mode::Each {
                stride: plan.inner_strides[0],
            },
            Some(_) => {
                if plan.inner != count {
                    return Err(Error::new(
                        ErrorKind::Internal,
                        "the reduced axis is not the plan's inner axis",
                    ));
                }
                if plan.rows() > 1 && count < block / 4 {
                    // Blocks of whole runs: a short axis's runs are then never split between
                    // blocks (nor threads), and each is finished as soon as it is folded.
                    block = (block / count) * count;
                }
                if is_flat(&plan, block) {
                    Mode::Runs
                } else {
                    Mode::Partials
                }
            }
        };
        let flat = is_flat(&plan, block);
        let scalar_inputs: Vec<bool> = (1..strides.len())
            .map(|op| !flat && plan.inner > 1 && plan.inner_strides[op] == 0)
            .collect();
        let kernels = exec::body_kernels(program, opts.lookup, &scalar_inputs)?;
        let units = if flat {
            plan.len().div_ceil(block)
        } else {
            plan.units(block)
        };
        let cells = match mode {
            Mode::Partials => units,
            Mode::Sweep { sweep, inner, .. } => sweep.chunks * sweep.groups() * inner,
            _ => 0,
        };
        // (A reducer of no cells: only its kind is asked.)
        let folds_products = reducer(&spec, mode, 0)?.folds_products();
        // A body that only copies an input (`sum(a)`) is skipped: the values are read where they
        // are (or from the gather buffer).
        let direct = match program.body.as_slice() {
            [i] if i.op == Op::Copy && kernels[0].bcast == 0 => match i.args[0] {
                Operand::Input(k) if program.inputs[k as usize].dtype == i.ty => Some(k as usize),
                _ => None,
            },
            _ => None,
        };
        // `sum(a*b)`: the multiply's products go straight into the fold, so no pass writes them
        // to a register and reads them back: the fold's additions then overlap the loads of a and
        // b (measured: 1.6x the time of a fused loop otherwise, one thread at 10^7).
        let products = direct.is_none()
            && folds_products
            && program
                .body
                .last()
                .is_some_and(|i| i.op == Op::Multiply && i.ty == spec.ty && i.out == spec.ty);
        Ok(Some(Setup {
            spec,
            axis,
            count,
            plan,
            sweep: swept.map(|(_, s)| s),
            mode,
            block,
            threads,
            parallel_work: opts.parallel_work,
            kernels,
            sizes,
            units,
            cells,
            direct,
            products,
        }))
    }

    /// Folds the inputs at `inputs` (each its first logical element's address, in the
    /// program's input order) into the output at `out`.
    ///
    /// # Safety
    /// The pointers must address live arrays of the layouts the setup was made for, aligned,
    /// the inputs readable and the output writable for the whole call, the output sharing no
    /// memory with an input and not accessed by anyone else meanwhile; `slots` the program's
    /// scalar slots with its prologue run.
    pub(super) unsafe fn run(
        &self,
        program: &Program,
        slots: &[Slot],
        out: *mut u8,
        inputs: &[*const u8],
    ) -> Result<()> {
        if inputs.len() + 1 != self.sizes.len() {
            return Err(Error::new(
                ErrorKind::Internal,
                "a reduction run with the wrong number of inputs",
            ));
        }
        let reducer = reducer(&self.spec, self.mode, self.cells)?;
        // Operand 0: the output along an axis; a full reduction's walk (never dereferenced).
        let base0 = match self.axis {
            Some(_) => out,
            None => std::ptr::null_mut(),
        };
        let bases = std::iter::once(base0)
            .chain(inputs.iter().map(|&p| p as *mut u8))
            .collect();
        let job = Job {
            program,
            kernels: &self.kernels,
            slots,
            plan: &self.plan,
            bases,
            sizes: &self.sizes,
            block: self.block,
            stream: false,
            negative_power: Default::default(),
            sink: Some(&*reducer),
            direct: self.direct,
            products: self.products,
            sweep: self.sweep,
        };
        exec::run_job(job, self.threads, self.parallel_work)?;
        let plan = &self.plan;
        if let Mode::Sweep { sweep, .. } = self.mode {
            if sweep.chunks > 1 {
                let mut offsets = vec![0isize; self.sizes.len()];
                for g in 0..sweep.groups() {
                    let (b, a) = (g / sweep.after, g % sweep.after);
                    plan.row_offsets(b * sweep.count * sweep.after + a, &mut offsets);
                    // SAFETY: the group's first output element (row 0 of the reduced axis,
                    // which operand 0 does not step along); every unit was folded.
                    unsafe { reducer.finish_group(g, out.wrapping_offset(offsets[0])) };
                }
            }
        }
        if self.mode == Mode::Partials {
            match self.axis {
                // SAFETY: the 0-d output; every unit was folded.
                None => unsafe { reducer.finish_units(0..self.units, self.count, out) },
                Some(_) => {
                    let bpr = plan.blocks_per_row(self.block);
                    let mut offsets = vec![0isize; self.sizes.len()];
                    for row in 0..plan.rows() {
                        plan.row_offsets(row, &mut offsets);
                        // SAFETY: the row's output element; the row's units were folded.
                        unsafe {
                            reducer.finish_units(
                                row * bpr..(row + 1) * bpr,
                                self.count,
                                out.wrapping_offset(offsets[0]),
                            )
                        };
                    }
                }
            }
        }
        Ok(())
    }
}
