//! Every kernel at every instruction-set level this CPU has gives the same bits as the
//! baseline build of the same loop (any NaN matching any NaN), out of place and in place, over
//! sizes around the vector widths. The baseline itself is checked against NumPy by
//! `tests/kernels.rs`; this test makes the run-time dispatch answerable to it. The float math
//! functions use fused multiply-adds where the level has them, so there they must match the
//! first such level bit for bit and the baseline within a few ulps (their accuracy at both
//! kinds of level is `tests/ulp.rs`'s).

use ndexpr::bytecode::Op;
use ndexpr::kernels::{lookup_for, Isa, KernelFn, Lookup};
use ndexpr::DType;

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// One float: random bits, small integers and halves, moderate values, specials.
    fn float(&mut self) -> f64 {
        let r = self.next();
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        match r % 8 {
            0 => f64::from_bits(self.next()),
            1 | 2 => ((r >> 8) % 33) as f64 / 2.0 - 8.0,
            3 | 4 => (u - 0.5) * 200.0,
            5 => (u - 0.5) * 2e9,
            6 => [
                0.0,
                -0.0,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::NAN,
                5e-324,
                1e308,
            ][(r >> 8) as usize % 7],
            _ => u,
        }
    }

    /// The bytes of one element of `dtype`.
    fn elem(&mut self, dtype: DType) -> Vec<u8> {
        match dtype {
            DType::Bool => vec![(self.next() & 1) as u8],
            DType::F16 => half::f16::from_f64(self.float()).to_le_bytes().to_vec(),
            DType::F32 => (self.float() as f32).to_le_bytes().to_vec(),
            DType::F64 => self.float().to_le_bytes().to_vec(),
            DType::C64 => [self.float() as f32, self.float() as f32]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect(),
            DType::C128 => [self.float(), self.float()]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect(),
            d => {
                // Integers: small values (shift counts, exponents) and random bits.
                let r = self.next();
                let v = if r.is_multiple_of(2) {
                    (((r >> 8) % 19) as i64 - 9) as u64
                } else {
                    self.next()
                };
                v.to_le_bytes()[..d.size()].to_vec()
            }
        }
    }
}

/// `n` elements of `dtype`, 8-byte-word aligned (16 for complex: the words are u128).
fn buffer(rng: &mut Rng, dtype: DType, n: usize) -> Vec<u128> {
    let mut words = vec![0u128; (n * dtype.size()).div_ceil(16) + 1];
    let bytes = as_bytes_mut(&mut words);
    for i in 0..n {
        let e = rng.elem(dtype);
        bytes[i * dtype.size()..(i + 1) * dtype.size()].copy_from_slice(&e);
    }
    words
}

fn as_bytes_mut(words: &mut [u128]) -> &mut [u8] {
    // SAFETY: u128 has no padding; any byte pattern is a valid u8.
    unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr() as *mut u8, words.len() * 16) }
}

fn as_bytes(words: &[u128]) -> &[u8] {
    // SAFETY: as above.
    unsafe { std::slice::from_raw_parts(words.as_ptr() as *const u8, words.len() * 16) }
}

/// Whether the element bytes are a NaN of `dtype` (any component for complex).
fn is_nan(dtype: DType, e: &[u8]) -> bool {
    match dtype {
        DType::F16 => half::f16::from_le_bytes([e[0], e[1]]).is_nan(),
        DType::F32 | DType::C64 => e
            .chunks(4)
            .any(|c| f32::from_le_bytes(c.try_into().unwrap()).is_nan()),
        DType::F64 | DType::C128 => e
            .chunks(8)
            .any(|c| f64::from_le_bytes(c.try_into().unwrap()).is_nan()),
        _ => false,
    }
}

fn same(dtype: DType, a: &[u8], b: &[u8]) -> bool {
    a == b || (is_nan(dtype, a) && is_nan(dtype, b))
}

/// The float functions whose kernels use fused multiply-adds at the levels that have them.
fn rounds_with_fma(op: Op, ty: DType) -> bool {
    use Op::*;
    matches!(ty, DType::F32 | DType::F64)
        && matches!(
            op,
            Cbrt | Exp
                | Exp2
                | Expm1
                | Log
                | Log2
                | Log10
                | Log1p
                | Sin
                | Cos
                | Tan
                | Arcsin
                | Arccos
                | Arctan
                | Sinh
                | Cosh
                | Tanh
                | Arcsinh
                | Arccosh
                | Arctanh
                | Arctan2
                | Hypot
                | Power
        )
}

/// One float32/float64 element within `ulps` of another: both NaN, or equal zeros, infinities
/// (sign included), or finite values of one sign at most `ulps` representations apart.
fn close(dtype: DType, a: &[u8], b: &[u8], ulps: u64) -> bool {
    let (x, y) = match dtype {
        DType::F32 => (
            f32::from_le_bytes(a.try_into().unwrap()) as f64,
            f32::from_le_bytes(b.try_into().unwrap()) as f64,
        ),
        DType::F64 => (
            f64::from_le_bytes(a.try_into().unwrap()),
            f64::from_le_bytes(b.try_into().unwrap()),
        ),
        _ => return same(dtype, a, b),
    };
    if x.is_nan() || y.is_nan() {
        return x.is_nan() && y.is_nan();
    }
    if x == 0.0 || y == 0.0 || x.is_infinite() || y.is_infinite() {
        return a == b;
    }
    let bits = |v: &[u8]| match dtype {
        DType::F32 => u32::from_le_bytes(v.try_into().unwrap()) as u64,
        _ => u64::from_le_bytes(v.try_into().unwrap()),
    };
    x.is_sign_negative() == y.is_sign_negative() && bits(a).abs_diff(bits(b)) <= ulps
}

/// The dtype operand `k` of `(op, ty)` reads.
fn operand_dtype(op: Op, ty: DType, k: usize) -> DType {
    if op == Op::Where && k == 0 {
        DType::Bool
    } else {
        ty
    }
}

/// Runs `kernel` over fresh copies of `args` (length-1 buffers where the mask says scalar);
/// with `in_place = Some(k)`, the output is written over operand k (same dtype, vector operand).
fn run(
    kernel: KernelFn,
    n: usize,
    out: DType,
    args: &[Vec<u128>],
    in_place: Option<usize>,
) -> Vec<u8> {
    let mut args: Vec<Vec<u128>> = args.to_vec();
    let mut dst = vec![0u128; (n * out.size()).div_ceil(16) + 1];
    let dst_ptr = if let Some(k) = in_place {
        args[k].as_mut_ptr() as *mut u8
    } else {
        dst.as_mut_ptr() as *mut u8
    };
    let mut ptrs = [std::ptr::null::<u8>(); 3];
    for (k, a) in args.iter().enumerate() {
        ptrs[k] = a.as_ptr() as *const u8;
    }
    // SAFETY: every operand buffer holds n elements of its dtype (or 1 when scalar), aligned
    // to 16 bytes; dst holds n outputs, or is operand k itself (same dtype and length).
    unsafe { kernel(n, dst_ptr, &ptrs) };
    let bytes = if let Some(k) = in_place {
        as_bytes(&args[k]).to_vec()
    } else {
        as_bytes(&dst).to_vec()
    };
    bytes[..n * out.size()].to_vec()
}

/// Sizes around 2/4/8/16-lane vectors, the fix-up chunk (64) and odd tails.
const SIZES: [usize; 8] = [0, 1, 3, 7, 16, 63, 65, 131];

#[test]
fn every_level_matches_the_baseline_bit_for_bit() {
    let levels: Vec<(Isa, Lookup)> = Isa::ALL
        .into_iter()
        .filter_map(|l| lookup_for(l).map(|t| (l, t)))
        .collect();
    let baseline = lookup_for(Isa::Baseline).expect("the baseline always runs");
    let first_fma = levels.iter().find(|(l, _)| l.has_fma()).map(|&(_, t)| t);
    eprintln!(
        "levels on this CPU: {:?}",
        levels.iter().map(|(l, _)| l.name()).collect::<Vec<_>>()
    );
    let mut rng = Rng(42);
    let mut checked = 0usize;
    // (Fused chains, whose kernel reads a chain rather than elements: tests/fused.rs.)
    for &op in Op::ALL.iter().filter(|&&op| op != Op::Fused) {
        for ty in DType::ALL {
            for out in DType::ALL {
                for mask in 0..(1u8 << op.arity()) {
                    let Some(base) = baseline(op, ty, out, mask) else {
                        continue;
                    };
                    for &n in &SIZES {
                        let args: Vec<Vec<u128>> = (0..op.arity())
                            .map(|k| {
                                let len = if mask & (1 << k) != 0 { 1 } else { n };
                                buffer(&mut rng, operand_dtype(op, ty, k), len)
                            })
                            .collect();
                        let want = run(base, n, out, &args, None);
                        let fma = rounds_with_fma(op, ty);
                        let want_fma = first_fma
                            .filter(|_| fma)
                            .map(|t| run(t(op, ty, out, mask).unwrap(), n, out, &args, None));
                        // Operands the output may overwrite: vector ones of the output dtype.
                        let in_place: Vec<usize> = (0..op.arity())
                            .filter(|&k| mask & (1 << k) == 0 && operand_dtype(op, ty, k) == out)
                            .collect();
                        for &(level, table) in &levels {
                            let kernel = table(op, ty, out, mask).unwrap_or_else(|| {
                                panic!("{} has no {op:?} {ty}->{out} mask {mask}", level.name())
                            });
                            let mut variants = vec![(None, run(kernel, n, out, &args, None))];
                            for &k in &in_place {
                                variants.push((Some(k), run(kernel, n, out, &args, Some(k))));
                            }
                            let reference = match &want_fma {
                                Some(w) if level.has_fma() => w,
                                _ => &want,
                            };
                            for (in_place, got) in variants {
                                for i in 0..n {
                                    let s = out.size();
                                    let at = |v: &[u8]| v[i * s..(i + 1) * s].to_vec();
                                    let (g, w, b) = (at(&got), at(reference), at(&want));
                                    assert!(
                                        same(out, &g, &w),
                                        "{} {op:?} {ty}->{out} mask {mask} n {n} in place over {in_place:?}: \
                                         element {i}: {g:?} vs reference {w:?}",
                                        level.name()
                                    );
                                    assert!(
                                        !fma || close(out, &g, &b, 4),
                                        "{} {op:?} {ty}->{out} mask {mask} n {n}: element {i}: \
                                         {g:?} is more than 4 ulps from the baseline's {b:?}",
                                        level.name()
                                    );
                                }
                            }
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    eprintln!("{checked} kernel runs compared");
    assert!(checked > 1000, "only {checked} kernel runs compared");
}

#[test]
fn levels_have_names_and_the_active_one_is_supported() {
    for l in Isa::ALL {
        assert_eq!(Isa::from_name(l.name()), Some(l));
    }
    assert_eq!(Isa::from_name("AVX2"), Some(Isa::Avx2));
    assert_eq!(Isa::from_name("sse4"), None);
    assert!(Isa::detect().supported());
    assert!(lookup_for(Isa::detect()).is_some());
    let active = ndexpr::kernels::isa::active();
    assert!(active.supported());
    assert_eq!(ndexpr::kernels::isa(), active.name());
    if let Ok(forced) = std::env::var("NDEXPR_ISA") {
        if let Some(l) = Isa::from_name(&forced).filter(|l| l.supported()) {
            assert_eq!(active, l, "NDEXPR_ISA={forced} was not honoured");
        }
    }
}
