//! The seed notebook's cases, by name: a strided `2*nd_2 + 48`, `x = x*2` in place, and
//! evaluation into a preallocated output. Expected values are computed here with ndarray.

use ndarray::{s, Array2};
use ndexpr::{evaluate, DType, Expr, Signature, Vars};

/// Deterministic pseudo-normal data (sum of uniforms), like `randn`.
fn randn(rows: usize, cols: usize) -> Array2<f64> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    Array2::from_shape_simple_fn((rows, cols), || {
        let mut u = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        (0..12).map(|_| u()).sum::<f64>() - 6.0
    })
}

#[test]
fn strided_2_nd_2_plus_48() {
    let wide = randn(400, 12000);
    let nd_2 = wide.slice(s![.., ..;20]);
    let got = evaluate("2*nd_2 + 48", &Vars::new().with("nd_2", nd_2)).unwrap();
    assert_eq!(got.shape(), &[400, 600]);
    let want = nd_2.mapv(|x| 2.0 * x + 48.0);
    assert_eq!(got.as_view::<f64>().unwrap(), want.into_dyn().view());
}

#[test]
fn x_times_2_into_x_itself() {
    let mut x = randn(400, 600);
    let want = x.mapv(|v| v * 2.0);
    let ptr = x.as_ptr();
    let expr = Expr::compile("x*2", &Signature::new().array("x", DType::F64)).unwrap();
    expr.eval_in_place("x", &Vars::new(), &mut x).unwrap();
    assert_eq!(x, want);
    assert_eq!(x.as_ptr(), ptr, "no reallocation");
}

#[test]
fn eval_into_a_preallocated_output() {
    let nd_1 = randn(400, 600);
    let mut out = Array2::<f64>::zeros((400, 600));
    let expr = Expr::compile("2*nd_1 + 48", &Signature::new().array("nd_1", DType::F64)).unwrap();
    for _ in 0..3 {
        expr.eval_into(&Vars::new().with("nd_1", &nd_1), &mut out)
            .unwrap();
    }
    assert_eq!(out, nd_1.mapv(|x| 2.0 * x + 48.0));
}
