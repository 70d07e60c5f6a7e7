//! Outputs that start anywhere in a cache line: the element loops and the fused-chain kernel
//! first bring their stores to a 64-byte boundary over large outputs (`drive::aligned_loop`,
//! the chain's first partial tile). Every start offset within a line, sizes around the
//! threshold and the block, every instruction-set level, one and two threads, streaming on
//! and off, against the expression computed in plain Rust, bit for bit; the elements around
//! the output view stay untouched.

mod common;

use common::Cube;
use ndarray::{s, Array1};
use ndexpr::kernels::{lookup_for, Isa};
use ndexpr::vm::{eval_program_into, RunOptions};
use ndexpr::{DType, Expr, Signature, Vars};

/// Values with a NaN, an infinity and a zero now and then (a stride through the residues
/// modulo 53, so neighbours differ).
fn values(n: usize, seed: usize) -> Vec<f64> {
    (0..n)
        .map(|i| match (i * 31 + seed) % 53 {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => 0.0,
            r => (r as f64 - 26.0) / 8.0,
        })
        .collect()
}

macro_rules! check {
    ($name:ident, $t:ty, $dtype:expr) => {
        #[test]
        fn $name() {
            #[allow(clippy::type_complexity)]
            let cases: Vec<(&str, fn($t, $t) -> $t)> = vec![
                // One instruction of one, two and three operands (k1, k2, k3 loops).
                ("sqrt(a)", |a, _| a.sqrt()),
                ("a + b", |a, b| a + b),
                ("2*a + 48", |a, _| 2.0 * a + 48.0),
                // Fused chains, one with a kept value and a cube.
                ("2*a + 3*b - a*b", |a, b| 2.0 * a + 3.0 * b - a * b),
                ("a**3 + 4*a**2 - 2*b", |a, b| {
                    a.cube() + 4.0 * (a * a) - 2.0 * b
                }),
            ];
            let sig = Signature::new().array("a", $dtype).array("b", $dtype);
            let lanes = 64 / std::mem::size_of::<$t>();
            let levels: Vec<_> = Isa::ALL.into_iter().filter_map(lookup_for).collect();
            let mut runs = 0;
            for (src, f) in cases {
                let program = Expr::compile(src, &sig).unwrap().program().clone();
                for n in [1023, 1024, 1025, 1090, 5003] {
                    let a: Vec<$t> = values(n, 1).into_iter().map(|x| x as $t).collect();
                    let b: Vec<$t> = values(n, 2).into_iter().map(|x| x as $t).collect();
                    let want: Vec<$t> = a.iter().zip(&b).map(|(&x, &y)| f(x, y)).collect();
                    let (a, b) = (Array1::from(a), Array1::from(b));
                    let vars = Vars::new().with("a", a.view()).with("b", b.view());
                    for offset in 0..lanes {
                        for &lookup in &levels {
                            for (threads, stream_min) in [(1, usize::MAX), (2, 0)] {
                                let sentinel: $t = -1234.5;
                                let mut buf = Array1::from_elem(n + 2 * lanes, sentinel);
                                let opts = RunOptions {
                                    lookup,
                                    threads: Some(threads),
                                    parallel_work: 1,
                                    stream_min,
                                    ..RunOptions::default()
                                };
                                let out = buf.slice_mut(s![offset..offset + n]).into_dyn();
                                eval_program_into(&program, &vars, out.into(), &opts)
                                    .unwrap_or_else(|e| panic!("{src}: {e}"));
                                for (i, &g) in buf.iter().enumerate() {
                                    let w = match i.checked_sub(offset) {
                                        Some(j) if j < n => want[j],
                                        _ => sentinel,
                                    };
                                    assert!(
                                        g.to_bits() == w.to_bits() || g.is_nan() && w.is_nan(),
                                        "{src} n={n} offset={offset} threads={threads}: \
                                         buffer element {i} is {g}, not {w}"
                                    );
                                }
                                runs += 1;
                            }
                        }
                    }
                }
            }
            assert!(runs > 100, "{runs}");
        }
    };
}

check!(float64_outputs_at_every_offset, f64, DType::F64);
check!(float32_outputs_at_every_offset, f32, DType::F32);
