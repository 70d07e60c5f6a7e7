//! ndexpr beside the naive one-temporary-per-operation evaluation and a plain copy of the same
//! bytes, for the seed's cases and the core expressions, contiguous and strided, at 1e3, 2.4e5
//! and 1e7 elements. `cargo bench --bench eval`; compare runs with `--save-baseline`.

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
        block: n,
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

fn benches(c: &mut Criterion) {
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
