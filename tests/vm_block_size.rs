//! Measurements behind `vm::BLOCK` and `vm::exec::PARALLEL_WORK` (run by hand:
//! `cargo test --release --test vm_block_size -- --ignored --nocapture`).

mod vm_common;

use ndarray::Array1;
use ndexpr::vm::{eval_program, eval_program_into, RunOptions};
use ndexpr::Vars;
use std::time::Instant;
use vm_common::*;

fn best_ns_per_elem(n: usize, reps: usize, mut f: impl FnMut()) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    best * 1e9 / n as f64
}

#[test]
#[ignore]
fn block_size_sweep() {
    let n = 1 << 20;
    let a = Array1::from(data(n, 1));
    let b = Array1::from(data(n, 2));
    let c = Array1::from(data(n, 3));
    let mut out = Array1::<f64>::zeros(n);
    let p1 = prog_2a48();
    let p2 = prog_abc();
    for block in [8192, 4096, 2048, 1024, 512, 256, 128] {
        let o = RunOptions {
            block: Some(block),
            threads: Some(1),
            ..opts()
        };
        let v1 = Vars::new().with("a", &a);
        let t1 = best_ns_per_elem(n, 30, || {
            eval_program_into(&p1, &v1, (&mut out).into(), &o).unwrap()
        });
        let v2 = Vars::new().with("a", &a).with("b", &b).with("c", &c);
        let t2 = best_ns_per_elem(n, 30, || {
            eval_program_into(&p2, &v2, (&mut out).into(), &o).unwrap()
        });
        // Strided input (gathered every block).
        let big = Array1::from(data(2 * n, 4));
        let s = big.slice(ndarray::s![..;2]);
        let v3 = Vars::new().with("a", s).with("b", &b).with("c", &c);
        let t3 = best_ns_per_elem(n, 30, || {
            eval_program_into(&p2, &v3, (&mut out).into(), &o).unwrap()
        });
        println!("B={block:5}: 2*a+48 {t1:.3} ns/elem, a*b+c {t2:.3}, a[::2]*b+c {t3:.3}");
    }
}

#[test]
#[ignore]
fn threading_threshold() {
    let p = prog_2a48();
    for n in [4096, 16384, 32768, 65536, 131072, 262144, 1 << 20] {
        let a = Array1::from(data(n, 1));
        let v = Vars::new().with("a", &a);
        let mut row = format!("n={n:8}:");
        for threads in [1, 2] {
            let o = opts_threads(threads, 0);
            let t = best_ns_per_elem(n, 200, || {
                eval_program(&p, &v, &o).unwrap();
            });
            row += &format!(" {threads} threads {:.1} us", t * n as f64 / 1e3);
        }
        println!("{row}");
    }
    let _ = RunOptions::default();
}

#[test]
#[ignore]
fn small_call_overhead() {
    let p = prog_abc();
    let a = Array1::from(data(10, 1));
    let v = Vars::new().with("a", &a).with("b", &a).with("c", &a);
    let o = opts();
    let t = best_ns_per_elem(1, 20, || {
        for _ in 0..1000 {
            eval_program(&p, &v, &o).unwrap();
        }
    });
    println!("10-element a*b+c: {:.2} us per call", t / 1000.0 / 1000.0);
}
