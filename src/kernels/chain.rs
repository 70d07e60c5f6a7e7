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
//! explicit ([`super::vector`]): the tile must be registers, not memory. A second tile, the
//! slot, holds one value aside ([`Link::Keep`], [`Link::Merge`]), so that an operation of two
//! computed values (`a**3 + 4*a**2`) stays in one chain.
//!
//! Each link computes what the instruction it replaces computes, bit for bit (the vector
//! operations are the IEEE ones, `where` picks bits), so a chain gives the unfused program's
//! results.

use super::vector::Vector;
use super::KernelFn;
use crate::bytecode::{Link, Op, MAX_LINKS, MAX_LINK_OPERANDS};
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
    if n == 0 || chain.links.is_empty() || chain.links.len() > MAX_LINKS {
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
    let mut steps = [Step::default(); MAX_LINKS];
    for (step, link) in steps.iter_mut().zip(chain.links) {
        *step = decode(link, chain.scalars);
    }
    let steps = &steps[..chain.links.len()];
    // Elements i..i+m, m <= t, through a tile of copies: each vector operand's elements are
    // copied into its tile of `tail`, padded with zeros; the padding lanes' results are
    // dropped.
    let partial = |i: usize, m: usize| {
        let mut at = at;
        for (k, p) in at.iter_mut().enumerate().take(count) {
            if !p.is_null() {
                // SAFETY: `p + i` addresses elements i..i+m of the operand (i + m <= n); tile k
                // of `tail` holds MAX_TILE >= t >= m elements and is not the operand.
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
        // holds t; dst holds elements i..i+m, whose operands were copied before.
        unsafe {
            let acc = tile::<V>(steps, &at, 0, &splats);
            for (u, v) in acc.into_iter().enumerate() {
                v.store(out.as_mut_ptr().add(u * V::LANES));
            }
            std::ptr::copy_nonoverlapping(out.as_ptr(), dst.add(i), m);
        }
    };
    // Over many elements, a first partial tile brings the stores to a cache line's start, so
    // that the vector stores do not each straddle two lines (see `drive::aligned_loop`).
    let head = match super::drive::line_head(dst, n) {
        h if h <= t => h,
        _ => 0,
    };
    if head > 0 {
        partial(0, head);
    }
    let mut i = head;
    while i + t <= n {
        // SAFETY: elements i..i+t of every vector operand exist (i + t <= n); the tile's
        // operands are all read before its results are stored, so a `dst` that is an operand
        // (the same elements) is safe.
        unsafe {
            let acc = tile::<V>(steps, &at, i, &splats);
            for (u, v) in acc.into_iter().enumerate() {
                v.store(dst.add(i + u * V::LANES));
            }
        }
        i += t;
    }
    if i < n {
        partial(i, n - i);
    }
}

/// A link decoded for the tile loop: `code` names its operation together with its side and
/// whether each operand is a vector or a splat, so that one jump dispatches it (see
/// [`decode`]); `ops` are its operands.
#[derive(Clone, Copy, Default, Debug)]
struct Step {
    code: u8,
    ops: [u8; 4],
}

// The codes of [`Step`]: a base per kind of link plus the variant's number. They must agree
// with the arms of [`tile`]'s `dispatch!`, which lists each code as a literal.
/// `+ 1` when the operand is a splat.
const LOAD: u8 = 0;
/// `+` the operation's index in [`Link::UNARY`].
const UNARY: u8 = 2;
/// `+` the comparison's index in [`Link::COMPARE`].
const SELECT: u8 = 7;
/// `+ 4 ×` the operation's index in [`Link::BINARY`], `+ 2` when swapped, `+ 1` for a splat.
const BINARY: u8 = 13;
/// `+ 8` for subtract, `+ 4` when swapped, `+ 2` when `x` is a splat, `+ 1` when `y` is.
const PRODUCT: u8 = 37;
const KEEP: u8 = 53;
/// `+ 2 ×` the operation's index in [`Link::BINARY`], `+ 1` when swapped.
const MERGE: u8 = 54;

/// `link` as a [`Step`], for operands that are splats where `scalars` has their bit set.
fn decode(link: &Link, scalars: u8) -> Step {
    let splat = |k: u8| scalars >> (k as usize % MAX_LINK_OPERANDS) & 1;
    let index = |list: &[Op], op: Op| list.iter().position(|&o| o == op).unwrap_or(0) as u8;
    let (code, ops) = match *link {
        Link::Load(x) => (LOAD + splat(x), [x, 0, 0, 0]),
        Link::Unary(op) => (UNARY + index(Link::UNARY, op), [0; 4]),
        Link::Select { cmp, x, y, p, q } => (SELECT + index(Link::COMPARE, cmp), [x, y, p, q]),
        Link::Binary { op, x, swap } => (
            BINARY + 4 * index(Link::BINARY, op) + 2 * swap as u8 + splat(x),
            [x, 0, 0, 0],
        ),
        Link::Product { op, x, y, swap } => (
            PRODUCT + 8 * (op == Op::Subtract) as u8 + 4 * swap as u8 + 2 * splat(x) + splat(y),
            [x, y, 0, 0],
        ),
        Link::Keep => (KEEP, [0; 4]),
        Link::Merge { op, swap } => (MERGE + 2 * index(Link::BINARY, op) + swap as u8, [0; 4]),
    };
    Step { code, ops }
}

/// One tile through every step.
///
/// Written as one `match` over [`Step::code`] with an arm per operation, side and operand
/// kind, rather than a `match` over [`Link`] with the operation, side and operand kind
/// decided inside (two jumps and a test per operand per link): 2.4x10^5 elements, one thread,
/// `2*a + 3*b - c` 114 -> 93 µs (float32 57 -> 47), `where(a > b, a, b)` 76 -> 73 (float32 39
/// -> 36); a loop compiled for `2*a + 3*b - c` takes 84.
///
/// # Safety
/// `at[k] + i` must address `UNROLL * V::LANES` readable elements for every vector operand `k`
/// the steps read, `splats[k]` hold every splat operand, and the steps be decoded ([`decode`])
/// from links valid for these operands.
#[inline(always)]
unsafe fn tile<V: Vector>(
    steps: &[Step],
    at: &[*const V::Elem; MAX_LINK_OPERANDS],
    i: usize,
    splats: &[V; MAX_LINK_OPERANDS],
) -> [V; UNROLL] {
    // SAFETY (every `vector`): the caller's contract; operand numbers are below
    // MAX_LINK_OPERANDS (`Link::is_valid`, checked by the VM's validation).
    let vector = |k: u8| -> [V; UNROLL] {
        let p = at[k as usize % MAX_LINK_OPERANDS];
        std::array::from_fn(|u| unsafe { V::load(p.add(i + u * V::LANES)) })
    };
    let splat = |k: u8| -> [V; UNROLL] { [splats[k as usize % MAX_LINK_OPERANDS]; UNROLL] };
    let either = |k: u8| {
        if at[k as usize % MAX_LINK_OPERANDS].is_null() {
            splat(k)
        } else {
            vector(k)
        }
    };
    let mut acc = [V::zero(); UNROLL];
    // The value a `Keep` puts aside for a `Merge` (zero before any: the links never read it
    // then, see `Link::is_valid_chain`).
    let mut slot = [V::zero(); UNROLL];
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
    // `where(x CMP y, p, q)`; `where(a > b, a, b)` reads each operand once.
    macro_rules! select {
        ($m:ident, $ops:expr) => {{
            let [x, y, p, q] = $ops;
            let (xv, yv) = (either(x), either(y));
            let pick = |k: u8| {
                if k == x {
                    xv
                } else if k == y {
                    yv
                } else {
                    either(k)
                }
            };
            let (pv, qv) = (pick(p), pick(q));
            acc = std::array::from_fn(|u| V::select(xv[u].$m(yv[u]), pv[u], qv[u]))
        }};
    }
    macro_rules! product {
        ($x:ident, $y:ident, $ops:expr, $swap:expr, $m:ident) => {{
            let (x, y) = ($x($ops[0]), $y($ops[1]));
            let product: [V; UNROLL] = std::array::from_fn(|u| x[u].mul(y[u]));
            combine!(product, $swap, $m)
        }};
    }
    macro_rules! dispatch {
        ($step:expr;
         $($b:literal $bs:literal $bw:literal $bws:literal => $bm:ident,)*;
         $($p:literal $ps:literal $pv:literal $pvs:literal
           $pw:literal $pws:literal $pwv:literal $pwvs:literal => $pm:ident,)*;
         $($m:literal $mw:literal => $mm:ident,)*) => {
            match $step.code {
                0 => acc = vector($step.ops[0]),
                1 => acc = splat($step.ops[0]),
                2 => acc = acc.map(V::neg),
                3 => acc = acc.map(V::abs),
                4 => acc = acc.map(|a| a.mul(a)),
                5 => acc = acc.map(V::sqrt),
                // A loop, not `map`: LLVM does not inline `map` of this larger body into the
                // level's function, and the intrinsics then become calls.
                6 => {
                    for v in &mut acc {
                        *v = v.cube();
                    }
                }
                7 => select!(lt, $step.ops),
                8 => select!(le, $step.ops),
                9 => select!(gt, $step.ops),
                10 => select!(ge, $step.ops),
                11 => select!(eq, $step.ops),
                12 => select!(ne, $step.ops),
                $(
                    $b => combine!(vector($step.ops[0]), false, $bm),
                    $bs => combine!(splat($step.ops[0]), false, $bm),
                    $bw => combine!(vector($step.ops[0]), true, $bm),
                    $bws => combine!(splat($step.ops[0]), true, $bm),
                )*
                $(
                    $p => product!(vector, vector, $step.ops, false, $pm),
                    $ps => product!(vector, splat, $step.ops, false, $pm),
                    $pv => product!(splat, vector, $step.ops, false, $pm),
                    $pvs => product!(splat, splat, $step.ops, false, $pm),
                    $pw => product!(vector, vector, $step.ops, true, $pm),
                    $pws => product!(vector, splat, $step.ops, true, $pm),
                    $pwv => product!(splat, vector, $step.ops, true, $pm),
                    $pwvs => product!(splat, splat, $step.ops, true, $pm),
                )*
                53 => slot = acc,
                $(
                    $m => combine!(slot, false, $mm),
                    $mw => combine!(slot, true, $mm),
                )*
                _ => {}
            }
        };
    }
    for step in steps {
        // The codes of `decode`: LOAD 0, UNARY 2, SELECT 7, BINARY 13, PRODUCT 37, KEEP 53,
        // MERGE 54, each followed by its variants in the order `decode` numbers them.
        dispatch!(step;
            13 14 15 16 => add, 17 18 19 20 => sub, 21 22 23 24 => mul,
            25 26 27 28 => div, 29 30 31 32 => maximum, 33 34 35 36 => minimum,;
            37 38 39 40 41 42 43 44 => add, 45 46 47 48 49 50 51 52 => sub,;
            54 55 => add, 56 57 => sub, 58 59 => mul, 60 61 => div, 62 63 => maximum,
            64 65 => minimum,);
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

    /// Every link kind, with each operand a vector or a splat (operand 3) on either side:
    /// every code of [`decode`].
    fn every_link() -> Vec<Vec<Link>> {
        let mut chains: Vec<Vec<Link>> = Link::COMPARE
            .iter()
            .flat_map(|&cmp| {
                [[0, 1, 2, 3], [0, 1, 0, 1], [0, 3, 3, 0]]
                    .map(|[x, y, p, q]| vec![Link::Select { cmp, x, y, p, q }])
            })
            .collect();
        for x in [0, 3] {
            chains.push(vec![Link::Load(x), Link::Unary(Op::Square)]);
        }
        for &op in Link::UNARY {
            chains.push(vec![Link::Load(0), Link::Unary(op)]);
        }
        for &op in Link::BINARY {
            for swap in [false, true] {
                chains.push(vec![Link::Load(0), Link::Binary { op, x: 3, swap }]);
                chains.push(vec![Link::Load(1), Link::Binary { op, x: 2, swap }]);
            }
        }
        for &op in Link::BINARY {
            for swap in [false, true] {
                chains.push(vec![
                    Link::Load(1),
                    Link::Keep,
                    Link::Load(0),
                    Link::Merge { op, swap },
                ]);
                chains.push(vec![
                    Link::Load(3),
                    Link::Unary(Op::Cube),
                    Link::Keep,
                    Link::Load(2),
                    Link::Binary {
                        op: Op::Add,
                        x: 3,
                        swap: false,
                    },
                    Link::Merge { op, swap },
                ]);
            }
        }
        for op in [Op::Add, Op::Subtract] {
            for swap in [false, true] {
                for (x, y) in [(0, 1), (0, 3), (3, 1), (3, 3)] {
                    chains.push(vec![Link::Load(2), Link::Product { op, x, y, swap }]);
                }
            }
        }
        chains
    }

    /// What `links` give at element `i` of `ops` (operand 3 broadcast), one operation at a
    /// time in plain float64, each result passed through `round` (to float32 for float32:
    /// float64's + - * / and sqrt rounded to float32 are float32's own), NumPy's
    /// `maximum`/`minimum` (a NaN operand wins).
    fn reference(links: &[Link], ops: &[Vec<f64>; 4], i: usize, round: fn(f64) -> f64) -> f64 {
        let get = |k: u8| {
            if k == 3 {
                ops[3][0]
            } else {
                ops[k as usize][i]
            }
        };
        let binary = |op: Op, a: f64, b: f64| match op {
            Op::Add => a + b,
            Op::Subtract => a - b,
            Op::Multiply => a * b,
            Op::TrueDivide => a / b,
            Op::Maximum if a.is_nan() || a > b => a,
            Op::Minimum if a.is_nan() || a < b => a,
            _ => b,
        };
        let mut acc = 0.0;
        let mut slot = 0.0;
        for link in links {
            acc = match *link {
                Link::Keep => {
                    slot = acc;
                    acc
                }
                Link::Merge { op, swap } if swap => round(binary(op, slot, acc)),
                Link::Merge { op, .. } => round(binary(op, acc, slot)),
                // C's pow: these cubes are exact, or overflow, or underflow to zero.
                Link::Unary(Op::Cube) => round(acc.powf(3.0)),
                Link::Load(x) => get(x),
                Link::Select { cmp, x, y, p, q } => {
                    let (x, y) = (get(x), get(y));
                    let hit = match cmp {
                        Op::Less => x < y,
                        Op::LessEqual => x <= y,
                        Op::Greater => x > y,
                        Op::GreaterEqual => x >= y,
                        Op::Equal => x == y,
                        _ => x != y,
                    };
                    if hit {
                        get(p)
                    } else {
                        get(q)
                    }
                }
                Link::Unary(Op::Negative) => -acc,
                Link::Unary(Op::Absolute) => acc.abs(),
                Link::Unary(Op::Square) => round(acc * acc),
                Link::Unary(_) => round(acc.sqrt()),
                Link::Binary { op, x, swap } if swap => round(binary(op, get(x), acc)),
                Link::Binary { op, x, .. } => round(binary(op, acc, get(x))),
                Link::Product { op, x, y, swap } if swap => {
                    round(binary(op, round(get(x) * get(y)), acc))
                }
                Link::Product { op, x, y, .. } => round(binary(op, acc, round(get(x) * get(y)))),
            };
        }
        acc
    }

    /// Every code of the kernel's dispatch against [`reference`], through the one-lane vectors
    /// (the fallback of targets without explicit vectors here, never run on x86-64 otherwise)
    /// and SSE2's, at sizes around their tiles (4 and 8 elements); `tests/fused.rs` covers
    /// every level through the VM.
    #[test]
    fn every_step_matches_the_operations_one_by_one() {
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
            1.1,
            1e200,
            -3.5e-110,
        ];
        let column = |shift: usize| -> Vec<f64> {
            (0..19)
                .map(|i| values[(i * 3 + shift) % values.len()])
                .collect()
        };
        let ops64: [Vec<f64>; 4] = std::array::from_fn(column);
        let ops32: [Vec<f32>; 4] =
            std::array::from_fn(|k| ops64[k].iter().map(|&x| x as f32).collect());
        let wide32: [Vec<f64>; 4] =
            std::array::from_fn(|k| ops32[k].iter().map(|&v| v as f64).collect());
        let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || a.is_nan() && b.is_nan();
        for links in &every_link() {
            for n in [0, 1, 3, 4, 5, 7, 8, 9, 19] {
                let want: Vec<f64> = (0..n).map(|i| reference(links, &ops64, i, |v| v)).collect();
                let want32: Vec<f32> = (0..n)
                    .map(|i| reference(links, &wide32, i, |v| v as f32 as f64) as f32)
                    .collect();
                for (name, got) in [
                    ("one lane", eval::<One<f64>>(links, &ops64, n)),
                    ("sse2", eval::<__m128d>(links, &ops64, n)),
                ] {
                    assert!(
                        want.iter().zip(&got).all(|(&w, &g)| same(w, g)),
                        "{name} {links:?} n={n}: {got:?}, want {want:?}"
                    );
                }
                for (name, got) in [
                    ("one lane", eval::<One<f32>>(links, &ops32, n)),
                    ("sse2", eval::<__m128>(links, &ops32, n)),
                ] {
                    assert!(
                        want32
                            .iter()
                            .zip(&got)
                            .all(|(&w, &g)| same(w as f64, g as f64)),
                        "{name} {links:?} n={n}: {got:?}, want {want32:?}"
                    );
                }
            }
        }
    }
}
