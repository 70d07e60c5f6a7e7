//! The VM over hand-built programs and a private kernel table: every layout, size, alias and
//! thread case. Expected values come from ndarray (`mapv`, `Zip`, arithmetic), never the VM.

mod vm_common;

use ndarray::{s, Array1, Array2, ArrayD, ArrayView1, ArrayViewMut1, IxDyn, ShapeBuilder, Zip};
use ndexpr::bytecode::{Op, Operand, Program};
use ndexpr::vm::{eval_program, eval_program_in_place, eval_program_into, BLOCK};
use ndexpr::{Array, ArrayMut, DType, ErrorKind, Scalar, Vars};
use num_complex::Complex64;
use vm_common::*;

fn f64_result(a: Array) -> ArrayD<f64> {
    a.into_array::<f64>().expect("a float64 result")
}

fn arr2(m: usize, n: usize, seed: u64) -> Array2<f64> {
    Array2::from_shape_vec((m, n), data(m * n, seed)).unwrap()
}

#[test]
fn sizes_1d() {
    let p = prog_2a48();
    for n in [0, 1, 2, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 7, 300_000] {
        let a = Array1::from(data(n, 1));
        let r = f64_result(eval_program(&p, &Vars::new().with("a", &a), &opts()).unwrap());
        assert_eq!(r, a.mapv(|x| 2.0 * x + 48.0).into_dyn(), "n = {n}");
    }
}

#[test]
fn abc_layouts() {
    let p = prog_abc();
    let expect = |a: &ndarray::ArrayView2<f64>,
                  b: &ndarray::ArrayView2<f64>,
                  c: &ndarray::ArrayView2<f64>| {
        let mut e = Array2::zeros(a.raw_dim());
        Zip::from(&mut e)
            .and(a)
            .and(b)
            .and(c)
            .for_each(|e, &a, &b, &c| *e = a * b + c);
        e.into_dyn()
    };
    for (m, n) in [(3, 5), (7, BLOCK + 3), (40, 300), (1, 1), (0, 4), (5, 0)] {
        let a = arr2(m, n, 1);
        let b = arr2(m, n, 2);
        let c = arr2(m, n, 3);
        // C order.
        let vars = Vars::new().with("a", &a).with("b", &b).with("c", &c);
        let r = f64_result(eval_program(&p, &vars, &opts()).unwrap());
        assert_eq!(r, expect(&a.view(), &b.view(), &c.view()));
        // Fortran order: output Fortran too.
        let mut af = Array2::zeros((m, n).f());
        af.assign(&a);
        let mut bf = Array2::zeros((m, n).f());
        bf.assign(&b);
        let mut cf = Array2::zeros((m, n).f());
        cf.assign(&c);
        let vars = Vars::new().with("a", &af).with("b", &bf).with("c", &cf);
        let r = f64_result(eval_program(&p, &vars, &opts()).unwrap());
        assert_eq!(r, expect(&a.view(), &b.view(), &c.view()));
        if m > 1 && n > 1 {
            assert!(
                r.t().is_standard_layout(),
                "Fortran inputs give Fortran output"
            );
        }
        // Mixed C and Fortran: output C.
        let vars = Vars::new().with("a", &af).with("b", &b).with("c", &cf);
        let r = f64_result(eval_program(&p, &vars, &opts()).unwrap());
        assert!(r.is_standard_layout());
        assert_eq!(r, expect(&a.view(), &b.view(), &c.view()));
    }
}

#[test]
fn sliced_negative_and_broadcast() {
    let p = prog_abc();
    let big = arr2(50, 20 * (BLOCK / 10) + 7, 5);
    let a = big.slice(s![.., ..;20]); // stride 20 along the inner axis
    let (m, n) = a.dim();
    let b0 = arr2(m, n, 6);
    let b = b0.slice(s![..;-1, ..]); // negative row stride
    let c0 = Array1::from(data(n, 7));
    let c = c0.slice(s![..;-1]); // negative inner stride, broadcast over rows
    let vars = Vars::new().with("a", a).with("b", b).with("c", c);
    let r = f64_result(eval_program(&p, &vars, &opts()).unwrap());
    let mut e = Array2::zeros((m, n));
    Zip::from(&mut e)
        .and(&a)
        .and(&b)
        .and_broadcast(&c)
        .for_each(|e, &a, &b, &c| *e = a * b + c);
    assert_eq!(r, e.into_dyn());

    // Column broadcast (m, 1) and an explicit `broadcast()` view (stride 0).
    let col = Array2::from_shape_vec((m, 1), data(m, 8)).unwrap();
    let row = Array1::from(data(n, 9));
    let rowb = row.broadcast((m, n)).unwrap();
    let vars = Vars::new()
        .with("a", &col)
        .with("b", rowb)
        .with("c", 1.5f64);
    // `c` as a scalar operand of an array input: acts as a 0-d array.
    let r = f64_result(eval_program(&p, &vars, &opts()).unwrap());
    let mut e = Array2::zeros((m, n));
    Zip::from(&mut e)
        .and_broadcast(&col)
        .and(&rowb)
        .for_each(|e, &a, &b| *e = a * b + 1.5);
    assert_eq!(r, e.into_dyn());

    // Negative strides on both axes, 3-d with a length-1 axis.
    let t = ArrayD::from_shape_vec(IxDyn(&[4, 1, 3 * BLOCK + 7]), data(4 * (3 * BLOCK + 7), 10))
        .unwrap();
    let tv = t.slice(s![..;-1, .., ..;-1]).into_dyn();
    let vars = Vars::new().with("a", &tv).with("b", &tv).with("c", &t);
    let r = f64_result(eval_program(&p, &vars, &opts()).unwrap());
    let mut e = ArrayD::zeros(t.raw_dim());
    Zip::from(&mut e)
        .and(&tv)
        .and(&t)
        .for_each(|e, &a, &c| *e = a * a + c);
    assert_eq!(r, e);
}

#[test]
fn zero_d_and_empty() {
    let p = prog_abc();
    let a = ndarray::arr0(2.0);
    let vars = Vars::new().with("a", &a).with("b", &a).with("c", &a);
    let r = eval_program(&p, &vars, &opts()).unwrap();
    assert_eq!(r.shape(), &[] as &[usize]);
    assert_eq!(f64_result(r), ndarray::arr0(6.0).into_dyn());

    // (2, 0, 3) with (3,) gives (2, 0, 3); with (5,) is an error.
    let e = ArrayD::<f64>::zeros(IxDyn(&[2, 0, 3]));
    let t = Array1::from(vec![1.0, 2.0, 3.0]);
    let vars = Vars::new().with("a", &e).with("b", &t).with("c", 1.0);
    let r = eval_program(&p, &vars, &opts()).unwrap();
    assert_eq!(r.shape(), &[2, 0, 3]);
    let five = Array1::<f64>::zeros(5);
    let vars = Vars::new().with("a", &e).with("b", &five).with("c", 1.0);
    let err = eval_program(&p, &vars, &opts()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Shape);
    assert_eq!(
        err.message(),
        "operands could not be broadcast together: a has shape (2, 0, 3), b has shape (5,), c has shape ()"
    );
}

#[test]
fn prologue_and_scalar_vars() {
    let p = prog_prologue();
    let a = Array1::from(data(BLOCK + 1, 3));
    let r =
        f64_result(eval_program(&p, &Vars::new().with("a", &a).with("k", 0.25), &opts()).unwrap());
    assert_eq!(r, a.mapv(|x| x + 0.5).into_dyn());
    // A 0-d array may stand for a scalar variable.
    let k = ndarray::arr0(3.0);
    let r =
        f64_result(eval_program(&p, &Vars::new().with("a", &a).with("k", &k), &opts()).unwrap());
    assert_eq!(r, a.mapv(|x| x + 6.0).into_dyn());
    // Wrong scalar dtype, scalar given as an array, missing variable.
    let err = eval_program(&p, &Vars::new().with("a", &a).with("k", 2i32), &opts()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Type);
    assert_eq!(
        err.message(),
        "variable `k` has dtype int32 but the expression was compiled for float64"
    );
    let err = eval_program(&p, &Vars::new().with("a", &a).with("k", &a), &opts()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Type);
    let err = eval_program(&p, &Vars::new().with("a", &a), &opts()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownVariable);
}

#[test]
fn cast_mixed_dtypes() {
    let p = prog_cast();
    let n = 2 * BLOCK + 5;
    let i = Array1::from_iter((0..n as i32).map(|v| v * 3 - 1000));
    let x0 = arr2(3, n, 4);
    let x = x0.slice(s![1, ..;-1]);
    let r = f64_result(eval_program(&p, &Vars::new().with("i", &i).with("x", x), &opts()).unwrap());
    let mut e = Array1::zeros(n);
    Zip::from(&mut e)
        .and(&i)
        .and(&x)
        .for_each(|e, &i, &x| *e = i as f64 + x);
    assert_eq!(r, e.into_dyn());
}

#[test]
fn other_dtypes() {
    // i32 add, bool comparison output, complex128 add, f16 copy through a strided view.
    let p = prog_unary_binary(Op::Add, DType::I32, DType::I32);
    let a = Array2::from_shape_fn((5, 300), |(i, j)| (i * 1000 + j) as i32);
    let b = a.t().to_owned();
    let bt = b.t();
    let r = eval_program(&p, &Vars::new().with("a", &a).with("b", bt), &opts())
        .unwrap()
        .into_array::<i32>()
        .unwrap();
    assert_eq!(r, (&a + &a).into_dyn());

    let p = prog_unary_binary(Op::Less, DType::F64, DType::Bool);
    let x = Array1::from(data(BLOCK + 9, 1));
    let y = Array1::from(data(BLOCK + 9, 2));
    let r = eval_program(&p, &Vars::new().with("a", &x).with("b", &y), &opts()).unwrap();
    assert_eq!(r.dtype(), DType::Bool);
    let mut e = Array1::from_elem(x.len(), false);
    Zip::from(&mut e)
        .and(&x)
        .and(&y)
        .for_each(|e, &x, &y| *e = x < y);
    assert_eq!(r.as_view::<bool>().unwrap(), e.into_dyn());
    assert_eq!(
        r.clone().into_f64().unwrap(),
        r.as_view::<bool>().unwrap().mapv(|v| v as u8 as f64)
    );

    let p = prog_unary_binary(Op::Add, DType::C128, DType::C128);
    let z = Array1::from_shape_fn(BLOCK + 3, |i| Complex64::new(i as f64, -(i as f64) / 2.0));
    let zs = z.slice(s![..;-2]);
    let r = eval_program(
        &p,
        &Vars::new()
            .with("a", zs)
            .with("b", Complex64::new(1.0, 1.0)),
        &opts(),
    )
    .unwrap();
    assert_eq!(
        r.as_view::<Complex64>().unwrap(),
        zs.mapv(|v| v + Complex64::new(1.0, 1.0)).into_dyn()
    );
    assert_eq!(r.clone().into_f64().unwrap_err().kind(), ErrorKind::Type);

    let p = prog_unary_binary(Op::Copy, DType::F16, DType::F16);
    let h = Array2::from_shape_fn((7, 11), |(i, j)| half::f16::from_f64((i * 11 + j) as f64));
    let hv = h.slice(s![..;2, ..;-3]);
    let r = eval_program(&p, &Vars::new().with("a", hv), &opts()).unwrap();
    assert_eq!(
        r.into_array::<half::f16>().unwrap(),
        hv.to_owned().into_dyn()
    );
}

#[test]
fn constant_only_program() {
    // `copy 2.5` with no inputs: a 0-d result; into an output it fills the output.
    let mut p = prog_unary_binary(Op::Copy, DType::F64, DType::F64);
    p.inputs.clear();
    p.scalars = vec![ndexpr::bytecode::ScalarInit::Const(Scalar::F64(2.5))];
    p.body[0].args = vec![Operand::Scalar(0)];
    let r = f64_result(eval_program(&p, &Vars::new(), &opts()).unwrap());
    assert_eq!(r, ndarray::arr0(2.5).into_dyn());
    let mut out = Array2::<f64>::zeros((3, BLOCK + 1));
    eval_program_into(&p, &Vars::new(), (&mut out).into(), &opts()).unwrap();
    assert!(out.iter().all(|&v| v == 2.5));
}

#[test]
fn eval_into_strided_output() {
    let p = prog_abc();
    let (m, n) = (9, 2 * BLOCK + 1);
    let a = arr2(m, n, 1);
    let b = Array1::from(data(n, 2));
    let vars = Vars::new().with("a", &a).with("b", &b).with("c", 0.5);
    let mut e = Array2::zeros((m, n));
    Zip::from(&mut e)
        .and(&a)
        .and_broadcast(&b)
        .for_each(|e, &a, &b| *e = a * b + 0.5);

    let mut big = Array2::<f64>::from_elem((2 * m, 3 * n), -1.0);
    {
        let out = big.slice_mut(s![..;-2, ..;3]);
        eval_program_into(&p, &vars, out.into(), &opts()).unwrap();
    }
    assert_eq!(big.slice(s![..;-2, ..;3]), e);
    // Elements outside the view are untouched.
    assert!(big.slice(s![..;2, ..;3]).iter().all(|&v| v == -1.0));
    assert!(big.slice(s![.., 1..;3]).iter().all(|&v| v == -1.0));

    // Fortran output.
    let mut out = Array2::<f64>::zeros((m, n).f());
    eval_program_into(&p, &vars, (&mut out).into(), &opts()).unwrap();
    assert_eq!(out, e);

    // An output larger than the broadcast shape of the inputs (inputs broadcast to it).
    let mut out3 = ndarray::Array3::<f64>::zeros((2, m, n));
    eval_program_into(&p, &vars, (&mut out3).into(), &opts()).unwrap();
    assert_eq!(out3.index_axis(ndarray::Axis(0), 1), e);
}

#[test]
fn output_errors_leave_output_untouched() {
    let p = prog_abc();
    let a = arr2(3, 4, 1);
    let vars = Vars::new().with("a", &a).with("b", &a).with("c", &a);

    let mut out32 = Array2::<f32>::from_elem((3, 4), 7.0);
    let err = eval_program_into(&p, &vars, (&mut out32).into(), &opts()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Output);
    assert_eq!(
        err.message(),
        "output has dtype float32 but the expression gives float64"
    );
    assert!(out32.iter().all(|&v| v == 7.0));

    let mut out = Array1::<f64>::from_elem(5, 7.0);
    let err = eval_program_into(&p, &vars, (&mut out).into(), &opts()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Shape);
    assert_eq!(
        err.message(),
        "output has shape (5,) but the expression gives shape (3, 4)"
    );
    assert!(out.iter().all(|&v| v == 7.0));

    // An output the operands broadcast against but that is smaller: (4,) for (3, 4).
    let mut out = Array1::<f64>::from_elem(4, 7.0);
    let err = eval_program_into(&p, &vars, (&mut out).into(), &opts()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Shape);
    assert!(out.iter().all(|&v| v == 7.0));

    // Operands that do not broadcast.
    let b = Array1::<f64>::zeros(5);
    let vars = Vars::new().with("a", &a).with("b", &b).with("c", 1.0);
    let mut out = Array2::<f64>::from_elem((3, 4), 7.0);
    let err = eval_program_into(&p, &vars, (&mut out).into(), &opts()).unwrap_err();
    assert_eq!(
        err.message(),
        "operands could not be broadcast together: a has shape (3, 4), b has shape (5,), c has shape ()"
    );
    assert!(out.iter().all(|&v| v == 7.0));
}

#[test]
fn missing_kernel_and_panic_are_internal_errors() {
    let p = prog_unary_binary(Op::Subtract, DType::F64, DType::F64);
    let a = Array1::from(data(10, 1));
    let vars = Vars::new().with("a", &a).with("b", &a);
    let err = eval_program(&p, &vars, &opts()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert!(err.message().contains("subtract.f64"), "{}", err.message());

    let mut out = Array1::<f64>::from_elem(10, 7.0);
    let err = eval_program_into(&p, &vars, (&mut out).into(), &opts()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert!(out.iter().all(|&v| v == 7.0));

    let p = prog_unary_binary(Op::FloorDivide, DType::F64, DType::F64);
    let err = eval_program(&p, &vars, &opts()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert!(err.message().contains("test kernel panicked"));

    // A malformed program (register out of range) is refused, not run.
    let mut p = prog_2a48();
    p.body[1].args[0] = Operand::Reg(9);
    let err = eval_program(&p, &Vars::new().with("a", &a), &opts()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
    // Wrong input dtype.
    let i = Array1::<i32>::zeros(3);
    let err = eval_program(&prog_2a48(), &Vars::new().with("a", &i), &opts()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Type);
}

#[test]
fn in_place_update() {
    let p = prog_2a48();
    for n in [0, 1, BLOCK, 3 * BLOCK + 7] {
        let mut x = Array1::from(data(n, 3));
        let e = x.mapv(|v| 2.0 * v + 48.0);
        let ptr = x.as_ptr();
        eval_program_in_place(&p, "a", &Vars::new(), (&mut x).into(), &opts()).unwrap();
        assert_eq!(x, e);
        assert_eq!(x.as_ptr(), ptr);
    }
    // Strided in-place (gather + scatter on the same elements), with another input.
    let p = prog_abc();
    let mut big = arr2(6, 3 * BLOCK, 1);
    let b = arr2(3, BLOCK, 2);
    let before = big.clone();
    {
        let xv = big.slice_mut(s![..;-2, ..;3]);
        let e = {
            let a = before.slice(s![..;-2, ..;3]);
            let mut e = a.to_owned();
            Zip::from(&mut e)
                .and(&a)
                .and(&b)
                .for_each(|e, &a, &b| *e = a * b + a);
            e
        };
        // a = a*b + a, with `c` also read from the output's memory (same elements).
        let vars = Vars::new().with("b", &b);
        // `c` must alias too: bind via in-place name `a`, and `c` via a raw view.
        // SAFETY: `c` aliases `xv` (same elements, same strides) only during this call; the VM
        // supports exactly aliased operands.
        let c: ndarray::ArrayView2<f64> = unsafe { xv.raw_view().deref_into_view() };
        let vars = vars.with("c", c);
        eval_program_in_place(&p, "a", &vars, xv.into(), &opts()).unwrap();
        assert_eq!(big.slice(s![..;-2, ..;3]), e);
    }
    // The rest is untouched.
    assert_eq!(big.slice(s![.., 1..;3]), before.slice(s![.., 1..;3]));
}

#[test]
fn partial_overlap_uses_a_temporary() {
    // out[i] = in[i] + in[i] where out starts one element after in: shifted overlap.
    let p = prog_unary_binary(Op::Add, DType::F64, DType::F64);
    for n in [5, BLOCK + 1, 3 * BLOCK + 7] {
        let mut buf = Array1::from(data(n + 1, 4));
        let src = buf.slice(s![..n]).to_owned();
        let base = buf.as_mut_ptr();
        // SAFETY: both views lie inside `buf`, which outlives them; the VM handles the overlap.
        let input: ArrayView1<f64> = unsafe { ArrayView1::from_shape_ptr(n, base) };
        let out: ArrayViewMut1<f64> = unsafe { ArrayViewMut1::from_shape_ptr(n, base.add(1)) };
        let vars = Vars::new().with("a", input).with("b", input);
        eval_program_into(&p, &vars, ArrayMut::from(out), &opts()).unwrap();
        assert_eq!(buf.slice(s![1..]), src.mapv(|v| v + v), "n = {n}");

        // Reversed input over the same memory as the output: overlapping, not identical.
        let mut buf = Array1::from(data(n, 5));
        let src = buf.clone();
        let base = buf.as_mut_ptr();
        let input = unsafe { ArrayView1::from_shape_ptr(n, base) };
        let input = input.slice_move(s![..;-1]);
        let out: ArrayViewMut1<f64> = unsafe { ArrayViewMut1::from_shape_ptr(n, base) };
        let vars = Vars::new().with("a", input).with("b", 1.0);
        eval_program_into(&p, &vars, ArrayMut::from(out), &opts()).unwrap();
        let rev = src.slice(s![..;-1]).mapv(|v| v + 1.0);
        assert_eq!(buf, rev, "n = {n}");
    }
}

#[test]
fn threads_give_identical_results() {
    // Above the threading threshold, with several layouts; every thread count gives the same bits
    // as the reference.
    let sinp = {
        let mut p = prog_2a48();
        p.body.push(ndexpr::bytecode::Instr {
            op: Op::Sin,
            ty: DType::F64,
            out: DType::F64,
            dst: ndexpr::bytecode::Dest::Reg(0),
            args: vec![Operand::Reg(0)],
            links: vec![],
        });
        p
    };
    let a = arr2(301, 1100, 1);
    let at = a.t();
    for (prog, f) in [
        (prog_2a48(), (|x: f64| 2.0 * x + 48.0) as fn(f64) -> f64),
        (sinp, |x: f64| (2.0 * x + 48.0).sin()),
    ] {
        let e = at.mapv(f).into_dyn();
        let mut results = Vec::new();
        for threads in [1, 2, 4] {
            for work in [0, usize::MAX, ndexpr::vm::exec::PARALLEL_WORK] {
                let r = f64_result(
                    eval_program(
                        &prog,
                        &Vars::new().with("a", at),
                        &opts_threads(threads, work),
                    )
                    .unwrap(),
                );
                assert_eq!(r, e);
                results.push(r);
                // Strided output.
                let mut out = Array2::<f64>::zeros((2 * 1100, 301));
                let ov = out.slice_mut(s![..;2, ..]);
                eval_program_into(
                    &prog,
                    &Vars::new().with("a", at),
                    ov.into(),
                    &opts_threads(threads, work),
                )
                .unwrap();
                assert_eq!(out.slice(s![..;2, ..]).into_dyn(), e);
            }
        }
        for r in &results {
            assert!(r
                .iter()
                .zip(e.iter())
                .all(|(x, y)| x.to_bits() == y.to_bits()));
        }
    }
}

#[test]
fn thread_settings() {
    let before = ndexpr::num_threads();
    assert!(before >= 1);
    let prev = ndexpr::set_num_threads(3);
    assert_eq!(prev, before);
    assert_eq!(ndexpr::num_threads(), 3);
    let a = Array1::from(data(400_000, 1));
    let r = f64_result(eval_program(&prog_2a48(), &Vars::new().with("a", &a), &opts()).unwrap());
    assert_eq!(r, a.mapv(|x| 2.0 * x + 48.0).into_dyn());
    ndexpr::set_num_threads(before);
}

#[test]
fn vars_and_array_api() {
    let a = Array1::from(vec![1.0, 2.0]);
    let mut vars = Vars::new().with("a", &a).with("k", 2.5f64).with("n", 3i32);
    vars.insert("k", Scalar::F32(1.0));
    vars.insert("z", Complex64::new(0.0, 1.0));
    vars.insert("t", true);
    assert_eq!(vars.len(), 5);
    assert_eq!(vars.get("k").unwrap().dtype(), DType::F32);
    assert!(vars.get("k").unwrap().is_scalar());
    assert!(!vars.get("a").unwrap().is_scalar());
    let sig = vars.signature();
    assert_eq!(
        sig.get("a"),
        Some(ndexpr::VarSpec {
            dtype: DType::F64,
            scalar: false
        })
    );
    assert_eq!(
        sig.get("n"),
        Some(ndexpr::VarSpec {
            dtype: DType::I32,
            scalar: true
        })
    );
    let v = ndarray::ArrayView::from(&[1u8, 2, 3][..]);
    let vars = Vars::new().with("v", v).with("w", a.view());
    assert_eq!(vars.get("v").unwrap().dtype(), DType::U8);

    let r = Array::I16(ArrayD::from_shape_vec(IxDyn(&[2]), vec![-1i16, 7]).unwrap());
    assert_eq!(r.dtype(), DType::I16);
    assert_eq!(r.shape(), &[2]);
    assert!(r.as_view::<f64>().is_none());
    assert_eq!(
        r.clone().into_f64().unwrap().as_slice().unwrap(),
        &[-1.0, 7.0]
    );
    assert!(r.clone().into_array::<i32>().is_none());
    assert_eq!(r.into_array::<i16>().unwrap()[[1]], 7);
}

#[test]
fn send_sync() {
    fn both<T: Send + Sync>() {}
    both::<Array>();
    both::<ndexpr::ArrayRef<'static>>();
    both::<ndexpr::ArrayMut<'static>>();
    both::<Vars<'static>>();
    both::<ndexpr::Expr>();
    both::<Program>();
}

#[test]
fn short_inner_axis_blocks_span_rows() {
    // Inner axes of 3 that cannot merge: blocks cover many rows (gathered segment by segment).
    let p = prog_abc();
    for rows in [1, 2, BLOCK / 3, BLOCK + 1, 3 * BLOCK + 7, 40_000] {
        let big = arr2(rows, 6, 1);
        let a = big.slice(s![.., ..;2]);
        let b = arr2(rows, 3, 2);
        let bt = b.slice(s![..;-1, ..]);
        let c = Array1::from(vec![0.5, -1.0, 2.0]);
        let vars = Vars::new().with("a", a).with("b", bt).with("c", &c);
        let mut e = Array2::zeros((rows, 3));
        Zip::from(&mut e)
            .and(&a)
            .and(&bt)
            .and_broadcast(&c)
            .for_each(|e, &a, &b, &c| *e = a * b + c);
        for threads in [1, 2, 4] {
            let o = opts_threads(threads, 0);
            let r = f64_result(eval_program(&p, &vars, &o).unwrap());
            assert_eq!(r, e.clone().into_dyn(), "rows = {rows}");
            let mut out = Array2::<f64>::zeros((rows, 9));
            eval_program_into(&p, &vars, out.slice_mut(s![.., ..;-3]).into(), &o).unwrap();
            assert_eq!(out.slice(s![.., ..;-3]), e, "rows = {rows}");
        }
    }
    // Three axes, two outer ones that do not merge (a permuted input): the row cursor carries.
    let base = ndarray::Array3::from_shape_vec((3, 5, 7 * 41), data(3 * 5 * 7 * 41, 3)).unwrap();
    let a = base.view().permuted_axes([2, 1, 0]); // (287, 5, 3), strides (1, 287, 1435)
    let c0 = ndarray::Array3::from_shape_vec((287, 5, 3), data(287 * 15, 4)).unwrap();
    let cv = c0.slice(s![.., ..;-1, ..]);
    let vars = Vars::new().with("a", a).with("b", 2.0).with("c", cv);
    let r = f64_result(eval_program(&p, &vars, &opts_threads(2, 0)).unwrap());
    let mut e = ndarray::Array3::zeros((287, 5, 3));
    Zip::from(&mut e)
        .and(&a)
        .and(&cv)
        .for_each(|e, &a, &c| *e = a * 2.0 + c);
    assert_eq!(r, e.into_dyn());
}

#[test]
fn plan_of_short_rows_is_flat() {
    // The flat mode is chosen only for short inner axes with several rows.
    use ndexpr::vm::plan::Plan;
    let p = Plan::new(&[1000, 3], &[vec![24, 8], vec![-24, 8]]);
    assert_eq!((p.inner, p.outer.clone()), (3, vec![1000]));
}

fn vector_only(op: Op, ty: DType, out: DType, mask: u8) -> Option<ndexpr::kernels::KernelFn> {
    if mask == 0 {
        lookup(op, ty, out, mask)
    } else {
        None
    }
}

#[test]
fn broadcast_inner_axis_scalar_form_and_fallback() {
    // `b` of shape (m, 1) is constant along the inner axis: read as a scalar per block when the
    // table has the scalar form, gathered (filled) otherwise. Same results either way.
    let p = prog_abc();
    for (m, n) in [(3, 5), (4, BLOCK + 3), (2, 3 * BLOCK + 7)] {
        let a = arr2(m, n, 1);
        let b = Array2::from_shape_vec((m, 1), data(m, 2)).unwrap();
        let c = arr2(m, n, 3);
        let mut e = Array2::zeros((m, n));
        Zip::from(&mut e)
            .and(&a)
            .and_broadcast(&b)
            .and(&c)
            .for_each(|e, &a, &b, &c| *e = a * b + c);
        for lookup_fn in [lookup as ndexpr::vm::Lookup, vector_only] {
            let o = ndexpr::vm::RunOptions {
                lookup: lookup_fn,
                ..opts()
            };
            // b read by the first instruction, and (swapped) by the last.
            let vars = Vars::new().with("a", &a).with("b", &b).with("c", &c);
            let r = f64_result(eval_program(&p, &vars, &o).unwrap());
            assert_eq!(r, e.clone().into_dyn());
            let vars = Vars::new().with("a", &a).with("b", &c).with("c", &b);
            let r = f64_result(eval_program(&p, &vars, &o).unwrap());
            let mut e2 = Array2::zeros((m, n));
            Zip::from(&mut e2)
                .and(&a)
                .and(&c)
                .and_broadcast(&b)
                .for_each(|e, &a, &c, &b| *e = a * c + b);
            assert_eq!(r, e2.into_dyn());
        }
    }
}

static SCALAR_FORMS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn counting(op: Op, ty: DType, out: DType, mask: u8) -> Option<ndexpr::kernels::KernelFn> {
    if mask != 0 {
        SCALAR_FORMS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    lookup(op, ty, out, mask)
}

#[test]
fn broadcast_inner_axis_uses_scalar_form() {
    let p = prog_abc();
    let a = arr2(4, 1000, 1);
    let b = Array2::from_shape_vec((4, 1), data(4, 2)).unwrap();
    let o = ndexpr::vm::RunOptions {
        lookup: counting,
        ..opts()
    };
    let vars = Vars::new().with("a", &a).with("b", &b).with("c", &a);
    let r = f64_result(eval_program(&p, &vars, &o).unwrap());
    assert!(SCALAR_FORMS.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    let mut e = Array2::zeros((4, 1000));
    Zip::from(&mut e)
        .and(&a)
        .and_broadcast(&b)
        .for_each(|e, &a, &b| *e = a * b + a);
    assert_eq!(r, e.into_dyn());
}

#[test]
fn transposed_alias_is_not_in_place() {
    // x = x.T + x (square): the output shares x's memory with other strides, so it must go
    // through a temporary (an elementwise in-place pass would read overwritten elements).
    let p = prog_unary_binary(Op::Add, DType::F64, DType::F64);
    for n in [2, 33, 700] {
        let mut x = arr2(n, n, 11);
        let before = x.clone();
        let base = x.as_mut_ptr();
        // SAFETY: all views address `x`'s n*n elements and are used within this iteration.
        let xt = unsafe { ndarray::ArrayView2::from_shape_ptr((n, n).f(), base as *const f64) };
        let xs = unsafe { ndarray::ArrayView2::from_shape_ptr((n, n), base as *const f64) };
        let out = unsafe { ndarray::ArrayViewMut2::from_shape_ptr((n, n), base) };
        let vars = Vars::new().with("a", xt).with("b", xs);
        eval_program_into(&p, &vars, out.into(), &opts()).unwrap();
        assert_eq!(x, &before.t() + &before, "n = {n}");
    }
    // Exact alias of an input plus a cast of another dtype: in place, correct.
    let p = prog_cast();
    let n = 3 * BLOCK + 7;
    let i = Array1::from_iter((0..n as i32).map(|v| v - 50));
    let mut x = Array1::from(data(n, 12));
    let before = x.clone();
    eval_program_in_place(
        &p,
        "x",
        &Vars::new().with("i", &i),
        (&mut x).into(),
        &opts(),
    )
    .unwrap();
    let mut e = before.clone();
    Zip::from(&mut e).and(&i).for_each(|e, &i| *e += i as f64);
    assert_eq!(x, e);
}

#[test]
fn streaming_stores_every_size_alignment_alias_and_thread_count() {
    // Non-temporal output stores are normally used from 16 MiB on, into existing outputs;
    // force them for every size around the block and the 16-byte store width, outputs starting
    // off a 16-byte boundary (the unaligned head), in place, and with threads. (A new output
    // never streams: its case checks that path stays right under the same options.)
    let p = prog_2a48();
    for threads in [1, 2] {
        let o = ndexpr::vm::RunOptions {
            stream_min: 0,
            ..opts_threads(threads, 0)
        };
        for n in [0, 1, 2, 3, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 7] {
            let a = Array1::from(data(n, 5));
            let want = a.mapv(|x| 2.0 * x + 48.0);
            let r = f64_result(eval_program(&p, &Vars::new().with("a", &a), &o).unwrap());
            assert_eq!(
                r,
                want.clone().into_dyn(),
                "new, n = {n}, {threads} threads"
            );
            for skip in [1, 2, 3] {
                // The output view starts `skip` elements into its buffer: 8, 16, 24 bytes.
                let mut buf = Array1::from_elem(n + skip + 1, -7.0);
                let out = buf.slice_mut(s![skip..skip + n]);
                eval_program_into(&p, &Vars::new().with("a", &a), out.into(), &o).unwrap();
                assert_eq!(buf.slice(s![skip..skip + n]), want, "into +{skip}, n = {n}");
                assert!(
                    buf.slice(s![..skip]).iter().all(|&x| x == -7.0),
                    "head clobbered"
                );
                assert_eq!(buf[n + skip], -7.0, "tail clobbered, n = {n}");
            }
            let mut x = a.clone();
            eval_program_in_place(&p, "a", &Vars::new(), (&mut x).into(), &o).unwrap();
            assert_eq!(x, want, "in place, n = {n}");
        }
        // One-byte elements: heads of every length 0..15.
        let o = ndexpr::vm::RunOptions {
            stream_min: 0,
            threads: Some(threads),
            parallel_work: 0,
            ..Default::default()
        };
        let sig = ndexpr::Signature::new().array("a", DType::U8);
        let e = ndexpr::Expr::compile("a + 200", &sig).unwrap();
        for n in [5, 17, BLOCK + 1, 3 * BLOCK + 7] {
            let a = Array1::from_iter((0..n).map(|i| (i * 7) as u8));
            let want = a.mapv(|x| x.wrapping_add(200));
            for skip in 0..16 {
                let mut buf = Array1::from_elem(n + skip + 1, 9u8);
                let out = buf.slice_mut(s![skip..skip + n]);
                eval_program_into(e.program(), &Vars::new().with("a", &a), out.into(), &o).unwrap();
                assert_eq!(buf.slice(s![skip..skip + n]), want, "u8 +{skip}, n = {n}");
                assert!(buf.slice(s![..skip]).iter().all(|&x| x == 9));
                assert_eq!(buf[n + skip], 9);
            }
        }
    }
}

/// The longest block any kernel was called with, through [`spying`].
static LONGEST: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// `lookup`'s multiply-by-a-scalar kernel, recording the length of each block it is given.
///
/// # Safety
/// As `KernelFn`.
unsafe fn spy_multiply(n: usize, dst: *mut u8, args: &[*const u8; 3]) {
    LONGEST.fetch_max(n, std::sync::atomic::Ordering::SeqCst);
    let real = lookup(Op::Multiply, DType::F64, DType::F64, 2).expect("in the table");
    // SAFETY: forwarded.
    unsafe { real(n, dst, args) }
}

fn spying(op: Op, ty: DType, out: DType, mask: u8) -> Option<ndexpr::kernels::KernelFn> {
    if (op, ty, mask) == (Op::Multiply, DType::F64, 2) {
        return Some(spy_multiply);
    }
    lookup(op, ty, out, mask)
}

#[test]
fn operands_beyond_the_caches_run_in_short_blocks() {
    use ndexpr::vm::{RunOptions, MEMORY_BLOCK, MEMORY_BYTES};
    use std::sync::atomic::Ordering::SeqCst;
    // `2*a+48` reads and writes 16 bytes per element: short blocks from MEMORY_BYTES / 16 on.
    let p = prog_2a48();
    let o = RunOptions {
        lookup: spying,
        threads: Some(1),
        ..opts()
    };
    let longest = |n: usize, o: &RunOptions| {
        let a = Array1::from(data(n, 4));
        LONGEST.store(0, SeqCst);
        let r = f64_result(eval_program(&p, &Vars::new().with("a", &a), o).unwrap());
        assert_eq!(r, a.mapv(|x| 2.0 * x + 48.0).into_dyn(), "n = {n}");
        LONGEST.load(SeqCst)
    };
    let edge = MEMORY_BYTES / 16;
    assert_eq!(longest(edge, &o), BLOCK);
    assert_eq!(longest(edge + 1, &o), MEMORY_BLOCK);
    // An explicit block is kept.
    let fixed = RunOptions {
        block: Some(300),
        ..o
    };
    assert_eq!(longest(4 * edge, &fixed), 300);

    // Every size around the short block, every layout, in place, with threads: values from
    // ndarray's own arithmetic.
    let base = (edge / MEMORY_BLOCK + 3) * MEMORY_BLOCK;
    for threads in [1, 2] {
        let o = opts_threads(threads, 0);
        for n in [base - 1, base, base + 1, base + 77] {
            let a = Array1::from(data(3 * n, 6));
            for view in [a.slice(s![..n]), a.slice(s![..;-3]), a.slice(s![1..;3])] {
                let r = f64_result(eval_program(&p, &Vars::new().with("a", view), &o).unwrap());
                assert_eq!(r, view.mapv(|x| 2.0 * x + 48.0).into_dyn(), "n = {n}");
            }
            let mut x = Array1::from(data(n, 7));
            let want = x.mapv(|v| 2.0 * v + 48.0);
            eval_program_in_place(&p, "a", &Vars::new(), (&mut x).into(), &o).unwrap();
            assert_eq!(x, want, "in place, n = {n}, {threads} threads");
        }
    }
}

/// A one-instruction body over contiguous operands runs over whole row spans (one kernel call
/// per run of blocks in a row, `Job::single_pass`), not block by block: every row length
/// around the block, rows split between threads' claims, broadcast rows and columns, in place,
/// an output with padded rows, and the block-by-block path (a strided input) beside it. The
/// kernel is the tests' own scalar multiply; expected values from ndarray.
#[test]
fn one_instruction_bodies_run_over_row_spans() {
    use Operand::*;
    let f = DType::F64;
    let p = Program {
        inputs: vec![input("a", f), input("b", f)],
        body: vec![instr(Op::Multiply, f, f, 0, &[Input(0), Input(1)])],
        ..prog_abc()
    };
    for cols in [1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 7] {
        for rows in [1, 2, 9] {
            let a = Array2::from_shape_vec((rows, cols), data(rows * cols, 1)).unwrap();
            let b = Array2::from_shape_vec((rows, cols), data(rows * cols, 2)).unwrap();
            let row = Array1::from(data(cols, 3));
            let col = Array2::from_shape_vec((rows, 1), data(rows, 4)).unwrap();
            let wide = Array2::from_shape_vec((rows, 2 * cols), data(2 * rows * cols, 5)).unwrap();
            let strided = wide.slice(s![.., ..;2]);
            let expected = [&a * &b, &a * &row, &a * &col, &a * &strided];
            for threads in [1, 2, 3] {
                let o = opts_threads(threads, 0);
                let bs: [ndexpr::vm::ArrayRef<'_>; 4] = [
                    b.view().into_dyn().into(),
                    row.view().into_dyn().into(),
                    col.view().into_dyn().into(),
                    strided.into_dyn().into(),
                ];
                for (k, bv) in bs.into_iter().enumerate() {
                    let vars = Vars::new().with("a", &a).with("b", bv);
                    let r = f64_result(eval_program(&p, &vars, &o).unwrap());
                    assert_eq!(
                        r,
                        expected[k].clone().into_dyn(),
                        "{rows}x{cols} case {k}, {threads} threads"
                    );
                }
                // Into rows of a wider buffer (each row a span of its own), and in place.
                let mut out = Array2::<f64>::zeros((rows, cols + 3));
                let vars = Vars::new().with("a", &a).with("b", &b);
                eval_program_into(
                    &p,
                    &vars,
                    out.slice_mut(s![.., ..cols]).into_dyn().into(),
                    &o,
                )
                .unwrap();
                assert_eq!(out.slice(s![.., ..cols]), expected[0]);
                assert!(out.slice(s![.., cols..]).iter().all(|&v| v == 0.0));
                let mut x = a.clone();
                let vars = Vars::new().with("b", &b);
                eval_program_in_place(&p, "a", &vars, (&mut x).into(), &o).unwrap();
                assert_eq!(x, expected[0]);
            }
        }
    }
}
