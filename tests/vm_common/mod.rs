//! A small private kernel table and hand-built programs for the VM tests, independent of
//! `kernels::lookup` and `Expr::compile`.
#![allow(dead_code)]

use ndexpr::bytecode::{Dest, InputSpec, Instr, Op, Operand, Program, ScalarInit};
use ndexpr::kernels::KernelFn;
use ndexpr::vm::RunOptions;
use ndexpr::DType;
use num_complex::Complex64;

pub trait Bin {
    type T: Copy;
    type O: Copy;
    fn f(a: Self::T, b: Self::T) -> Self::O;
}
pub trait Un {
    type T: Copy;
    type O: Copy;
    fn f(a: Self::T) -> Self::O;
}

/// # Safety
/// Kernel contract of `ndexpr::kernels::KernelFn`.
unsafe fn bin<K: Bin, const M: u8>(n: usize, dst: *mut u8, args: &[*const u8; 3]) {
    let (a, b, d) = (
        args[0] as *const K::T,
        args[1] as *const K::T,
        dst as *mut K::O,
    );
    for i in 0..n {
        unsafe {
            let x = if M & 1 != 0 { *a } else { *a.add(i) };
            let y = if M & 2 != 0 { *b } else { *b.add(i) };
            *d.add(i) = K::f(x, y);
        }
    }
}

/// # Safety
/// Kernel contract of `ndexpr::kernels::KernelFn`.
unsafe fn un<K: Un, const M: u8>(n: usize, dst: *mut u8, args: &[*const u8; 3]) {
    let (a, d) = (args[0] as *const K::T, dst as *mut K::O);
    for i in 0..n {
        unsafe {
            let x = if M & 1 != 0 { *a } else { *a.add(i) };
            *d.add(i) = K::f(x);
        }
    }
}

pub struct AddF64;
impl Bin for AddF64 {
    type T = f64;
    type O = f64;
    fn f(a: f64, b: f64) -> f64 {
        a + b
    }
}
pub struct MulF64;
impl Bin for MulF64 {
    type T = f64;
    type O = f64;
    fn f(a: f64, b: f64) -> f64 {
        a * b
    }
}
pub struct AddI32;
impl Bin for AddI32 {
    type T = i32;
    type O = i32;
    fn f(a: i32, b: i32) -> i32 {
        a.wrapping_add(b)
    }
}
pub struct LessF64;
impl Bin for LessF64 {
    type T = f64;
    type O = bool;
    fn f(a: f64, b: f64) -> bool {
        a < b
    }
}
pub struct AddC128;
impl Bin for AddC128 {
    type T = Complex64;
    type O = Complex64;
    fn f(a: Complex64, b: Complex64) -> Complex64 {
        a + b
    }
}
pub struct CastI32F64;
impl Un for CastI32F64 {
    type T = i32;
    type O = f64;
    fn f(a: i32) -> f64 {
        a as f64
    }
}
pub struct SinF64;
impl Un for SinF64 {
    type T = f64;
    type O = f64;
    fn f(a: f64) -> f64 {
        a.sin()
    }
}
pub struct CopyK<T>(std::marker::PhantomData<T>);
impl<T: Copy> Un for CopyK<T> {
    type T = T;
    type O = T;
    fn f(a: T) -> T {
        a
    }
}

fn bin_form<K: Bin>(mask: u8) -> Option<KernelFn> {
    Some(match mask {
        0 => bin::<K, 0>,
        1 => bin::<K, 1>,
        2 => bin::<K, 2>,
        3 => bin::<K, 3>,
        _ => return None,
    })
}

fn un_form<K: Un>(mask: u8) -> Option<KernelFn> {
    Some(match mask {
        0 => un::<K, 0>,
        1 => un::<K, 1>,
        _ => return None,
    })
}

unsafe fn panicking(_: usize, _: *mut u8, _: &[*const u8; 3]) {
    panic!("test kernel panicked");
}

/// The test kernel table: add/multiply/less/sin on f64, add on i32 and c128, cast i32→f64,
/// copy for f64/i32/bool/c128/f16; `floor_divide.f64` panics (to test the panic guard).
pub fn lookup(op: Op, ty: DType, out: DType, mask: u8) -> Option<KernelFn> {
    match (op, ty, out) {
        (Op::Add, DType::F64, DType::F64) => bin_form::<AddF64>(mask),
        (Op::Multiply, DType::F64, DType::F64) => bin_form::<MulF64>(mask),
        (Op::Add, DType::I32, DType::I32) => bin_form::<AddI32>(mask),
        (Op::Add, DType::C128, DType::C128) => bin_form::<AddC128>(mask),
        (Op::Less, DType::F64, DType::Bool) => bin_form::<LessF64>(mask),
        (Op::Sin, DType::F64, DType::F64) => un_form::<SinF64>(mask),
        (Op::Cast, DType::I32, DType::F64) => un_form::<CastI32F64>(mask),
        (Op::Copy, DType::F64, DType::F64) => un_form::<CopyK<f64>>(mask),
        (Op::Copy, DType::I32, DType::I32) => un_form::<CopyK<i32>>(mask),
        (Op::Copy, DType::Bool, DType::Bool) => un_form::<CopyK<bool>>(mask),
        (Op::Copy, DType::C128, DType::C128) => un_form::<CopyK<Complex64>>(mask),
        (Op::Copy, DType::F16, DType::F16) => un_form::<CopyK<half::f16>>(mask),
        (Op::FloorDivide, DType::F64, DType::F64) => Some(panicking),
        _ => None,
    }
}

pub fn opts() -> RunOptions {
    RunOptions {
        lookup,
        ..RunOptions::default()
    }
}

pub fn opts_threads(threads: usize, parallel_work: usize) -> RunOptions {
    RunOptions {
        lookup,
        threads: Some(threads),
        parallel_work,
        ..RunOptions::default()
    }
}

pub fn input(name: &str, dtype: DType) -> InputSpec {
    InputSpec {
        name: name.to_string(),
        dtype,
    }
}

pub fn instr(op: Op, ty: DType, out: DType, dst: u16, args: &[Operand]) -> Instr {
    Instr {
        op,
        ty,
        out,
        dst: Dest::Reg(dst),
        args: args.to_vec(),
        links: vec![],
    }
}

/// `2*a + 48` on f64: r0 = multiply a, 2.0; r0 = add r0, 48.0.
pub fn prog_2a48() -> Program {
    use Operand::*;
    let f = DType::F64;
    Program {
        inputs: vec![input("a", f)],
        scalar_vars: vec![],
        scalars: vec![
            ScalarInit::Const(ndexpr::Scalar::F64(2.0)),
            ScalarInit::Const(ndexpr::Scalar::F64(48.0)),
        ],
        prologue: vec![],
        body: vec![
            instr(Op::Multiply, f, f, 0, &[Input(0), Scalar(0)]),
            instr(Op::Add, f, f, 0, &[Reg(0), Scalar(1)]),
        ],
        registers: vec![f],
        result: 0,
        result_dtype: f,
        reductions: vec![],
        reduce: None,
    }
}

/// `a*b + c` on f64.
pub fn prog_abc() -> Program {
    use Operand::*;
    let f = DType::F64;
    Program {
        inputs: vec![input("a", f), input("b", f), input("c", f)],
        scalar_vars: vec![],
        scalars: vec![],
        prologue: vec![],
        body: vec![
            instr(Op::Multiply, f, f, 0, &[Input(0), Input(1)]),
            instr(Op::Add, f, f, 0, &[Reg(0), Input(2)]),
        ],
        registers: vec![f],
        result: 0,
        result_dtype: f,
        reductions: vec![],
        reduce: None,
    }
}

/// `a + 2*k` with a scalar variable `k` (the `2*k` hoisted into the prologue): f64.
pub fn prog_prologue() -> Program {
    use Operand::*;
    let f = DType::F64;
    Program {
        inputs: vec![input("a", f)],
        scalar_vars: vec![input("k", f)],
        scalars: vec![
            ScalarInit::Var(0),
            ScalarInit::Const(ndexpr::Scalar::F64(2.0)),
            ScalarInit::Computed(f),
        ],
        prologue: vec![Instr {
            op: Op::Multiply,
            ty: f,
            out: f,
            dst: Dest::Scalar(2),
            args: vec![Scalar(0), Scalar(1)],
            links: vec![],
        }],
        body: vec![instr(Op::Add, f, f, 0, &[Input(0), Scalar(2)])],
        registers: vec![f],
        result: 0,
        result_dtype: f,
        reductions: vec![],
        reduce: None,
    }
}

/// `i + x` with `i` int32 and `x` float64: r0 = cast.i32.f64 i; r0 = add r0, x.
pub fn prog_cast() -> Program {
    use Operand::*;
    let f = DType::F64;
    Program {
        inputs: vec![input("i", DType::I32), input("x", f)],
        scalar_vars: vec![],
        scalars: vec![],
        prologue: vec![],
        body: vec![
            instr(Op::Cast, DType::I32, f, 0, &[Input(0)]),
            instr(Op::Add, f, f, 0, &[Reg(0), Input(1)]),
        ],
        registers: vec![f],
        result: 0,
        result_dtype: f,
        reductions: vec![],
        reduce: None,
    }
}

/// A one-instruction program `op.ty->out` over inputs named `a`, `b`, ... .
pub fn prog_unary_binary(op: Op, ty: DType, out: DType) -> Program {
    let names = ["a", "b", "c"];
    let n = op.arity();
    Program {
        inputs: names[..n].iter().map(|x| input(x, ty)).collect(),
        scalar_vars: vec![],
        scalars: vec![],
        prologue: vec![],
        body: vec![instr(
            op,
            ty,
            out,
            0,
            &(0..n as u16).map(Operand::Input).collect::<Vec<_>>(),
        )],
        registers: vec![out],
        result: 0,
        result_dtype: out,
        reductions: vec![],
        reduce: None,
    }
}

/// A deterministic f64 test array (no two neighbours equal, signs mixed).
pub fn data(n: usize, seed: u64) -> Vec<f64> {
    (0..n)
        .map(|i| {
            let x = (i as u64).wrapping_mul(2654435761).wrapping_add(seed * 97) % 10007;
            x as f64 / 7.0 - 700.0
        })
        .collect()
}
