//! The kernel of [`Op::Fused`](crate::bytecode::Op::Fused) instructions: a chain of cheap
//! float operations ([`Link`]s) computed tile by tile, the running value of a tile held in
//! vector registers from one link to the next.
//!
//! A block-at-a-time VM writes every intermediate value to a block register and reads it back
//! for the next instruction: two loads and a store per element per instruction, which is what
//! limits `2*a + 3*b - c` once its inputs stream from L3 (a loop compiled for the expression
//! does one pass). Here a tile of [`UNROLL`] vectors goes through every link before the next
//! tile starts; only the operands are loaded and only the result is stored. The links are
//! interpreted once per tile, which costs little beside the vector work. The vectors are
//! explicit ([`super::vector`]): the tile must be registers, not memory.
//!
//! Each link computes what the instruction it replaces computes, bit for bit (the vector
//! operations are the IEEE ones, `where` picks bits), so a chain gives the unfused program's
//! results.

use super::vector::Vector;
use super::KernelFn;
use crate::bytecode::{Link, Op, MAX_LINK_OPERANDS};
use crate::types::DType;

/// Vectors per tile: 4 AVX-512 registers hold 32 float64 or 64 float32.
pub const UNROLL: usize = 4;

/// The most elements a tile holds (4 AVX-512 vectors of float32).
pub const MAX_TILE: usize = 64;

/// What a fused instruction's kernel reads: its [`KernelFn`] operand 0 points to one of these
/// (the other two are unused).
pub struct Chain<'a> {
    pub links: &'a [Link],
    /// Operand `k` addresses `n` elements, or one (broadcast) when bit `k` of `scalars` is set.
    pub operands: [*const u8; MAX_LINK_OPERANDS],
    pub scalars: u8,
}

/// The fused-chain kernel of level `L` for operands of dtype `ty` (float32 and float64).
pub fn kernel<L: super::isa::Level>(ty: DType) -> Option<KernelFn> {
    match ty {
        DType::F32 => Some(L::chain::<f32>()),
        DType::F64 => Some(L::chain::<f64>()),
        _ => None,
    }
}

/// Runs a chain over `n` elements, a tile of [`UNROLL`] vectors `V` at a time.
///
/// # Safety
/// As [`KernelFn`], with `args[0]` pointing to a [`Chain`] whose links satisfy
/// [`Link::is_valid`] for its operands, every used operand valid for `n` elements (one if
/// broadcast) and aligned, `dst` equal to an operand or disjoint from all of them, and the CPU
/// able to run `V`'s instructions.
#[inline(always)]
pub unsafe fn run<V: Vector>(n: usize, dst: *mut u8, args: &[*const u8; 3]) {
    // SAFETY: the caller passes a Chain as operand 0.
    let chain = unsafe { &*(args[0] as *const Chain<'_>) };
    if n == 0 || chain.links.is_empty() {
        return;
    }
    let t = UNROLL * V::LANES;
    if t > MAX_TILE {
        return;
    }
    let dst = dst as *mut V::Elem;
    let used = chain
        .links
        .iter()
        .flat_map(|l| l.operands())
        .fold(0u32, |m, k| m | 1 << k);
    // Operands past the last one read need no pointer.
    let count = 32 - used.leading_zeros() as usize;
    // Broadcast operands are held as vectors of copies (a tile of them in memory, read back
    // by every link, cost a third of `4*a**2 - 2*a + 1`'s time). Vector operands' last, partial
    // tile is copied into `tail`, written before it is read.
    let mut splats = [V::zero(); MAX_LINK_OPERANDS];
    let mut tail = std::mem::MaybeUninit::<[[V::Elem; MAX_TILE]; MAX_LINK_OPERANDS]>::uninit();
    let tail = tail.as_mut_ptr() as *mut V::Elem;
    let mut at = [std::ptr::null::<V::Elem>(); MAX_LINK_OPERANDS];
    for k in 0..count {
        if used & 1 << k == 0 {
            continue;
        }
        let p = chain.operands[k] as *const V::Elem;
        if chain.scalars & 1 << k != 0 {
            // SAFETY: a broadcast operand holds one element.
            splats[k] = V::splat(unsafe { p.read() });
        } else {
            at[k] = p;
        }
    }
    let full = n / t * t;
    let mut i = 0;
    while i < full {
        // SAFETY: elements i..i+t of every vector operand exist (i + t <= n); the tile's
        // operands are all read before its results are stored, so a `dst` that is an operand
        // (the same elements) is safe.
        unsafe {
            let acc = tile::<V>(chain.links, &at, i, &splats);
            for (u, v) in acc.into_iter().enumerate() {
                v.store(dst.add(i + u * V::LANES));
            }
        }
        i += t;
    }
    if i < n {
        // The last, partial tile: each vector operand's remaining elements are copied into its
        // tile of `tail`, padded with zeros; the padding lanes' results are dropped.
        let m = n - i;
        for (k, p) in at.iter_mut().enumerate().take(count) {
            if !p.is_null() {
                // SAFETY: `p + i` addresses elements i..n of the operand; tile k of `tail`
                // holds MAX_TILE >= t > m elements and is not the operand.
                unsafe {
                    let tile = tail.add(k * MAX_TILE);
                    std::ptr::copy_nonoverlapping(p.add(i), tile, m);
                    for j in m..t {
                        tile.add(j).write(<V::Elem as super::num::Float>::ZERO);
                    }
                    *p = tile;
                }
            }
        }
        let mut out = [<V::Elem as super::num::Float>::ZERO; MAX_TILE];
        // SAFETY: every operand the links read now addresses t initialised elements; `out`
        // holds t; dst holds m more.
        unsafe {
            let acc = tile::<V>(chain.links, &at, 0, &splats);
            for (u, v) in acc.into_iter().enumerate() {
                v.store(out.as_mut_ptr().add(u * V::LANES));
            }
            std::ptr::copy_nonoverlapping(out.as_ptr(), dst.add(i), m);
        }
    }
}

/// One tile through every link.
///
/// # Safety
/// `at[k] + i` must address `UNROLL * V::LANES` readable elements for every vector operand `k`
/// the links read (a null `at[k]`: the operand is `splats[k]`).
#[inline(always)]
unsafe fn tile<V: Vector>(
    links: &[Link],
    at: &[*const V::Elem; MAX_LINK_OPERANDS],
    i: usize,
    splats: &[V; MAX_LINK_OPERANDS],
) -> [V; UNROLL] {
    // SAFETY (every `load`): the caller's contract; operand numbers are below
    // MAX_LINK_OPERANDS (`Link::is_valid`, checked by the VM's validation).
    let load = |k: u8| -> [V; UNROLL] {
        let k = k as usize % MAX_LINK_OPERANDS;
        let p = at[k];
        if p.is_null() {
            return [splats[k]; UNROLL];
        }
        std::array::from_fn(|u| unsafe { V::load(p.add(i + u * V::LANES)) })
    };
    let mut acc = [V::zero(); UNROLL];
    // `acc = acc.$m(x)`, or `x.$m(acc)` when `swap`, lane by lane. (Macros, not function
    // pointers: each arm must inline its operation.)
    macro_rules! combine {
        ($x:expr, $swap:expr, $m:ident) => {{
            let x = $x;
            if $swap {
                acc = std::array::from_fn(|u| x[u].$m(acc[u]))
            } else {
                acc = std::array::from_fn(|u| acc[u].$m(x[u]))
            }
        }};
    }
    for link in links {
        match *link {
            Link::Load(x) => acc = load(x),
            Link::Select { cmp, x, y, p, q } => {
                // `where(a > b, a, b)` reads each operand once.
                let (xv, yv) = (load(x), load(y));
                let pick = |k: u8| {
                    if k == x {
                        xv
                    } else if k == y {
                        yv
                    } else {
                        load(k)
                    }
                };
                let (x, y, p, q) = (xv, yv, pick(p), pick(q));
                macro_rules! pick {
                    ($m:ident) => {
                        acc = std::array::from_fn(|u| V::select(x[u].$m(y[u]), p[u], q[u]))
                    };
                }
                match cmp {
                    Op::Less => pick!(lt),
                    Op::LessEqual => pick!(le),
                    Op::Greater => pick!(gt),
                    Op::GreaterEqual => pick!(ge),
                    Op::Equal => pick!(eq),
                    _ => pick!(ne),
                }
            }
            Link::Unary(op) => match op {
                Op::Negative => acc = acc.map(V::neg),
                Op::Absolute => acc = acc.map(V::abs),
                Op::Square => acc = acc.map(|a| a.mul(a)),
                _ => acc = acc.map(V::sqrt),
            },
            Link::Binary { op, x, swap } => {
                let x = load(x);
                match op {
                    Op::Add => combine!(x, swap, add),
                    Op::Subtract => combine!(x, swap, sub),
                    Op::Multiply => combine!(x, swap, mul),
                    Op::TrueDivide => combine!(x, swap, div),
                    Op::Maximum => combine!(x, swap, maximum),
                    _ => combine!(x, swap, minimum),
                }
            }
            Link::Product { op, x, y, swap } => {
                let (x, y) = (load(x), load(y));
                let product: [V; UNROLL] = std::array::from_fn(|u| x[u].mul(y[u]));
                if op == Op::Add {
                    combine!(product, swap, add)
                } else {
                    combine!(product, swap, sub)
                }
            }
        }
    }
    acc
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use crate::kernels::vector::One;
    use std::arch::x86_64::{__m128, __m128d};

    /// Runs `links` over `n` elements of `ops` (operand 3 broadcast) with vectors `V`.
    fn eval<V: Vector>(links: &[Link], ops: &[Vec<V::Elem>; 4], n: usize) -> Vec<V::Elem> {
        let mut out = ops[0][..n].to_vec();
        let chain = Chain {
            links,
            operands: std::array::from_fn(|k| {
                ops.get(k)
                    .map_or(std::ptr::null(), |o| o.as_ptr() as *const u8)
            }),
            scalars: 1 << 3,
        };
        let args = [&chain as *const Chain<'_> as *const u8; 3];
        // SAFETY: the links are valid for 4 operands, each holding at least n elements (or one,
        // broadcast); `out` holds n and is disjoint from them; SSE2 is part of x86-64.
        unsafe { run::<V>(n, out.as_mut_ptr() as *mut u8, &args) };
        out
    }

    /// The one-lane vectors (the fallback of targets without explicit vectors here, never run
    /// on x86-64 otherwise) give the SSE2 vectors' bits for every kind of link, at sizes
    /// around their tiles (4 and 8 elements); the SSE2 vectors are checked against plain Rust
    /// in `tests/fused.rs`.
    #[test]
    fn one_lane_vectors_match_sse2() {
        let mut chains: Vec<Vec<Link>> = Link::COMPARE
            .iter()
            .map(|&cmp| {
                vec![Link::Select {
                    cmp,
                    x: 0,
                    y: 1,
                    p: 2,
                    q: 3,
                }]
            })
            .collect();
        for &op in Link::UNARY {
            chains.push(vec![Link::Load(0), Link::Unary(op)]);
        }
        for &op in Link::BINARY {
            for swap in [false, true] {
                chains.push(vec![Link::Load(0), Link::Binary { op, x: 3, swap }]);
                chains.push(vec![Link::Load(1), Link::Binary { op, x: 2, swap }]);
            }
        }
        for op in [Op::Add, Op::Subtract] {
            for swap in [false, true] {
                chains.push(vec![
                    Link::Load(2),
                    Link::Product {
                        op,
                        x: 0,
                        y: 1,
                        swap,
                    },
                ]);
            }
        }
        let values = [
            0.5,
            -1.25,
            3.0,
            f64::NAN,
            0.0,
            -0.0,
            f64::INFINITY,
            2.0,
            -7.5,
            1e-300,
        ];
        let column = |shift: usize| -> Vec<f64> {
            (0..19)
                .map(|i| values[(i * 3 + shift) % values.len()])
                .collect()
        };
        let ops64: [Vec<f64>; 4] = std::array::from_fn(column);
        let ops32: [Vec<f32>; 4] =
            std::array::from_fn(|k| ops64[k].iter().map(|&x| x as f32).collect());
        let same64 = |a: &[f64], b: &[f64]| {
            a.iter()
                .zip(b)
                .all(|(x, y)| x.to_bits() == y.to_bits() || x.is_nan() && y.is_nan())
        };
        let same32 = |a: &[f32], b: &[f32]| {
            a.iter()
                .zip(b)
                .all(|(x, y)| x.to_bits() == y.to_bits() || x.is_nan() && y.is_nan())
        };
        for links in &chains {
            for n in [0, 1, 3, 4, 5, 7, 8, 9, 19] {
                let (one, sse) = (
                    eval::<One<f64>>(links, &ops64, n),
                    eval::<__m128d>(links, &ops64, n),
                );
                assert!(same64(&one, &sse), "{links:?} n={n}: {one:?} vs {sse:?}");
                let (one, sse) = (
                    eval::<One<f32>>(links, &ops32, n),
                    eval::<__m128>(links, &ops32, n),
                );
                assert!(same32(&one, &sse), "{links:?} n={n}: {one:?} vs {sse:?}");
            }
        }
    }
}
