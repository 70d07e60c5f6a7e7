//! Fused chains (`Op::Fused`): expressions the compiler fuses, evaluated at every instruction-set
//! level this CPU has, over every size around the tile and block lengths, every operand form
//! (contiguous, reversed, stepped, broadcast 0-d array, scalar variable) and in place, against
//! the expression computed element by element in plain Rust, bit for bit.

mod common;

use common::Cube;
use ndarray::{s, Array1, ArrayD, IxDyn};
use ndexpr::bytecode::Op;
use ndexpr::kernels::chain::MAX_TILE;
use ndexpr::kernels::{lookup_for, Isa};
use ndexpr::vm::{eval_program, eval_program_in_place, RunOptions, BLOCK};
use ndexpr::{DType, Expr, Scalar, Signature, Vars};

/// `maximum`/`minimum` as NumPy: NaN if either operand is NaN.
fn maximum<T: Copy + PartialOrd>(x: T, y: T) -> T {
    #[allow(clippy::eq_op)]
    let nan = |v: T| v != v;
    if nan(x) {
        x
    } else if nan(y) || y > x {
        y
    } else {
        x
    }
}

fn minimum<T: Copy + PartialOrd>(x: T, y: T) -> T {
    #[allow(clippy::eq_op)]
    let nan = |v: T| v != v;
    if nan(x) {
        x
    } else if nan(y) || y < x {
        y
    } else {
        x
    }
}

/// Expressions over `a`, `b`, `c`, `d` (arrays) and `k` (a scalar), each with its value for one
/// element written out in Rust, for both float dtypes (Rust neither contracts nor reassociates,
/// so the operations round as NumPy's ufuncs do one at a time).
macro_rules! cases {
    ($($src:literal => |$a:ident, $b:ident, $c:ident, $d:ident, $k:ident| $e:expr;)*) => {
        fn cases_f64() -> Vec<(&'static str, fn(f64, f64, f64, f64, f64) -> f64)> {
            vec![$(($src, |$a: f64, $b: f64, $c: f64, $d: f64, $k: f64| { let _ = ($a, $b, $c, $d, $k); $e })),*]
        }
        fn cases_f32() -> Vec<(&'static str, fn(f32, f32, f32, f32, f32) -> f32)> {
            vec![$(($src, |$a: f32, $b: f32, $c: f32, $d: f32, $k: f32| { let _ = ($a, $b, $c, $d, $k); $e })),*]
        }
    };
}

cases! {
    // A scalar first operand, a product added on either side, a subtraction.
    "2*a + 3*b - c" => |a, b, c, d, k| 2.0 * a + 3.0 * b - c;
    "sqrt(a**2 + b**2)" => |a, b, c, d, k| (a * a + b * b).sqrt();
    "c / (-abs(a - b))" => |a, b, c, d, k| c / -(a - b).abs();
    "(a - b*c) * (d - 1)" => |a, b, c, d, k| (a - b * c) * (d - 1.0);
    "d - (a*b - c) / 3" => |a, b, c, d, k| d - (a * b - c) / 3.0;
    "1 - (a*b - c)" => |a, b, c, d, k| 1.0 - (a * b - c);
    "maximum(a*b, c) * 2 - minimum(d, a + 1)" =>
        |a, b, c, d, k| maximum(a * b, c) * 2.0 - minimum(d, a + 1.0);
    // Every comparison of a select, then more links after it.
    "where(a > b, a, c) * 2 - d" => |a, b, c, d, k| (if a > b { a } else { c }) * 2.0 - d;
    "where(a < b, c, d) + a" => |a, b, c, d, k| (if a < b { c } else { d }) + a;
    "where(a <= b, c, 1.5) - a" => |a, b, c, d, k| (if a <= b { c } else { 1.5 }) - a;
    "where(a >= b, 1.5, d) / b" => |a, b, c, d, k| (if a >= b { 1.5 } else { d }) / b;
    "where(a == b, c, d)" => |a, b, c, d, k| if a == b { c } else { d };
    "where(a != b, c, d)" => |a, b, c, d, k| if a != b { c } else { d };
    // The operands compared are also the ones picked (read once by the kernel).
    "where(a > b, a, b)" => |a, b, c, d, k| if a > b { a } else { b };
    "where(a < b, b, a) - c" => |a, b, c, d, k| (if a < b { b } else { a }) - c;
    "where(a >= k, k, a) * b" => |a, b, c, d, k| (if a >= k { k } else { a }) * b;
    "where(a == b, a, a) + b" => |a, b, c, d, k| [a, a][(a == b) as usize] + b;
    // A scalar variable, and the eight-operand limit.
    "k*a + b - k" => |a, b, c, d, k| k * a + b - k;
    "a + b*2 + c*3 + d*4 + a*b + c*d - k + 0.5" =>
        |a, b, c, d, k| a + b * 2.0 + c * 3.0 + d * 4.0 + a * b + c * d - k + 0.5;
    // Two computed operands: the first kept aside while the second is computed (every
    // operation that merges them), and cubes, in range and not (zeros, infinities, NaN, and
    // float64 results beyond 2^995 or below 2^-960 take C's pow).
    "a**3 + 4*a**2 - 2*a + b" => |a, b, c, d, k| a.cube() + 4.0 * (a * a) - 2.0 * a + b;
    "(a + 1) * (b - c)" => |a, b, c, d, k| (a + 1.0) * (b - c);
    "(a - b) / (c + d) - (a*2 + k)" => |a, b, c, d, k| (a - b) / (c + d) - (a * 2.0 + k);
    "maximum(a*2, b + c) + minimum(sqrt(abs(d)), b - k)" =>
        |a, b, c, d, k| maximum(a * 2.0, b + c) + minimum((d.abs()).sqrt(), b - k);
    "((a*1e-35)**3)**3 + b" => |a, b, c, d, k| (a * 1e-35).cube().cube() + b;
    "((a*1e35)**3)**3 - where(b > c, b, d)" =>
        |a, b, c, d, k| (a * 1e35).cube().cube() - if b > c { b } else { d };
    // Squares and square roots along one value.
    "sqrt(abs(a*a - b)) * a - sqrt(c*c)" => |a, b, c, d, k| (a * a - b).abs().sqrt() * a - (c * c).sqrt();
}

/// Small values that compare equal often, with a NaN and infinities now and then.
fn values(n: usize, seed: u64) -> Vec<f64> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            match x % 41 {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => -f64::INFINITY,
                r => (r as f64 - 20.0) / 4.0,
            }
        })
        .collect()
}

fn levels() -> Vec<(Isa, RunOptions)> {
    Isa::ALL
        .into_iter()
        .filter_map(|l| {
            lookup_for(l).map(|lookup| {
                (
                    l,
                    RunOptions {
                        lookup,
                        ..RunOptions::default()
                    },
                )
            })
        })
        .collect()
}

fn same_bits<T: Copy + PartialEq>(got: &[T], want: &[T]) -> Option<usize> {
    #[allow(clippy::eq_op)]
    let nan = |v: T| v != v;
    got.iter()
        .zip(want)
        .position(|(&g, &w)| !(g == w || (nan(g) && nan(w))))
}

/// The layouts of one operand: its values and how it is passed.
#[derive(Clone, Copy, Debug)]
enum Form {
    Contiguous,
    Reversed,
    Stepped,
    /// A 0-d array, broadcast over the others.
    Broadcast,
}

macro_rules! check_dtype {
    ($name:ident, $t:ty, $cases:ident, $dtype:expr, $scalar:path) => {
        #[test]
        fn $name() {
            // Around every level's tile (4 vectors: 8 to 64 elements) and block.
            let tile = MAX_TILE;
            let sizes = [
                0,
                1,
                2,
                7,
                9,
                15,
                16,
                17,
                31,
                32,
                33,
                tile - 1,
                tile,
                tile + 1,
                3 * tile + 5,
                BLOCK - 1,
                BLOCK,
                BLOCK + 1,
                2 * BLOCK + tile + 3,
                70_001,
            ];
            let forms = [
                [Form::Contiguous; 4],
                [Form::Reversed, Form::Stepped, Form::Contiguous, Form::Reversed],
                [Form::Stepped, Form::Broadcast, Form::Reversed, Form::Contiguous],
                [Form::Broadcast, Form::Contiguous, Form::Broadcast, Form::Stepped],
            ];
            let k: $t = 0.75;
            let mut runs = 0;
            for (src, f) in $cases() {
                let sig = ["a", "b", "c", "d"]
                    .iter()
                    .fold(Signature::new(), |s, n| s.array(n, $dtype))
                    .scalar("k", $dtype);
                let expr = Expr::compile(src, &sig).unwrap_or_else(|e| panic!("{src}: {e}"));
                let program = expr.program();
                assert!(
                    program.body.iter().any(|i| i.op == Op::Fused),
                    "{src} is not fused:\n{}",
                    expr.disassemble()
                );
                for &n in &sizes {
                    for (fi, form) in forms.iter().enumerate() {
                        // Backing arrays three times as long, so that steps of 3 fit.
                        let backing: Vec<Array1<$t>> = (0..4)
                            .map(|v| {
                                Array1::from_iter(
                                    values(3 * n.max(1), (n * 4 + v) as u64 + 1)
                                        .into_iter()
                                        .map(|x| x as $t),
                                )
                            })
                            .collect();
                        let zero_d: Vec<ArrayD<$t>> = backing
                            .iter()
                            .map(|b| ArrayD::from_elem(IxDyn(&[]), b[0]))
                            .collect();
                        let views: Vec<ndarray::ArrayViewD<$t>> = (0..4)
                            .map(|v| match form[v] {
                                Form::Contiguous => backing[v].slice(s![..n]).into_dyn(),
                                Form::Reversed => backing[v].slice(s![..n;-1]).into_dyn(),
                                Form::Stepped => backing[v].slice(s![..3 * n;3]).into_dyn(),
                                Form::Broadcast => zero_d[v].view(),
                            })
                            .collect();
                        let at = |v: usize, i: usize| -> $t {
                            match form[v] {
                                Form::Broadcast => zero_d[v][IxDyn(&[])],
                                _ => views[v][IxDyn(&[i])],
                            }
                        };
                        let want: Vec<$t> = (0..n)
                            .map(|i| f(at(0, i), at(1, i), at(2, i), at(3, i), k))
                            .collect();
                        let vars = ["a", "b", "c", "d"]
                            .iter()
                            .zip(&views)
                            .fold(Vars::new(), |vs, (name, v)| vs.with(name, v.view()))
                            .with("k", $scalar(k));
                        let all_broadcast = form.iter().all(|f| matches!(f, Form::Broadcast));
                        for (level, opts) in levels() {
                            for threads in [1, 2] {
                                let opts = RunOptions {
                                    threads: Some(threads),
                                    parallel_work: 1,
                                    ..opts
                                };
                                let got = eval_program(program, &vars, &opts)
                                    .unwrap_or_else(|e| panic!("{src}: {e}"))
                                    .into_array::<$t>()
                                    .expect("the dtype");
                                let want_shape: &[usize] = if all_broadcast { &[] } else { &[n] };
                                assert_eq!(got.shape(), want_shape, "{src} n={n}");
                                let got: Vec<$t> = got.iter().copied().collect();
                                let want = if all_broadcast { &want[..1.min(n)] } else { &want[..] };
                                if let Some(i) = same_bits(&got[..want.len()], want) {
                                    panic!(
                                        "{src} ({}) n={n} forms #{fi} {:?} threads={threads}: \
                                         element {i} is {} not {}",
                                        level.name(),
                                        form,
                                        got[i],
                                        want[i]
                                    );
                                }
                                runs += 1;
                            }
                        }
                        // In place: `a` is the output (exact alias of an operand).
                        if matches!(form[0], Form::Contiguous) {
                            let mut a = backing[0].slice(s![..n]).to_owned().into_dyn();
                            let vars = ["b", "c", "d"]
                                .iter()
                                .zip(&views[1..])
                                .fold(Vars::new(), |vs, (name, v)| vs.with(name, v.view()))
                                .with("k", $scalar(k));
                            eval_program_in_place(
                                program,
                                "a",
                                &vars,
                                (&mut a).into(),
                                &RunOptions::default(),
                            )
                            .unwrap_or_else(|e| panic!("{src} in place: {e}"));
                            let got: Vec<$t> = a.iter().copied().collect();
                            if !all_broadcast {
                                if let Some(i) = same_bits(&got, &want) {
                                    panic!("{src} in place n={n}: element {i} is {} not {}", got[i], want[i]);
                                }
                            }
                        }
                    }
                }
            }
            assert!(runs > 1000, "{runs}");
        }
    };
}

check_dtype!(
    float64_chains_match_the_operations_one_by_one,
    f64,
    cases_f64,
    DType::F64,
    Scalar::F64
);
check_dtype!(
    float32_chains_match_the_operations_one_by_one,
    f32,
    cases_f32,
    DType::F32,
    Scalar::F32
);
