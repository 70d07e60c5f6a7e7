//! Kernel tests: a NumPy 2.4 oracle table (tests/data/kernels_numpy.tsv, made by
//! tests/data/gen_kernels.py), hand-derived values, operand forms, sizes, in-place and coverage.

use half::f16;
use ndexpr::bytecode::Op;
use ndexpr::kernels::{eval_scalar, lookup, KernelFn};
use ndexpr::{DType, Scalar};
use num_complex::{Complex32, Complex64};

/// An aligned buffer of `n` elements of a dtype.
#[derive(Clone)]
struct Buf {
    dtype: DType,
    words: Vec<u64>,
    n: usize,
}

impl Buf {
    fn new(dtype: DType, n: usize) -> Buf {
        Buf {
            dtype,
            words: vec![0; (n * dtype.size()).div_ceil(8) + 2],
            n,
        }
    }
    fn bytes(&self) -> &[u8] {
        // SAFETY: the words hold at least n * size bytes.
        unsafe {
            std::slice::from_raw_parts(self.words.as_ptr() as *const u8, self.n * self.dtype.size())
        }
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.words.as_mut_ptr() as *mut u8,
                self.n * self.dtype.size(),
            )
        }
    }
    fn elem(&self, i: usize) -> &[u8] {
        let s = self.dtype.size();
        &self.bytes()[i * s..(i + 1) * s]
    }
    fn set(&mut self, i: usize, v: &[u8]) {
        let s = self.dtype.size();
        self.bytes_mut()[i * s..(i + 1) * s].copy_from_slice(v);
    }
    fn ptr(&self) -> *const u8 {
        self.words.as_ptr() as *const u8
    }
    fn ptr_mut(&mut self) -> *mut u8 {
        self.words.as_mut_ptr() as *mut u8
    }
    fn from_elems(dtype: DType, elems: &[Vec<u8>]) -> Buf {
        let mut b = Buf::new(dtype, elems.len());
        for (i, e) in elems.iter().enumerate() {
            b.set(i, e);
        }
        b
    }
}

fn run(k: KernelFn, dst: &mut Buf, args: &[&Buf]) {
    let mut ptrs = [std::ptr::null::<u8>(); 3];
    for (p, a) in ptrs.iter_mut().zip(args) {
        *p = a.ptr();
    }
    // SAFETY: the buffers hold dst.n elements (or one, for scalar operands) of the right dtypes.
    unsafe { k(dst.n, dst.ptr_mut(), &ptrs) }
}

fn op_by_name(name: &str) -> Op {
    if name == "cast" {
        return Op::Cast;
    }
    *Op::ALL
        .iter()
        .find(|o| o.name() == name)
        .unwrap_or_else(|| panic!("op {name}"))
}

/// Parses one value of the table into native bytes.
fn parse(d: DType, s: &str) -> Vec<u8> {
    fn float_bits(d: DType, s: &str) -> Vec<u8> {
        let bits = u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
        bits.to_le_bytes()[..d.size()].to_vec()
    }
    match d {
        DType::Bool => vec![s.parse::<u8>().unwrap()],
        DType::F16 | DType::F32 | DType::F64 => float_bits(d, s),
        DType::C64 | DType::C128 => {
            let (re, im) = s.split_once(',').unwrap();
            let mut v = float_bits(d.real_part(), re);
            v.extend(float_bits(d.real_part(), im));
            v
        }
        _ => s.parse::<i128>().unwrap().to_le_bytes()[..d.size()].to_vec(),
    }
}

/// Equal bytes, or NaN where the other is NaN (NumPy's NaN payloads are not part of its
/// semantics; ±0 and everything else is compared bit for bit).
fn same(d: DType, a: &[u8], b: &[u8]) -> bool {
    fn is_nan(d: DType, x: &[u8]) -> bool {
        match d {
            DType::F16 => f16::from_le_bytes([x[0], x[1]]).is_nan(),
            DType::F32 => f32::from_le_bytes(x.try_into().unwrap()).is_nan(),
            DType::F64 => f64::from_le_bytes(x.try_into().unwrap()).is_nan(),
            _ => false,
        }
    }
    match d {
        DType::F16 | DType::F32 | DType::F64 => a == b || (is_nan(d, a) && is_nan(d, b)),
        DType::C64 | DType::C128 => {
            let h = d.size() / 2;
            let r = d.real_part();
            same(r, &a[..h], &b[..h]) && same(r, &a[h..], &b[h..])
        }
        _ => a == b,
    }
}

fn operand_dtype(op: Op, ty: DType, k: usize) -> DType {
    if op == Op::Where && k == 0 {
        DType::Bool
    } else {
        ty
    }
}

fn show(d: DType, b: &[u8]) -> String {
    let mut w = [0u8; 16];
    w[..b.len()].copy_from_slice(b);
    let s = match d {
        DType::Bool => Scalar::Bool(b[0] != 0),
        DType::I8 => Scalar::I8(b[0] as i8),
        DType::I16 => Scalar::I16(i16::from_le_bytes([b[0], b[1]])),
        DType::I32 => Scalar::I32(i32::from_le_bytes(b.try_into().unwrap())),
        DType::I64 => Scalar::I64(i64::from_le_bytes(b.try_into().unwrap())),
        DType::U8 => Scalar::U8(b[0]),
        DType::U16 => Scalar::U16(u16::from_le_bytes([b[0], b[1]])),
        DType::U32 => Scalar::U32(u32::from_le_bytes(b.try_into().unwrap())),
        DType::U64 => Scalar::U64(u64::from_le_bytes(b.try_into().unwrap())),
        DType::F16 => Scalar::F16(f16::from_le_bytes([b[0], b[1]])),
        DType::F32 => Scalar::F32(f32::from_le_bytes(b.try_into().unwrap())),
        DType::F64 => Scalar::F64(f64::from_le_bytes(b.try_into().unwrap())),
        DType::C64 => Scalar::C64(Complex32::new(
            f32::from_le_bytes(b[..4].try_into().unwrap()),
            f32::from_le_bytes(b[4..].try_into().unwrap()),
        )),
        DType::C128 => Scalar::C128(Complex64::new(
            f64::from_le_bytes(b[..8].try_into().unwrap()),
            f64::from_le_bytes(b[8..].try_into().unwrap()),
        )),
    };
    format!("{s} ({b:02x?})")
}

struct Row {
    op: Op,
    ty: DType,
    out: DType,
    args: Vec<Vec<u8>>,
    res: Vec<u8>,
    line: usize,
}

fn table() -> Vec<Row> {
    parse_table(include_str!("data/kernels_numpy.tsv"))
}

fn parse_table(text: &str) -> Vec<Row> {
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            let f: Vec<&str> = l.split('\t').collect();
            let op = op_by_name(f[0]);
            let ty = DType::from_name(f[1]).unwrap();
            let out = DType::from_name(f[2]).unwrap();
            let args = (0..op.arity())
                .map(|k| parse(operand_dtype(op, ty, k), f[3 + k]))
                .collect();
            Row {
                op,
                ty,
                out,
                args,
                res: parse(out, f[6]),
                line: i + 1,
            }
        })
        .collect()
}

/// Every row of the NumPy table: run as vectors (one kernel call per run of rows with the same
/// instruction), as all-scalar operands, and through `eval_scalar`.
#[test]
fn numpy_oracle_table() {
    let rows = table();
    assert!(rows.len() > 50_000);
    let mut failures = Vec::new();
    let mut start = 0;
    while start < rows.len() {
        let r0 = &rows[start];
        let end = start
            + rows[start..]
                .iter()
                .take_while(|r| (r.op, r.ty, r.out) == (r0.op, r0.ty, r0.out))
                .count();
        let group = &rows[start..end];
        let arity = r0.op.arity();
        let k = lookup(r0.op, r0.ty, r0.out, 0)
            .unwrap_or_else(|| panic!("no kernel for {:?} {:?}->{:?}", r0.op, r0.ty, r0.out));
        let ks = lookup(r0.op, r0.ty, r0.out, (1 << arity) - 1).unwrap();
        let args: Vec<Buf> = (0..arity)
            .map(|a| {
                let elems: Vec<Vec<u8>> = group.iter().map(|r| r.args[a].clone()).collect();
                Buf::from_elems(operand_dtype(r0.op, r0.ty, a), &elems)
            })
            .collect();
        let mut dst = Buf::new(r0.out, group.len());
        run(k, &mut dst, &args.iter().collect::<Vec<_>>());
        for (i, r) in group.iter().enumerate() {
            let single: Vec<Buf> = (0..arity)
                .map(|a| Buf::from_elems(operand_dtype(r.op, r.ty, a), &[r.args[a].clone()]))
                .collect();
            let mut d1 = Buf::new(r.out, 1);
            run(ks, &mut d1, &single.iter().collect::<Vec<_>>());
            for (how, got) in [("vector", dst.elem(i)), ("scalar", d1.elem(0))] {
                if !same(r.out, got, &r.res) {
                    failures.push(format!(
                        "line {} {how}: {}.{}->{} {:?}: got {}, NumPy {}",
                        r.line,
                        r.op.name(),
                        r.ty.short_name(),
                        r.out.short_name(),
                        r.args
                            .iter()
                            .enumerate()
                            .map(|(a, v)| show(operand_dtype(r.op, r.ty, a), v))
                            .collect::<Vec<_>>(),
                        show(r.out, got),
                        show(r.out, &r.res),
                    ));
                }
            }
        }
        start = end;
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures[..failures.len().min(400)].join("\n")
    );
}

/// Deterministic test data of any dtype: small integers (some negative) cast by the kernels.
fn data(d: DType, n: usize, seed: u64) -> Buf {
    let mut src = Buf::new(DType::I64, n);
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = (x % 41) as i64 - 12;
        src.set(i, &v.to_le_bytes());
    }
    let mut out = Buf::new(d, n);
    run(
        lookup(Op::Cast, DType::I64, d, 0).unwrap(),
        &mut out,
        &[&src],
    );
    out
}

/// Every (op, ty, out) with a kernel, by brute force over the dtypes.
fn instructions() -> Vec<(Op, DType, DType)> {
    let mut v = Vec::new();
    for &op in Op::ALL {
        if op == Op::Fused {
            // Not an elementwise kernel over its operands: see tests/fused.rs.
            continue;
        }
        for ty in DType::ALL {
            for out in DType::ALL {
                if lookup(op, ty, out, 0).is_some() {
                    v.push((op, ty, out));
                }
            }
        }
    }
    v
}

/// For every kernel, size and scalar mask: element i of the block equals the vector kernel run on
/// element i alone (with scalar operands broadcast), bit for bit.
#[test]
fn scalar_forms_and_sizes_match_elementwise() {
    for (op, ty, out) in instructions() {
        let arity = op.arity();
        for n in [0usize, 1, 7, 1023, 1024, 1025] {
            if n >= 1023
                && !matches!(
                    op,
                    Op::Add
                        | Op::Where
                        | Op::Cast
                        | Op::FloorDivide
                        | Op::Maximum
                        | Op::Less
                        | Op::Clip
                )
            {
                // The large sizes for a representative subset (the drivers are shared).
                continue;
            }
            let args: Vec<Buf> = (0..arity)
                .map(|a| {
                    data(
                        operand_dtype(op, ty, a),
                        n.max(1),
                        7 * a as u64 + n as u64 + 1,
                    )
                })
                .collect();
            let k0 = lookup(op, ty, out, 0).unwrap();
            for mask in 0..(1u8 << arity) {
                let k = lookup(op, ty, out, mask).unwrap_or_else(|| panic!("{op:?} {ty:?} {mask}"));
                let mut dst = Buf::new(out, n);
                run(k, &mut dst, &args.iter().collect::<Vec<_>>());
                for i in 0..n {
                    let one: Vec<Buf> = args
                        .iter()
                        .enumerate()
                        .map(|(a, b)| {
                            let j = if mask >> a & 1 == 1 { 0 } else { i };
                            Buf::from_elems(b.dtype, &[b.elem(j).to_vec()])
                        })
                        .collect();
                    let mut d1 = Buf::new(out, 1);
                    run(k0, &mut d1, &one.iter().collect::<Vec<_>>());
                    assert!(
                        d1.elem(0) == dst.elem(i),
                        "{op:?} {ty:?}->{out:?} mask {mask} n {n} i {i}: {} vs {}",
                        show(out, dst.elem(i)),
                        show(out, d1.elem(0))
                    );
                }
            }
        }
    }
}

/// dst == args[k] (in place) gives the out-of-place result.
#[test]
fn in_place() {
    for (op, ty, out) in instructions() {
        let arity = op.arity();
        let n = 1025;
        let args: Vec<Buf> = (0..arity)
            .map(|a| data(operand_dtype(op, ty, a), n, 3 * a as u64 + 5))
            .collect();
        let k = lookup(op, ty, out, 0).unwrap();
        let mut expect = Buf::new(out, n);
        run(k, &mut expect, &args.iter().collect::<Vec<_>>());
        for target in 0..arity {
            if operand_dtype(op, ty, target) != out {
                continue;
            }
            let mut args2 = args.clone();
            let ptrs: Vec<*const u8> = args2.iter().map(|b| b.ptr()).collect();
            let mut p = [std::ptr::null::<u8>(); 3];
            p[..arity].copy_from_slice(&ptrs);
            // SAFETY: dst is exactly operand `target`, n elements each.
            unsafe { k(n, args2[target].ptr_mut(), &p) };
            assert!(
                args2[target].bytes() == expect.bytes(),
                "{op:?} {ty:?} in place on operand {target}"
            );
        }
    }
}

fn ev(op: Op, ty: DType, out: DType, args: &[Scalar]) -> Scalar {
    eval_scalar(op, ty, out, args).unwrap_or_else(|| panic!("{op:?} {ty:?}"))
}

#[test]
fn hand_integer_cases() {
    use Scalar::*;
    assert_eq!(
        ev(Op::FloorDivide, DType::I8, DType::I8, &[I8(-128), I8(-1)]),
        I8(-128)
    );
    assert_eq!(
        ev(Op::Remainder, DType::I8, DType::I8, &[I8(-128), I8(-1)]),
        I8(0)
    );
    assert_eq!(
        ev(
            Op::FloorDivide,
            DType::I64,
            DType::I64,
            &[I64(i64::MIN), I64(-1)]
        ),
        I64(i64::MIN)
    );
    assert_eq!(
        ev(Op::FloorDivide, DType::I32, DType::I32, &[I32(-7), I32(2)]),
        I32(-4)
    );
    assert_eq!(
        ev(Op::Remainder, DType::I32, DType::I32, &[I32(-7), I32(2)]),
        I32(1)
    );
    assert_eq!(
        ev(Op::Remainder, DType::I32, DType::I32, &[I32(7), I32(-2)]),
        I32(-1)
    );
    assert_eq!(
        ev(Op::Fmod, DType::I32, DType::I32, &[I32(-7), I32(2)]),
        I32(-1)
    );
    assert_eq!(
        ev(Op::FloorDivide, DType::U8, DType::U8, &[U8(7), U8(0)]),
        U8(0)
    );
    assert_eq!(
        ev(Op::Remainder, DType::I16, DType::I16, &[I16(7), I16(0)]),
        I16(0)
    );
    assert_eq!(ev(Op::Add, DType::U8, DType::U8, &[U8(255), U8(1)]), U8(0));
    assert_eq!(
        ev(Op::Absolute, DType::I8, DType::I8, &[I8(-128)]),
        I8(-128)
    );
    assert_eq!(
        ev(Op::Negative, DType::I8, DType::I8, &[I8(-128)]),
        I8(-128)
    );
    assert_eq!(
        ev(Op::Power, DType::I8, DType::I8, &[I8(3), I8(5)]),
        I8(-13)
    ); // 243 wraps
    assert_eq!(
        ev(Op::Power, DType::I32, DType::I32, &[I32(2), I32(-1)]),
        I32(0)
    );
    assert_eq!(
        ev(Op::LeftShift, DType::I8, DType::I8, &[I8(1), I8(8)]),
        I8(0)
    );
    assert_eq!(
        ev(Op::LeftShift, DType::I8, DType::I8, &[I8(1), I8(-1)]),
        I8(0)
    );
    assert_eq!(
        ev(Op::RightShift, DType::I8, DType::I8, &[I8(-4), I8(100)]),
        I8(-1)
    );
    assert_eq!(
        ev(
            Op::RightShift,
            DType::U64,
            DType::U64,
            &[U64(u64::MAX), U64(64)]
        ),
        U64(0)
    );
    assert_eq!(
        ev(Op::Reciprocal, DType::I32, DType::I32, &[I32(0)]),
        I32(i32::MIN)
    );
    assert_eq!(
        ev(Op::Fma, DType::U8, DType::U8, &[U8(16), U8(16), U8(3)]),
        U8(3)
    );
}

#[test]
fn hand_float_cases() {
    use Scalar::*;
    let f = |op, a: f64, b: f64| match ev(op, DType::F64, DType::F64, &[F64(a), F64(b)]) {
        F64(x) => x,
        _ => unreachable!(),
    };
    // ±0 and signs of floor division and remainder.
    assert_eq!(f(Op::FloorDivide, -0.0, 5.0).to_bits(), (-0.0f64).to_bits());
    assert_eq!(f(Op::Remainder, -0.0, 5.0).to_bits(), 0.0f64.to_bits());
    assert_eq!(f(Op::Remainder, 3.0, -3.0).to_bits(), (-0.0f64).to_bits());
    assert_eq!(f(Op::Remainder, -1.0, f64::INFINITY), f64::INFINITY);
    assert_eq!(f(Op::FloorDivide, 7.0, -2.0), -4.0);
    assert!(f(Op::Remainder, 1.0, 0.0).is_nan());
    assert_eq!(f(Op::FloorDivide, 1.0, 0.0), f64::INFINITY);
    // maximum/minimum: the first NaN wins, ties give the second operand.
    let nan_neg = f64::from_bits(f64::NAN.to_bits() | 1 << 63);
    assert!(f(Op::Maximum, nan_neg, f64::NAN).is_sign_negative());
    assert!(f(Op::Maximum, f64::NAN, nan_neg).is_sign_positive());
    assert!(f(Op::Minimum, 1.0, f64::NAN).is_nan());
    assert_eq!(f(Op::Maximum, -0.0, 0.0).to_bits(), 0.0f64.to_bits());
    assert_eq!(f(Op::Maximum, 0.0, -0.0).to_bits(), (-0.0f64).to_bits());
    // rint: half to even.
    for (x, r) in [(0.5, 0.0), (1.5, 2.0), (2.5, 2.0), (-2.5, -2.0), (3.5, 4.0)] {
        assert_eq!(ev(Op::Rint, DType::F64, DType::F64, &[F64(x)]), F64(r));
    }
    // sign of ±0 is +0, NaN stays NaN.
    assert_eq!(ev(Op::Sign, DType::F64, DType::F64, &[F64(-0.0)]), F64(0.0));
    // f64 → f16 rounds once: 1 + 2^-11 + 2^-40 is just above the tie, so it rounds up (through
    // f32 it would round to the tie and then to even, 1.0).
    let x = 1.0 + 2f64.powi(-11) + 2f64.powi(-40);
    assert_eq!(
        ev(Op::Cast, DType::F64, DType::F16, &[F64(x)]),
        F16(f16::from_bits(0x3c01))
    );
    assert_eq!(
        ev(
            Op::Cast,
            DType::F64,
            DType::F16,
            &[F64(1.0 + 2f64.powi(-11))]
        ),
        F16(f16::from_bits(0x3c00))
    );
    assert_eq!(
        ev(Op::Cast, DType::F64, DType::F16, &[F64(65520.0)]),
        F16(f16::INFINITY)
    );
    // Float → int of special values (x86-64 conversions, see cast.rs).
    assert_eq!(
        ev(Op::Cast, DType::F64, DType::I32, &[F64(f64::NAN)]),
        Scalar::I32(i32::MIN)
    );
    assert_eq!(
        ev(Op::Cast, DType::F64, DType::U8, &[F64(300.0)]),
        Scalar::U8(44)
    );
    assert_eq!(
        ev(Op::Cast, DType::F64, DType::U64, &[F64(f64::INFINITY)]),
        Scalar::U64(0)
    );
    assert_eq!(
        ev(Op::Cast, DType::F64, DType::U64, &[F64(-1.0)]),
        Scalar::U64(u64::MAX)
    );
}

#[test]
fn hand_complex_cases() {
    use Scalar::*;
    let c = |re, im| C128(Complex64::new(re, im));
    // Smith's algorithm: the naive formula overflows to inf/inf = NaN here.
    assert_eq!(
        ev(
            Op::TrueDivide,
            DType::C128,
            DType::C128,
            &[c(1e300, 1e300), c(1e300, 1e300)]
        ),
        c(1.0, 0.0)
    );
    assert_eq!(
        ev(
            Op::TrueDivide,
            DType::C128,
            DType::C128,
            &[c(1.0, 2.0), c(3.0, 4.0)]
        ),
        c(0.44, 0.08)
    );
    assert_eq!(
        ev(
            Op::Multiply,
            DType::C128,
            DType::C128,
            &[c(1.0, 2.0), c(3.0, 4.0)]
        ),
        c(-5.0, 10.0)
    );
    assert_eq!(
        ev(Op::Absolute, DType::C128, DType::F64, &[c(3.0, 4.0)]),
        F64(5.0)
    );
    assert_eq!(
        ev(Op::Sign, DType::C128, DType::C128, &[c(3.0, 4.0)]),
        c(0.6, 0.8)
    );
    assert_eq!(
        ev(Op::Sign, DType::C128, DType::C128, &[c(0.0, 0.0)]),
        c(0.0, 0.0)
    );
    assert_eq!(
        ev(
            Op::Power,
            DType::C128,
            DType::C128,
            &[c(0.0, 1.0), c(2.0, 0.0)]
        ),
        c(-1.0, 0.0)
    );
    assert_eq!(
        ev(
            Op::Less,
            DType::C128,
            DType::Bool,
            &[c(1.0, 2.0), c(1.0, 3.0)]
        ),
        Bool(true)
    );
    assert_eq!(
        ev(Op::Complex, DType::F32, DType::C64, &[F32(1.0), F32(-2.0)]),
        C64(Complex32::new(1.0, -2.0))
    );
}

/// `lookup` has every loop the brief lists, for every scalar mask, and refuses the others.
#[test]
fn coverage() {
    use DType::*;
    const INTS: [DType; 8] = [I8, I16, I32, I64, U8, U16, U32, U64];
    const FLOATS: [DType; 2] = [F32, F64];
    const CPX: [DType; 2] = [C64, C128];
    let cat = |groups: &[&[DType]]| {
        groups
            .iter()
            .flat_map(|g| g.iter().copied())
            .collect::<Vec<_>>()
    };
    let all = cat(&[&[Bool], &INTS, &FLOATS, &CPX]);
    let num = cat(&[&INTS, &FLOATS, &CPX]);
    let real = cat(&[&[Bool], &INTS, &FLOATS]);
    let intf = cat(&[&INTS, &FLOATS]);
    let fc = cat(&[&FLOATS, &CPX]);
    let bits = cat(&[&[Bool], &INTS]);
    let mut expect: Vec<(Op, Vec<DType>)> = vec![
        (Op::Negative, num.clone()),
        (Op::Positive, num.clone()),
        (Op::Add, all.clone()),
        (Op::Subtract, num.clone()),
        (Op::Multiply, all.clone()),
        (Op::TrueDivide, fc.clone()),
        (Op::FloorDivide, intf.clone()),
        (Op::Remainder, intf.clone()),
        (Op::Fmod, intf.clone()),
        (Op::Power, num.clone()),
        (Op::Square, num.clone()),
        (Op::Reciprocal, num.clone()),
        (Op::Absolute, all.clone()),
        (Op::Sign, num.clone()),
        (Op::BitwiseAnd, bits.clone()),
        (Op::BitwiseOr, bits.clone()),
        (Op::BitwiseXor, bits.clone()),
        (Op::Invert, bits.clone()),
        (Op::LeftShift, INTS.to_vec()),
        (Op::RightShift, INTS.to_vec()),
        (Op::SignBit, FLOATS.to_vec()),
        (Op::Cbrt, FLOATS.to_vec()),
        (Op::Cube, FLOATS.to_vec()),
        (Op::Arctan2, FLOATS.to_vec()),
        (Op::Hypot, FLOATS.to_vec()),
        // float16 steps its own bits (NumPy's npy_half_nextafter), not through float32.
        (Op::Nextafter, [FLOATS.to_vec(), vec![DType::F16]].concat()),
        (Op::Copysign, FLOATS.to_vec()),
        (Op::Maximum, all.clone()),
        (Op::Minimum, all.clone()),
        (Op::Ceil, real.clone()),
        (Op::Floor, real.clone()),
        (Op::Trunc, real.clone()),
        (Op::Rint, fc.clone()),
        (Op::Conjugate, num.clone()),
        (Op::Real, CPX.to_vec()),
        (Op::Imag, CPX.to_vec()),
        (Op::Complex, FLOATS.to_vec()),
        (Op::Fma, intf.clone()),
        (Op::MultiplyAdd, intf.clone()),
        (Op::AddMultiply, intf.clone()),
        (Op::MultiplySubtract, intf.clone()),
        (Op::SubtractMultiply, intf.clone()),
        (Op::Clip, all.clone()),
        (Op::Copy, DType::ALL.to_vec()),
        (Op::Where, DType::ALL.to_vec()),
        // Its kernel's operand is a chain, not elements: tests/fused.rs.
        (Op::Fused, FLOATS.to_vec()),
    ];
    for op in [
        Op::Less,
        Op::LessEqual,
        Op::Greater,
        Op::GreaterEqual,
        Op::Equal,
        Op::NotEqual,
        Op::LogicalAnd,
        Op::LogicalOr,
        Op::LogicalNot,
        Op::IsNan,
        Op::IsFinite,
        Op::IsInf,
    ] {
        expect.push((op, all.clone()));
    }
    for op in [
        Op::Sqrt,
        Op::Exp,
        Op::Exp2,
        Op::Expm1,
        Op::Log,
        Op::Log2,
        Op::Log10,
        Op::Log1p,
        Op::Sin,
        Op::Cos,
        Op::Tan,
        Op::Arcsin,
        Op::Arccos,
        Op::Arctan,
        Op::Sinh,
        Op::Cosh,
        Op::Tanh,
        Op::Arcsinh,
        Op::Arccosh,
        Op::Arctanh,
    ] {
        expect.push((op, fc.clone()));
    }
    let out_of = |op: Op, ty: DType| match op {
        Op::Less
        | Op::LessEqual
        | Op::Greater
        | Op::GreaterEqual
        | Op::Equal
        | Op::NotEqual
        | Op::LogicalAnd
        | Op::LogicalOr
        | Op::LogicalNot
        | Op::IsNan
        | Op::IsFinite
        | Op::IsInf
        | Op::SignBit => Bool,
        Op::Absolute | Op::Real | Op::Imag => ty.real_part(),
        Op::Complex => {
            if ty == F32 {
                C64
            } else {
                C128
            }
        }
        _ => ty,
    };
    let mut count = 0;
    for (op, tys) in &expect {
        for &ty in tys {
            for mask in 0..(1u8 << op.arity()) {
                assert!(
                    lookup(*op, ty, out_of(*op, ty), mask).is_some(),
                    "{op:?} {ty:?} mask {mask}"
                );
                count += 1;
            }
            // A wrong output dtype is refused.
            let wrong = if out_of(*op, ty) == I8 { U8 } else { I8 };
            assert!(
                lookup(*op, ty, wrong, 0).is_none(),
                "{op:?} {ty:?} -> {wrong:?}"
            );
        }
        // Nothing beyond the listed dtypes.
        for ty in DType::ALL {
            if !tys.contains(&ty) {
                assert!(
                    lookup(*op, ty, out_of(*op, ty), 0).is_none(),
                    "unexpected {op:?} {ty:?}"
                );
            }
        }
    }
    for from in DType::ALL {
        for to in DType::ALL {
            for mask in 0..2 {
                assert!(lookup(Op::Cast, from, to, mask).is_some());
                count += 1;
            }
        }
    }
    assert_eq!(expect.len() + 1, Op::ALL.len());
    assert!(count > 2000);
}

/// The parts of a float or complex value as f64.
fn parts(d: DType, b: &[u8]) -> Vec<f64> {
    match d {
        DType::F32 => vec![f32::from_le_bytes(b.try_into().unwrap()) as f64],
        DType::F64 => vec![f64::from_le_bytes(b.try_into().unwrap())],
        DType::C64 | DType::C128 => {
            let h = b.len() / 2;
            let mut v = parts(d.real_part(), &b[..h]);
            v.extend(parts(d.real_part(), &b[h..]));
            v
        }
        _ => unreachable!(),
    }
}

/// Transcendental functions against NumPy within a tolerance (relative to the largest part of
/// the expected value): libm, NumPy's SIMD versions and num_complex's formulas differ by ulps.
#[test]
fn numpy_oracle_approx() {
    let rows = parse_table(include_str!("data/kernels_numpy_approx.tsv"));
    assert!(rows.len() > 1500);
    let mut failures = Vec::new();
    for r in &rows {
        let got = ev_bytes(r);
        let (g, w) = (parts(r.out, &got), parts(r.out, &r.res));
        let tol = if r.out.real_part() == DType::F32 {
            2e-6
        } else {
            1e-14
        };
        let scale = w
            .iter()
            .filter(|x| x.is_finite())
            .fold(0f64, |m, x| m.max(x.abs()));
        let ok = g.iter().zip(&w).all(|(a, b)| {
            a.to_bits() == b.to_bits()
                || (a.is_nan() && b.is_nan())
                || a == b
                || (a - b).abs() <= tol * scale.max(f64::MIN_POSITIVE)
        });
        if !ok {
            failures.push(format!(
                "line {}: {}.{} {:?}: got {g:?}, NumPy {w:?}",
                r.line,
                r.op.name(),
                r.ty.short_name(),
                r.args.iter().map(|v| show(r.ty, v)).collect::<Vec<_>>()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Runs one table row through the all-scalar kernel.
fn ev_bytes(r: &Row) -> Vec<u8> {
    let arity = r.op.arity();
    let k = lookup(r.op, r.ty, r.out, (1 << arity) - 1).unwrap();
    let single: Vec<Buf> = (0..arity)
        .map(|a| Buf::from_elems(operand_dtype(r.op, r.ty, a), &[r.args[a].clone()]))
        .collect();
    let mut d1 = Buf::new(r.out, 1);
    run(k, &mut d1, &single.iter().collect::<Vec<_>>());
    d1.elem(0).to_vec()
}

#[test]
fn eval_scalar_checks_and_other_ops() {
    use Scalar::*;
    // Wrong operand count, operand dtype, output dtype, or no such loop: None.
    assert_eq!(eval_scalar(Op::Add, DType::I8, DType::I8, &[I8(1)]), None);
    assert_eq!(
        eval_scalar(Op::Add, DType::I8, DType::I8, &[I8(1), I16(1)]),
        None
    );
    assert_eq!(
        eval_scalar(Op::Add, DType::I8, DType::I16, &[I8(1), I8(1)]),
        None
    );
    assert_eq!(
        eval_scalar(
            Op::Subtract,
            DType::Bool,
            DType::Bool,
            &[Bool(true), Bool(true)]
        ),
        None
    );
    assert_eq!(
        eval_scalar(Op::Sqrt, DType::F16, DType::F16, &[F16(f16::ONE)]),
        None
    );
    assert_eq!(
        eval_scalar(Op::Sin, DType::I32, DType::I32, &[I32(1)]),
        None
    );
    // where, fma, clip, copy, bool arithmetic.
    assert_eq!(
        ev(
            Op::Where,
            DType::F16,
            DType::F16,
            &[Bool(false), F16(f16::ONE), F16(f16::ZERO)]
        ),
        F16(f16::ZERO)
    );
    assert_eq!(
        ev(
            Op::Where,
            DType::I64,
            DType::I64,
            &[Bool(true), I64(5), I64(6)]
        ),
        I64(5)
    );
    // fma rounds once: (1 + 2^-30)^2 - 1 keeps the 2^-60 term.
    let a = 1.0 + 2f64.powi(-30);
    assert_eq!(
        ev(
            Op::Fma,
            DType::F64,
            DType::F64,
            &[F64(a), F64(a), F64(-1.0)]
        ),
        F64(2f64.powi(-29) + 2f64.powi(-60))
    );
    // The fused multiply-add superinstructions round twice, as a multiply then an add.
    let f3 = |op, x: f64, y: f64, z: f64| match ev(
        op,
        DType::F64,
        DType::F64,
        &[F64(x), F64(y), F64(z)],
    ) {
        F64(v) => v,
        _ => unreachable!(),
    };
    assert_eq!(f3(Op::MultiplyAdd, a, a, -1.0), 2f64.powi(-29));
    assert_eq!(f3(Op::AddMultiply, a, a, -1.0), 2f64.powi(-29));
    assert_eq!(f3(Op::MultiplySubtract, a, a, 1.0), 2f64.powi(-29));
    assert_eq!(f3(Op::SubtractMultiply, a, a, 1.0), -(2f64.powi(-29)));
    assert_eq!(f3(Op::SubtractMultiply, 2.0, 3.0, 10.0), 4.0);
    assert_eq!(f3(Op::MultiplySubtract, 2.0, 3.0, 10.0), -4.0);
    // -0.0: (-1*0) + -0 is -0, -0 - (1*0) is -0, 0 - (1*0) is +0.
    assert_eq!(
        f3(Op::MultiplyAdd, -1.0, 0.0, -0.0).to_bits(),
        (-0.0f64).to_bits()
    );
    assert_eq!(
        f3(Op::SubtractMultiply, 1.0, 0.0, -0.0).to_bits(),
        (-0.0f64).to_bits()
    );
    assert_eq!(
        f3(Op::SubtractMultiply, 1.0, 0.0, 0.0).to_bits(),
        0.0f64.to_bits()
    );
    // Overflow in the product is not rescued by the add (a fused multiply-add gives 5e307).
    assert_eq!(f3(Op::MultiplyAdd, 1e308, 2.0, -1.5e308), f64::INFINITY);
    // Integers wrap: 16*16 + 3 = 259 = 3 (mod 256); 3 - 16*16 = -253 = 3 (mod 256).
    for op in [Op::MultiplyAdd, Op::AddMultiply] {
        assert_eq!(
            ev(op, DType::U8, DType::U8, &[U8(16), U8(16), U8(3)]),
            U8(3)
        );
    }
    assert_eq!(
        ev(
            Op::SubtractMultiply,
            DType::U8,
            DType::U8,
            &[U8(16), U8(16), U8(3)]
        ),
        U8(3)
    );
    assert_eq!(
        ev(
            Op::MultiplySubtract,
            DType::I8,
            DType::I8,
            &[I8(-128), I8(1), I8(1)]
        ),
        I8(127)
    );
    assert_eq!(
        ev(Op::Clip, DType::I32, DType::I32, &[I32(9), I32(0), I32(5)]),
        I32(5)
    );
    assert_eq!(
        ev(
            Op::Copy,
            DType::C64,
            DType::C64,
            &[C64(Complex32::new(1.0, 2.0))]
        ),
        C64(Complex32::new(1.0, 2.0))
    );
    assert_eq!(
        ev(Op::Add, DType::Bool, DType::Bool, &[Bool(true), Bool(true)]),
        Bool(true)
    );
    assert_eq!(
        ev(
            Op::Multiply,
            DType::Bool,
            DType::Bool,
            &[Bool(true), Bool(false)]
        ),
        Bool(false)
    );
    assert_eq!(
        ev(
            Op::Cast,
            DType::C128,
            DType::Bool,
            &[C128(Complex64::new(0.0, 1.0))]
        ),
        Bool(true)
    );
    assert_eq!(
        ev(Op::Cast, DType::F64, DType::Bool, &[F64(f64::NAN)]),
        Bool(true)
    );
    assert_eq!(ev(Op::Cast, DType::I16, DType::U8, &[I16(-1)]), U8(255));
    assert_eq!(
        ev(Op::Cast, DType::Bool, DType::C64, &[Bool(true)]),
        C64(Complex32::new(1.0, 0.0))
    );
    assert_eq!(
        ev(
            Op::Real,
            DType::C128,
            DType::F64,
            &[C128(Complex64::new(1.0, 2.0))]
        ),
        F64(1.0)
    );
    assert_eq!(
        ev(
            Op::Imag,
            DType::C64,
            DType::F32,
            &[C64(Complex32::new(1.0, 2.0))]
        ),
        F32(2.0)
    );
    assert_eq!(
        ev(Op::Nextafter, DType::F32, DType::F32, &[F32(1.0), F32(2.0)]),
        F32(1.0 + f32::EPSILON)
    );
    assert_eq!(
        ev(
            Op::Nextafter,
            DType::F64,
            DType::F64,
            &[F64(0.0), F64(-1.0)]
        ),
        F64(-f64::from_bits(1))
    );
    assert_eq!(
        ev(Op::Copysign, DType::F64, DType::F64, &[F64(2.0), F64(-0.0)]),
        F64(-2.0)
    );
    assert_eq!(
        ev(Op::SignBit, DType::F32, DType::Bool, &[F32(-0.0)]),
        Bool(true)
    );
}

#[test]
fn float16_nextafter_steps_half_bits() {
    use half::f16;
    use ndexpr::Scalar::F16;
    let step = |x: f16, y: f16| match ndexpr::kernels::eval_scalar(
        Op::Nextafter,
        DType::F16,
        DType::F16,
        &[F16(x), F16(y)],
    ) {
        Some(F16(r)) => r.to_bits(),
        other => panic!("{other:?}"),
    };
    // Hand-derived: 1.0 is 0x3c00; the next half up is 0x3c01, down 0x3bff; from +0 towards a
    // negative the smallest negative subnormal 0x8001; NaN in, NaN (0x7e00) out.
    assert_eq!(step(f16::ONE, f16::from_f32(2.0)), 0x3c01);
    assert_eq!(step(f16::ONE, f16::ZERO), 0x3bff);
    assert_eq!(step(f16::ZERO, f16::NEG_ONE), 0x8001);
    assert_eq!(step(f16::NEG_ONE, f16::ZERO), 0xbbff);
    assert_eq!(step(f16::NEG_ONE, f16::from_f32(-2.0)), 0xbc01);
    assert_eq!(step(f16::NAN, f16::ONE), 0x7e00);
    assert_eq!(step(f16::ONE, f16::ONE), 0x3c00);
}
