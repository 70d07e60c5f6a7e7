//! ndexpr beside the naive one-temporary-per-operation evaluation and a plain copy of the same
//! bytes, for the seed's cases and the core expressions, contiguous and strided, at 1e3, 2.4e5
//! and 1e7 elements; and the compute-bound expressions on one thread beside a scalar loop
//! calling Rust's `std` functions (group `math`). `cargo bench --bench eval`; compare runs with
//! `--save-baseline`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ndarray::{ArrayD, IxDyn, Slice};
use ndexpr::vm::{self, RunOptions};
use ndexpr::{Expr, Vars};
use std::hint::black_box;

fn data(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            0.5 + (s >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

const EXPRS: &[(&str, &[&str])] = &[
    ("2*a+48", &["a"]),
    ("a*b+c", &["a", "b", "c"]),
    ("sin(a)**2+cos(b)**2", &["a", "b"]),
    ("where(a>b,a,b)", &["a", "b"]),
];

fn bench_case(
    c: &mut Criterion,
    group: &str,
    src: &str,
    names: &[&str],
    shape: &[usize],
    step: usize,
) {
    let n: usize = shape.iter().product();
    let mut wide_shape = shape.to_vec();
    *wide_shape.last_mut().unwrap() *= step;
    let arrays: Vec<ArrayD<f64>> = (0..names.len())
        .map(|i| ArrayD::from_shape_vec(IxDyn(&wide_shape), data(n * step, i as u64 + 1)).unwrap())
        .collect();
    let last = shape.len() - 1;
    let mut vars = Vars::new();
    for (name, a) in names.iter().zip(&arrays) {
        vars = vars.with(
            name,
            a.slice_each_axis(|ax| {
                if ax.axis.index() == last {
                    Slice::new(0, None, step as isize)
                } else {
                    Slice::from(..)
                }
            }),
        );
    }
    let expr = Expr::compile(src, &vars.signature()).unwrap();
    let mut out = ArrayD::<f64>::zeros(IxDyn(shape));
    let naive = RunOptions {
        block: Some(n),
        threads: Some(1),
        ..RunOptions::default()
    };
    let bytes = n * 8 * (names.len() + 1);
    let (src_bytes, mut dst_bytes) = (vec![1u8; bytes / 2], vec![0u8; bytes / 2]);
    let mut g = c.benchmark_group(format!("{group}/{src}"));
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function(BenchmarkId::new("ndexpr_into", n), |b| {
        b.iter(|| expr.eval_into(&vars, &mut out).unwrap())
    });
    g.bench_function(BenchmarkId::new("ndexpr_new", n), |b| {
        b.iter(|| black_box(expr.eval(&vars).unwrap()))
    });
    g.bench_function(BenchmarkId::new("naive", n), |b| {
        b.iter(|| black_box(vm::eval_program(expr.program(), &vars, &naive).unwrap()))
    });
    g.bench_function(BenchmarkId::new("copy", n), |b| {
        b.iter(|| dst_bytes.copy_from_slice(black_box(&src_bytes)))
    });
    g.finish();
}

/// A compute-bound expression, and the same computation as a scalar loop over `std` functions
/// (`x**2` is `x*x`, as NumPy's).
macro_rules! math_cases {
    ($t:ty) => {
        [
            (
                "sin(a)**2+cos(b)**2",
                (|a: $t, b: $t| {
                    let (s, c) = (a.sin(), b.cos());
                    s * s + c * c
                }) as fn($t, $t) -> $t,
            ),
            ("exp(-a)*log1p(b)", |a: $t, b: $t| (-a).exp() * b.ln_1p()),
            ("arctan2(a,b)", |a: $t, b: $t| a.atan2(b)),
            ("tanh(a)", |a: $t, _b: $t| a.tanh()),
        ]
    };
}

/// ndexpr on one thread against a scalar `std` loop, per element (issue 4: at least 4x).
macro_rules! bench_math {
    ($c:expr, $t:ty, $name:literal) => {
        let n = 240_000;
        let a: Vec<$t> = data(n, 1).iter().map(|&v| (v * 4.0 - 3.0) as $t).collect();
        let b: Vec<$t> = data(n, 2).iter().map(|&v| v as $t).collect();
        let vars = Vars::new()
            .with("a", ndarray::ArrayView1::from(&a[..]))
            .with("b", ndarray::ArrayView1::from(&b[..]));
        let one = RunOptions {
            threads: Some(1),
            ..RunOptions::default()
        };
        for (src, scalar) in math_cases!($t) {
            let expr = Expr::compile(src, &vars.signature()).unwrap();
            let mut out = vec![0 as $t; n];
            let mut g = $c.benchmark_group(format!("math/{}/{src}", $name));
            g.throughput(Throughput::Elements(n as u64));
            g.bench_function(BenchmarkId::new("ndexpr_1_thread", n), |bch| {
                bch.iter(|| black_box(vm::eval_program(expr.program(), &vars, &one).unwrap()))
            });
            g.bench_function(BenchmarkId::new("scalar_std", n), |bch| {
                bch.iter(|| {
                    for ((o, &x), &y) in out.iter_mut().zip(&a).zip(&b) {
                        *o = scalar(black_box(x), y);
                    }
                    black_box(&out);
                })
            });
            g.finish();
        }
    };
}

fn benches(c: &mut Criterion) {
    bench_math!(c, f64, "f64");
    bench_math!(c, f32, "f32");
    // The seed's cases: 400×600 contiguous, and the strided view randn(400, 12000)[:, ::20].
    bench_case(c, "seed", "2*nd+48", &["nd"], &[400, 600], 1);
    bench_case(c, "seed_strided", "2*nd+48", &["nd"], &[400, 600], 20);
    for &(src, names) in EXPRS {
        for n in [1_000, 240_000, 10_000_000] {
            bench_case(c, "contiguous", src, names, &[n], 1);
        }
        bench_case(c, "strided", src, names, &[240_000], 3);
    }
}

criterion_group! {
    name = eval;
    config = Criterion::default().sample_size(10);
    targets = benches
}
criterion_main!(eval);
