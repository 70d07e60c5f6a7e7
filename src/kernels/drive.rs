//! Loop drivers: the only code that touches the raw kernel pointers.
//!
//! An operation is a zero-sized type implementing [`Map1`], [`Map2`] or [`Map3`]; a driver
//! monomorphised on it and on the scalar mask (one const bool per operand) is a [`KernelFn`].
//! Each loop is "read element, compute, write element", which LLVM auto-vectorises; a scalar
//! operand is read once before the loop (so the mask costs nothing per element).

use super::isa::Level;
use super::KernelFn;

/// A one-operand elementwise operation on elements of type `A`.
pub trait Map1<A> {
    type Out: Copy;
    fn apply(a: A) -> Self::Out;
    /// `apply` for the levels with fused multiply-add: the same function, rounded within the
    /// same bound but not always to the same bits (math functions; exact operations are equal).
    #[inline(always)]
    fn apply_fma(a: A) -> Self::Out {
        Self::apply(a)
    }
    /// Whether some arguments need [`Map1::exact`]: vectorisable approximations (sin of a huge
    /// argument, say) return any value for those lanes, and a second pass recomputes them.
    const FIXUP: bool = false;
    /// Whether `apply(a)` is not to be trusted for this argument.
    #[inline(always)]
    fn needs_exact(_a: A) -> bool {
        false
    }
    /// `needs_exact` for the levels with fused multiply-add, where the flag depends on
    /// `apply_fma`'s rounding (`x**3`).
    #[inline(always)]
    fn needs_exact_fma(a: A) -> bool {
        Self::needs_exact(a)
    }
    /// The careful (scalar, rarely called) computation for such arguments.
    #[inline(always)]
    fn exact(a: A) -> Self::Out {
        Self::apply(a)
    }
}

/// A two-operand elementwise operation, both operands of type `A`.
pub trait Map2<A> {
    type Out: Copy;
    fn apply(a: A, b: A) -> Self::Out;
    /// As [`Map1::apply_fma`].
    #[inline(always)]
    fn apply_fma(a: A, b: A) -> Self::Out {
        Self::apply(a, b)
    }
    /// As [`Map1::FIXUP`].
    const FIXUP: bool = false;
    #[inline(always)]
    fn needs_exact(_a: A, _b: A) -> bool {
        false
    }
    #[inline(always)]
    fn exact(a: A, b: A) -> Self::Out {
        Self::apply(a, b)
    }
    /// For `x ** k` with a broadcast exponent: `Some(k)` when `b` is an integer the faster
    /// [`Map2::powi`] handles (the exponent is the same for the whole loop, so the choice costs
    /// nothing per element).
    #[inline(always)]
    fn int_exponent(_b: A) -> Option<i32> {
        None
    }
    /// `a ** e` (`a ** -e` when `NEG`), `e < 2^NB`, for an exponent accepted by
    /// [`Map2::int_exponent`], and whether the lane needs [`Map2::exact`] instead. Only called
    /// when `int_exponent` said yes.
    #[inline(always)]
    fn powi<const F: bool, const NB: u32, const NEG: bool>(a: A, _e: u32) -> (Self::Out, bool)
    where
        A: Copy,
    {
        (Self::apply(a, a), true)
    }
}

/// A three-operand elementwise operation.
pub trait Map3<A, B, C> {
    type Out: Copy;
    fn apply(a: A, b: B, c: C) -> Self::Out;
}

/// `M::apply`, or `M::apply_fma` when the level has fused multiply-add (`F`).
#[inline(always)]
fn map1<A, M: Map1<A>, const F: bool>(a: A) -> M::Out {
    if F {
        M::apply_fma(a)
    } else {
        M::apply(a)
    }
}

/// As [`map1`].
#[inline(always)]
fn map2<A, M: Map2<A>, const F: bool>(a: A, b: A) -> M::Out {
    if F {
        M::apply_fma(a, b)
    } else {
        M::apply(a, b)
    }
}

/// One operand: a vector of `T` (`S = false`) or a broadcast scalar (`S = true`).
#[derive(Clone, Copy)]
struct Arg<T: Copy, const S: bool> {
    ptr: *const T,
    first: T,
}

impl<T: Copy, const S: bool> Arg<T, S> {
    /// # Safety
    /// `ptr` must be valid for reading one `T` (the caller has checked `n >= 1`).
    #[inline(always)]
    unsafe fn new(ptr: *const u8) -> Self {
        let ptr = ptr as *const T;
        // SAFETY: the caller guarantees one readable, aligned element.
        let first = unsafe { ptr.read() };
        Arg { ptr, first }
    }

    /// # Safety
    /// For a vector operand, `i` must be below the kernel's `n`.
    #[inline(always)]
    unsafe fn get(&self, i: usize) -> T {
        if S {
            self.first
        } else {
            // SAFETY: a vector operand holds `n` elements and `i < n`.
            unsafe { self.ptr.add(i).read() }
        }
    }
}

/// # Safety
/// See [`KernelFn`].
#[inline(always)]
pub unsafe fn k1<A: Copy, M: Map1<A>, const F: bool, const SA: bool>(
    n: usize,
    dst: *mut u8,
    args: &[*const u8; 3],
) {
    if n == 0 {
        return;
    }
    // SAFETY: n >= 1, so operand 0 holds at least one element (KernelFn's contract).
    let a = unsafe { Arg::<A, SA>::new(args[0]) };
    let d = dst as *mut M::Out;
    // An operand that is the destination itself (a register updated in place, `x = x*2`) is
    // rebuilt from `dst`: LLVM then sees one pointer and vectorises, where two pointers to the
    // same place fail its run-time overlap check and take the scalar loop (measured:
    // `exp(-a)*log1p(b)` 22 ms against 5 for its parts).
    if !SA && std::ptr::eq(args[0], dst) {
        let a = Arg::<A, SA> {
            ptr: dst as *const A,
            first: a.first,
        };
        // SAFETY: as below, with the same operand.
        return unsafe { body1::<A, M, F, SA>(n, d, a) };
    }
    // SAFETY: the caller's contract, n >= 1.
    unsafe { body1::<A, M, F, SA>(n, d, a) }
}

/// The loop of [`k1`].
///
/// # Safety
/// `d` holds `n >= 1` outputs; `a` holds `n` elements (or one, if scalar), equal to `d` or
/// disjoint from it.
#[inline(always)]
unsafe fn body1<A: Copy, M: Map1<A>, const F: bool, const SA: bool>(
    n: usize,
    d: *mut M::Out,
    a: Arg<A, SA>,
) {
    if !M::FIXUP {
        aligned_loop(d, n, |i| {
            // SAFETY: i < n; dst holds n outputs; dst equals an operand exactly or does not
            // overlap it, and element i is read before it is written.
            unsafe { d.add(i).write(map1::<A, M, F>(a.get(i))) }
        });
        return;
    }
    // SAFETY: the caller's contract.
    unsafe {
        fix_up_chunks(
            n,
            d,
            a,
            map1::<A, M, F>,
            |x| {
                if F {
                    M::needs_exact_fma(x)
                } else {
                    M::needs_exact(x)
                }
            },
            M::exact,
        )
    }
}

/// The fix-up loop of one-operand kernels ([`Map1::FIXUP`], integral powers): chunk by chunk,
/// `fast` for every lane, then `exact` for the lanes `needs` flags, if any. When `d` is the
/// operand itself the arguments are kept aside first; otherwise `fast` reads the operand
/// directly, so that its loads (cache misses, when the data comes from memory) overlap the
/// arithmetic instead of stalling a copy loop: float32 `sin(a)` at 10^7 elements into `out=`,
/// one thread, 9.6 -> 6.0 ms.
///
/// # Safety
/// As [`body1`].
#[inline(always)]
unsafe fn fix_up_chunks<A: Copy, O, const SA: bool>(
    n: usize,
    d: *mut O,
    a: Arg<A, SA>,
    fast: impl Fn(A) -> O,
    needs: impl Fn(A) -> bool,
    exact: impl Fn(A) -> O,
) {
    if SA || !std::ptr::eq(a.ptr as *const u8, d as *const u8) {
        let mut start = 0;
        while start < n {
            let m = FIXUP_CHUNK.min(n - start);
            let mut any = false;
            for j in start..start + m {
                // SAFETY: j < n; the operand holds n elements (or is a scalar) and does not
                // overlap dst, which holds n outputs.
                let x = unsafe { a.get(j) };
                any |= needs(x);
                // SAFETY: as above.
                unsafe { d.add(j).write(fast(x)) }
            }
            if any {
                for j in start..start + m {
                    // SAFETY: as above; the operand is still intact.
                    let x = unsafe { a.get(j) };
                    if needs(x) {
                        // SAFETY: as above.
                        unsafe { d.add(j).write(exact(x)) }
                    }
                }
            }
            start += m;
        }
        return;
    }
    let mut kept = [a.first; FIXUP_CHUNK];
    let mut start = 0;
    while start < n {
        let m = FIXUP_CHUNK.min(n - start);
        for (j, k) in kept[..m].iter_mut().enumerate() {
            // SAFETY: start + j < n.
            *k = unsafe { a.get(start + j) };
        }
        let mut any = false;
        for (j, &x) in kept[..m].iter().enumerate() {
            any |= needs(x);
            // SAFETY: start + j < n; dst holds n outputs.
            unsafe { d.add(start + j).write(fast(x)) }
        }
        if any {
            for (j, &x) in kept[..m].iter().enumerate() {
                if needs(x) {
                    // SAFETY: as above.
                    unsafe { d.add(start + j).write(exact(x)) }
                }
            }
        }
        start += m;
    }
}

/// Elements per chunk of a kernel with a fix-up pass: small enough for the stack and L1 (2 KiB
/// per float64 operand), large enough that the per-chunk work (the copy aside, the loop's set-up
/// and tail) is small: at 64, float32 sin spent a fifth of its time there.
const FIXUP_CHUNK: usize = 256;

/// # Safety
/// See [`KernelFn`].
#[inline(always)]
pub unsafe fn k2<A: Copy, M: Map2<A>, const F: bool, const SA: bool, const SB: bool>(
    n: usize,
    dst: *mut u8,
    args: &[*const u8; 3],
) {
    if n == 0 {
        return;
    }
    // SAFETY: n >= 1, so operands 0 and 1 hold at least one element (KernelFn's contract).
    let (a, b) = unsafe { (Arg::<A, SA>::new(args[0]), Arg::<A, SB>::new(args[1])) };
    let d = dst as *mut M::Out;
    // As in `k1`: an operand that is `dst` is rebuilt from it.
    let at_dst = |p: *const u8| std::ptr::eq(p, dst);
    if !SA && at_dst(args[0]) {
        let a = Arg::<A, SA> {
            ptr: dst as *const A,
            first: a.first,
        };
        // SAFETY: as below.
        return unsafe { body2::<A, M, F, SA, SB>(n, d, a, b) };
    }
    if !SB && at_dst(args[1]) {
        let b = Arg::<A, SB> {
            ptr: dst as *const A,
            first: b.first,
        };
        // SAFETY: as below.
        return unsafe { body2::<A, M, F, SA, SB>(n, d, a, b) };
    }
    // SAFETY: the caller's contract, n >= 1.
    unsafe { body2::<A, M, F, SA, SB>(n, d, a, b) }
}

/// The loop of [`k2`].
///
/// # Safety
/// As [`body1`], for both operands.
#[inline(always)]
unsafe fn body2<A: Copy, M: Map2<A>, const F: bool, const SA: bool, const SB: bool>(
    n: usize,
    d: *mut M::Out,
    a: Arg<A, SA>,
    b: Arg<A, SB>,
) {
    if SB {
        if let Some(k) = M::int_exponent(b.first) {
            let (e, y) = (k.unsigned_abs(), b.first);
            // The exponent's bit length and sign become constants: each loop squares only as
            // often as its exponent needs.
            // SAFETY: the caller's contract.
            unsafe {
                match (32 - e.leading_zeros(), k < 0) {
                    (0, _) => body_powi::<A, M, F, SA, 0, false>(n, d, a, y, e),
                    (1, false) => body_powi::<A, M, F, SA, 1, false>(n, d, a, y, e),
                    (1, true) => body_powi::<A, M, F, SA, 1, true>(n, d, a, y, e),
                    (2, false) => body_powi::<A, M, F, SA, 2, false>(n, d, a, y, e),
                    (2, true) => body_powi::<A, M, F, SA, 2, true>(n, d, a, y, e),
                    (3, false) => body_powi::<A, M, F, SA, 3, false>(n, d, a, y, e),
                    (3, true) => body_powi::<A, M, F, SA, 3, true>(n, d, a, y, e),
                    (_, false) => body_powi::<A, M, F, SA, 4, false>(n, d, a, y, e),
                    (_, true) => body_powi::<A, M, F, SA, 4, true>(n, d, a, y, e),
                }
            }
            return;
        }
    }
    if !M::FIXUP {
        aligned_loop(d, n, |i| {
            // SAFETY: as in `k1`.
            unsafe { d.add(i).write(map2::<A, M, F>(a.get(i), b.get(i))) }
        });
        return;
    }
    // As in `k1`.
    let mut kept_a = [a.first; FIXUP_CHUNK];
    let mut kept_b = [b.first; FIXUP_CHUNK];
    let mut start = 0;
    while start < n {
        let m = FIXUP_CHUNK.min(n - start);
        for j in 0..m {
            // SAFETY: start + j < n.
            unsafe {
                kept_a[j] = a.get(start + j);
                kept_b[j] = b.get(start + j);
            }
        }
        let mut any = false;
        for j in 0..m {
            let (x, y) = (kept_a[j], kept_b[j]);
            any |= M::needs_exact(x, y);
            // SAFETY: start + j < n; dst holds n outputs.
            unsafe { d.add(start + j).write(map2::<A, M, F>(x, y)) }
        }
        if any {
            for j in 0..m {
                let (x, y) = (kept_a[j], kept_b[j]);
                if M::needs_exact(x, y) {
                    // SAFETY: as above.
                    unsafe { d.add(start + j).write(M::exact(x, y)) }
                }
            }
        }
        start += m;
    }
}

/// The loop of [`body2`] for an integral broadcast exponent ([`Map2::int_exponent`]).
///
/// # Safety
/// As [`body1`].
#[inline(always)]
unsafe fn body_powi<
    A: Copy,
    M: Map2<A>,
    const F: bool,
    const SA: bool,
    const NB: u32,
    const NEG: bool,
>(
    n: usize,
    d: *mut M::Out,
    a: Arg<A, SA>,
    b: A,
    e: u32,
) {
    // SAFETY: the caller's contract.
    unsafe {
        fix_up_chunks(
            n,
            d,
            a,
            |x| M::powi::<F, NB, NEG>(x, e).0,
            |x| M::powi::<F, NB, NEG>(x, e).1,
            |x| M::exact(x, b),
        )
    }
}

/// # Safety
/// See [`KernelFn`].
#[inline(always)]
pub unsafe fn k3<
    A: Copy,
    B: Copy,
    C: Copy,
    M: Map3<A, B, C>,
    const SA: bool,
    const SB: bool,
    const SC: bool,
>(
    n: usize,
    dst: *mut u8,
    args: &[*const u8; 3],
) {
    if n == 0 {
        return;
    }
    // SAFETY: n >= 1, so the three operands hold at least one element (KernelFn's contract).
    let (a, b, c) = unsafe {
        (
            Arg::<A, SA>::new(args[0]),
            Arg::<B, SB>::new(args[1]),
            Arg::<C, SC>::new(args[2]),
        )
    };
    let d = dst as *mut M::Out;
    // As in `k1`: an operand that is `dst` is rebuilt from it.
    let at_dst = |p: *const u8| std::ptr::eq(p, dst);
    // SAFETY (the three calls): the caller's contract, n >= 1.
    if !SA && at_dst(args[0]) {
        let a = Arg::<A, SA> {
            ptr: dst as *const A,
            first: a.first,
        };
        return unsafe { body3::<A, B, C, M, SA, SB, SC>(n, d, a, b, c) };
    }
    if !SB && at_dst(args[1]) {
        let b = Arg::<B, SB> {
            ptr: dst as *const B,
            first: b.first,
        };
        return unsafe { body3::<A, B, C, M, SA, SB, SC>(n, d, a, b, c) };
    }
    if !SC && at_dst(args[2]) {
        let c = Arg::<C, SC> {
            ptr: dst as *const C,
            first: c.first,
        };
        return unsafe { body3::<A, B, C, M, SA, SB, SC>(n, d, a, b, c) };
    }
    unsafe { body3::<A, B, C, M, SA, SB, SC>(n, d, a, b, c) }
}

/// The loop of [`k3`].
///
/// # Safety
/// As [`body1`], for the three operands.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn body3<
    A: Copy,
    B: Copy,
    C: Copy,
    M: Map3<A, B, C>,
    const SA: bool,
    const SB: bool,
    const SC: bool,
>(
    n: usize,
    d: *mut M::Out,
    a: Arg<A, SA>,
    b: Arg<B, SB>,
    c: Arg<C, SC>,
) {
    aligned_loop(d, n, |i| {
        // SAFETY: i < n; d holds n outputs; each operand is d itself or disjoint from it, and
        // element i is read before it is written.
        unsafe { d.add(i).write(M::apply(a.get(i), b.get(i), c.get(i))) }
    });
}

/// `body(i)` for every `i` in `0..n`, in two loops when `n` is large: the first (at most a
/// cache line's worth of elements) brings the output `d + i` to a 64-byte boundary, so that the
/// vector stores of the second do not each straddle two lines. NumPy's large arrays start 16
/// bytes into a page, and on an Intel Xeon (AVX-512) the plain-store loop of `2*a+48` into such
/// an `out=` at 10⁷ elements took 6.1–6.5 ms against 4.8 into an aligned one (numba's loop,
/// 256-bit stores, 4.2–4.8).
#[inline(always)]
fn aligned_loop<O>(d: *mut O, n: usize, mut body: impl FnMut(usize)) {
    let split = line_head(d, n);
    for i in 0..split {
        body(i);
    }
    for i in split..n {
        body(i);
    }
}

/// How many of the `n` elements at `d` come before its first 64-byte boundary, when there are
/// enough elements (1,024) for starting the vector stores there to pay; 0 otherwise, or when
/// `d` is not aligned to its element size. Used by [`aligned_loop`] and the chain kernel.
#[inline(always)]
pub(super) fn line_head<O>(d: *const O, n: usize) -> usize {
    const LINE: usize = 64;
    let size = std::mem::size_of::<O>();
    let off = d as usize % LINE;
    if n >= 1024 && size > 0 && LINE.is_multiple_of(size) && off.is_multiple_of(size) {
        ((LINE - off) % LINE / size).min(n)
    } else {
        0
    }
}

/// The unary kernel of level `L` for the scalar mask's bit 0.
pub fn form1<L: Level, A: Copy, M: Map1<A>>(mask: u8) -> KernelFn {
    if mask & 1 != 0 {
        L::k1::<A, M, true>()
    } else {
        L::k1::<A, M, false>()
    }
}

/// The binary kernel of level `L` for the scalar mask's bits 0 and 1.
pub fn form2<L: Level, A: Copy, M: Map2<A>>(mask: u8) -> KernelFn {
    match mask & 3 {
        0 => L::k2::<A, M, false, false>(),
        1 => L::k2::<A, M, true, false>(),
        2 => L::k2::<A, M, false, true>(),
        _ => L::k2::<A, M, true, true>(),
    }
}

/// The ternary kernel of level `L` for the scalar mask's bits 0 to 2.
pub fn form3<L: Level, A: Copy, B: Copy, C: Copy, M: Map3<A, B, C>>(mask: u8) -> KernelFn {
    match mask & 7 {
        0 => L::k3::<A, B, C, M, false, false, false>(),
        1 => L::k3::<A, B, C, M, true, false, false>(),
        2 => L::k3::<A, B, C, M, false, true, false>(),
        3 => L::k3::<A, B, C, M, true, true, false>(),
        4 => L::k3::<A, B, C, M, false, false, true>(),
        5 => L::k3::<A, B, C, M, true, false, true>(),
        6 => L::k3::<A, B, C, M, false, true, true>(),
        _ => L::k3::<A, B, C, M, true, true, true>(),
    }
}

/// [`form3`] for operations whose three operands share one type.
pub fn form3s<L: Level, A: Copy, M: Map3<A, A, A>>(mask: u8) -> KernelFn {
    form3::<L, A, A, A, M>(mask)
}
