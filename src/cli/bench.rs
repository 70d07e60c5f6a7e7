//! `bench`: times one expression (or a suite) five ways in one interleaved run — ndexpr fused
//! and blocked, the same operations one at a time (fused multiply-adds split again) with
//! full-size temporaries (what NumPy does), ndexpr into a preallocated output (`out=`), a
//! plain memory copy of as many bytes as the expression reads and writes, and the floor: a
//! read-only pass over the arrays each reduction pass reads, plus a copy of the bytes the
//! elementwise pass reads and writes (for expressions without reductions, the copy again).

use clap::Args;
use ndarray::{ArrayD, IxDyn, ShapeBuilder, Slice};
use ndexpr::vm::{self, RunOptions};
use ndexpr::{Array, ArrayMut, DType, Expr, Vars};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Args)]
pub struct BenchArgs {
    /// The expression (default `2*a+48`).
    pub expr: Option<String>,
    /// Number of elements of each input (default 10^7).
    #[arg(long)]
    pub size: Option<usize>,
    /// Shape, e.g. 400x600 (overrides --size).
    #[arg(long)]
    pub shape: Option<String>,
    /// Element type of every input: any dtype (bool, i8 ... i64, u8 ... u64, f16, f32, f64, c64,
    /// c128; NumPy names too). Default f64; the suite runs f64 and f32 unless this is given.
    #[arg(long)]
    pub dtype: Option<String>,
    /// Each input is a view taking every K-th element along the last axis of a K-times wider array.
    #[arg(long, default_value_t = 1)]
    pub step: usize,
    /// Threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Timed rounds per path.
    #[arg(long, default_value_t = 11)]
    pub repeat: usize,
    /// One JSON object per expression instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Run the built-in suite.
    #[arg(long)]
    pub suite: bool,
    /// Inputs in Fortran order (first axis fastest) instead of C order.
    #[arg(long)]
    pub fortran: bool,
}

/// The seed notebook's case, `2*nd_2 + 48` over a 400x600 view, contiguous (step 1) and
/// strided (every 20th column of a 400x12000 array), run by the suite beside [`SUITE`].
const SEED: &str = "2*nd_2 + 48";
const SEED_SHAPE: [usize; 2] = [400, 600];
const SEED_STEPS: [usize; 2] = [1, 20];

const SUITE: &[&str] = &[
    "2*a+48",
    "a*b+c",
    "2*a+3*b-c",
    "sin(a)**2+cos(b)**2",
    "exp(-a)*log1p(b)",
    "where(a>b,a,b)",
    "sqrt(a**2+b**2)",
    "a**3+4*a**2-2*a+1",
    "arctan2(a,b)",
    "tanh(a)",
    "sum(a*b)",
    "a - mean(a)",
];

struct Report {
    expr: String,
    dtype: DType,
    shape: Vec<usize>,
    step: usize,
    threads: usize,
    ndexpr: Vec<f64>,
    naive: Vec<f64>,
    inplace: Vec<f64>,
    copy: Vec<f64>,
    floor: Vec<f64>,
    fortran: bool,
    ndexpr_temp: usize,
    naive_temp: usize,
    /// Bytes the expression reads and writes (logical elements, not cache lines).
    bytes: usize,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

/// Seeded data in [0.5, 1.5): positive, so that log, sqrt and friends stay on their fast paths.
fn random(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            // splitmix64
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            0.5 + (z >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

/// An input of `dtype` with the values of `x` (from [`random`], in [0.5, 1.5)) mapped to data
/// that suits the dtype: floats as they are (positive, so log and sqrt stay finite), integers
/// in 1..=8 (so `2*a+48` and friends stay far from overflow even for int8), booleans about half
/// true, complex numbers with an imaginary part from a second stream.
fn input(dtype: DType, shape: &[usize], fortran: bool, x: &[f64], y: &[f64]) -> Array {
    let shape = IxDyn(shape).set_f(fortran);
    let int = |v: f64| ((v - 0.5) * 8.0) as i64 + 1;
    macro_rules! build {
        ($variant:ident, $f:expr) => {
            Array::$variant(
                ArrayD::from_shape_vec(shape, x.iter().zip(y).map($f).collect())
                    .expect("shape matches data"),
            )
        };
    }
    match dtype {
        DType::Bool => build!(Bool, |(&v, _)| v >= 1.0),
        DType::I8 => build!(I8, |(&v, _)| int(v) as i8),
        DType::I16 => build!(I16, |(&v, _)| int(v) as i16),
        DType::I32 => build!(I32, |(&v, _)| int(v) as i32),
        DType::I64 => build!(I64, |(&v, _)| int(v)),
        DType::U8 => build!(U8, |(&v, _)| int(v) as u8),
        DType::U16 => build!(U16, |(&v, _)| int(v) as u16),
        DType::U32 => build!(U32, |(&v, _)| int(v) as u32),
        DType::U64 => build!(U64, |(&v, _)| int(v) as u64),
        DType::F16 => build!(F16, |(&v, _)| half::f16::from_f64(v)),
        DType::F32 => build!(F32, |(&v, _)| v as f32),
        DType::F64 => build!(F64, |(&v, _)| v),
        DType::C64 => build!(C64, |(&v, &w)| num_complex::Complex32::new(
            v as f32, w as f32
        )),
        DType::C128 => build!(C128, |(&v, &w)| num_complex::Complex64::new(v, w)),
    }
}

/// Reads every byte of `arrays` once, each array split over `threads` threads (the calling
/// thread takes the first share) with an xor-fold of 64-bit words, which the compiler
/// vectorises: the floor of a reduction, which only reads.
fn parallel_read(arrays: &[&[u8]], threads: usize) -> u64 {
    fn fold(bytes: &[u8]) -> u64 {
        let mut acc = [0u64; 8];
        let mut lines = bytes.chunks_exact(64);
        for line in &mut lines {
            for (a, w) in acc.iter_mut().zip(line.chunks_exact(8)) {
                *a ^= u64::from_ne_bytes(w.try_into().expect("8 bytes"));
            }
        }
        let tail = lines.remainder().iter().fold(0u64, |h, &b| h ^ b as u64);
        acc.iter().fold(tail, |h, &a| h ^ a)
    }
    let threads = threads.max(1);
    // Share t of every array: the t-th of `threads` equal parts (whole cache lines).
    let share = |t: usize| {
        arrays.iter().fold(0u64, |h, bytes| {
            let part = bytes.len().div_ceil(threads).next_multiple_of(64);
            let lo = (t * part).min(bytes.len());
            let hi = ((t + 1) * part).min(bytes.len());
            h ^ fold(std::hint::black_box(&bytes[lo..hi]))
        })
    };
    std::thread::scope(|s| {
        let others: Vec<_> = (1..threads).map(|t| s.spawn(move || share(t))).collect();
        others
            .into_iter()
            .fold(share(0), |h, p| h ^ p.join().expect("no panic"))
    })
}

/// The array variables each reduction pass of `program` reads, once per pass (a variable read
/// by two passes is listed twice).
fn reduction_reads(program: &ndexpr::bytecode::Program, names: &mut Vec<String>) {
    for sub in &program.reductions {
        reduction_reads(&sub.program, names);
    }
    if program.reduce.is_some() {
        names.extend(program.inputs.iter().map(|i| i.name.clone()));
    }
}

/// Copies `bytes` bytes split over `threads` threads: the memory-bandwidth floor.
fn parallel_copy(src: &[u8], dst: &mut [u8], threads: usize) {
    let chunk = src.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        for (d, c) in dst.chunks_mut(chunk).zip(src.chunks(chunk)) {
            s.spawn(move || d.copy_from_slice(c));
        }
    });
}

fn variables(expr: &str) -> Result<Vec<String>, String> {
    let ast = ndexpr::syntax::parse(expr).map_err(|e| e.to_string())?;
    let mut names = Vec::new();
    super::inspect::names(&ast, &mut names);
    Ok(names)
}

/// One case of the bench: an expression over inputs of one dtype, shape and step.
struct Case {
    expr: String,
    dtype: DType,
    shape: Vec<usize>,
    step: usize,
}

fn run_one(case: &Case, args: &BenchArgs) -> Result<Report, String> {
    let (expr_src, dtype, shape) = (case.expr.as_str(), case.dtype, case.shape.as_slice());
    let threads = args.threads.unwrap_or_else(vm::num_threads).max(1);
    vm::set_num_threads(threads);
    let names = variables(expr_src)?;
    let n: usize = shape.iter().product();
    let step = case.step.max(1);
    // Each input: a K-times wider array, viewed with a step of K along the last axis.
    let mut wide_shape = shape.to_vec();
    if let Some(last) = wide_shape.last_mut() {
        *last *= step;
    }
    let wide: Vec<Array> = (0..names.len())
        .map(|i| {
            let x = random(n * step, i as u64 + 1);
            let y = if dtype.is_complex() {
                random(n * step, i as u64 + 101)
            } else {
                vec![0.0; n * step]
            };
            input(dtype, &wide_shape, args.fortran, &x, &y)
        })
        .collect();
    let last_axis = shape.len().saturating_sub(1);
    let slice = |ax: ndarray::AxisDescription| {
        if ax.axis.index() == last_axis {
            Slice::new(0, None, step as isize)
        } else {
            Slice::from(..)
        }
    };
    let mut vars = Vars::new();
    for (name, a) in names.iter().zip(&wide) {
        vars = ndexpr::dispatch!(a, Array, v => vars.with(name, v.slice_each_axis(slice)));
    }
    let expr = Expr::compile(expr_src, &vars.signature()).map_err(|e| e.to_string())?;
    let program = expr.program();
    let out_size = program.result_dtype.size();
    let out_len: usize = match &program.reduce {
        None => n,
        Some(_) => expr
            .eval(&vars)
            .map_err(|e| e.to_string())?
            .shape()
            .iter()
            .product(),
    };
    let bytes = n * names.len() * dtype.size() + out_len * out_size;
    // The floor: a read of what the reduction passes read, plus a copy of what the elementwise
    // pass (if any) reads and writes.
    let mut read_names = Vec::new();
    reduction_reads(program, &mut read_names);
    let read_arrays: Vec<&[u8]> = read_names
        .iter()
        .map(|name| {
            let i = names.iter().position(|n| n == name).expect("a variable");
            ndexpr::dispatch!(&wide[i], Array, a => {
                let s = a.as_slice_memory_order().expect("contiguous");
                // SAFETY: plain numeric data, viewed as its bytes.
                unsafe {
                    std::slice::from_raw_parts(s.as_ptr().cast::<u8>(), std::mem::size_of_val(s))
                }
            })
        })
        .collect();
    let floor_copy_len = match &program.reduce {
        Some(_) => 0,
        None => n * (program.inputs.len() * dtype.size() + out_size) / 2,
    };
    let reg_bytes = program.registers.len() * program.max_register_size();
    // The naive baseline runs NumPy's operations: fused multiply-adds split again.
    let naive_program = program.unfused();
    let naive_reg_bytes = naive_program.registers.len() * naive_program.max_register_size();
    let naive_opts = RunOptions {
        block: Some(n.max(1)),
        threads: Some(1),
        ..RunOptions::default()
    };

    let mut out = expr.eval(&vars).map_err(|e| e.to_string())?;
    let copy_len = bytes / 2;
    let src = vec![1u8; copy_len];
    let mut dst = vec![0u8; copy_len];
    parallel_copy(&src, &mut dst, threads); // fault the pages in once
    let floor_src = vec![1u8; floor_copy_len];
    let mut floor_dst = vec![0u8; floor_copy_len];
    parallel_copy(&floor_src, &mut floor_dst, threads);

    let mut r = Report {
        expr: expr_src.to_string(),
        dtype,
        shape: shape.to_vec(),
        step,
        threads,
        ndexpr: vec![],
        naive: vec![],
        inplace: vec![],
        copy: vec![],
        floor: vec![],
        fortran: args.fortran,
        ndexpr_temp: reg_bytes * vm::BLOCK * threads,
        naive_temp: naive_reg_bytes * n,
        bytes,
    };
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    for _ in 0..args.repeat.max(1) {
        let t = Instant::now();
        let fresh = expr.eval(&vars).map_err(|e| e.to_string())?;
        r.ndexpr.push(ms(t));
        drop(fresh);
        let t = Instant::now();
        let naive =
            vm::eval_program(&naive_program, &vars, &naive_opts).map_err(|e| e.to_string())?;
        r.naive.push(ms(t));
        drop(naive);
        let t = Instant::now();
        let target: ArrayMut = ndexpr::dispatch!(&mut out, Array, a => a.view_mut().into());
        expr.eval_into(&vars, target).map_err(|e| e.to_string())?;
        r.inplace.push(ms(t));
        let t = Instant::now();
        parallel_copy(&src, &mut dst, threads);
        r.copy.push(ms(t));
        let t = Instant::now();
        std::hint::black_box(parallel_read(&read_arrays, threads));
        if floor_copy_len > 0 {
            parallel_copy(&floor_src, &mut floor_dst, threads);
        }
        r.floor.push(ms(t));
    }
    Ok(r)
}

fn json(r: &Report) -> String {
    let (nd, nv, ip, cp, fl) = (
        median(&r.ndexpr),
        median(&r.naive),
        median(&r.inplace),
        median(&r.copy),
        median(&r.floor),
    );
    let shape: Vec<String> = r.shape.iter().map(|d| d.to_string()).collect();
    format!(
        "{{\"expr\": {:?}, \"dtype\": \"{}\", \"shape\": [{}], \"order\": \"{}\", \"step\": {}, \"threads\": {}, \"isa\": \"{}\", \
         \"ndexpr_ms\": {nd:.4}, \"naive_ms\": {nv:.4}, \"inplace_ms\": {ip:.4}, \"copy_ms\": {cp:.4}, \"floor_ms\": {fl:.4}, \
         \"speedup_vs_naive\": {:.3}, \"fraction_of_copy\": {:.3}, \"inplace_over_floor\": {:.3}, \"ndexpr_temp_bytes\": {}, \"naive_temp_bytes\": {}}}",
        r.expr,
        r.dtype.short_name(),
        shape.join(", "),
        if r.fortran { "F" } else { "C" },
        r.step,
        r.threads,
        ndexpr::kernels::isa(),
        nv / nd,
        cp / nd,
        ip / fl,
        r.ndexpr_temp,
        r.naive_temp
    )
}

fn table(reports: &[Report]) {
    outln!(
        "{:<22} {:>6} {:>12} {:>5} {:>10} {:>10} {:>7} {:>10} {:>10} {:>8} {:>9} {:>9} {:>8} {:>9} {:>12} {:>12}",
        "expression",
        "dtype",
        "shape",
        "step",
        "ndexpr ms",
        "min ms",
        "GB/s",
        "naive ms",
        "inplace",
        "copy ms",
        "x naive",
        "of copy",
        "floor ms",
        "inp/floor",
        "ndexpr temp",
        "naive temp"
    );
    for r in reports {
        let (nd, nv, ip, cp, fl) = (
            median(&r.ndexpr),
            median(&r.naive),
            median(&r.inplace),
            median(&r.copy),
            median(&r.floor),
        );
        let shape: Vec<String> = r.shape.iter().map(|d| d.to_string()).collect();
        outln!(
            "{:<22} {:>6} {:>12} {:>5} {:>10.3} {:>10.3} {:>7.1} {:>10.3} {:>10.3} {:>8.3} {:>8.2}x {:>8.0}% {:>8.3} {:>8.2}x {:>12} {:>12}",
            r.expr,
            r.dtype.short_name(),
            shape.join("x") + if r.fortran { " F" } else { "" },
            r.step,
            nd,
            min(&r.ndexpr),
            r.bytes as f64 / (nd * 1e6),
            nv,
            ip,
            cp,
            nv / nd,
            100.0 * cp / nd,
            fl,
            ip / fl,
            human(r.ndexpr_temp),
            human(r.naive_temp)
        );
    }
    outln!(
        "medians of interleaved rounds; {} threads; kernels: {} (run-time dispatch; NDEXPR_ISA overrides)",
        reports.first().map_or(0, |r| r.threads),
        ndexpr::kernels::isa()
    );
    outln!("naive = the same operations one at a time (fused multiply-adds split) with full-size temporaries, one thread (as NumPy)");
    outln!("floor = a parallel read of the arrays each reduction pass reads, plus a parallel copy of the bytes the elementwise pass reads and writes (no reduction: the copy)");
}

fn human(b: usize) -> String {
    match b {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

pub fn bench(args: &BenchArgs) -> ExitCode {
    let shape: Vec<usize> = match &args.shape {
        Some(s) => match s
            .split('x')
            .map(|d| d.trim().parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(v) => v,
            Err(_) => {
                eprintln!("error: --shape takes dimensions like 400x600");
                return ExitCode::from(2);
            }
        },
        None => vec![args.size.unwrap_or(10_000_000)],
    };
    let dtypes: Vec<DType> = match &args.dtype {
        Some(name) => match DType::from_name(name) {
            Some(d) => vec![d],
            None => {
                eprintln!(
                    "error: unknown dtype `{name}` (bool, i8, i16, i32, i64, u8, u16, u32, u64, \
                     f16, f32, f64, c64, c128)"
                );
                return ExitCode::from(2);
            }
        },
        None if args.suite => vec![DType::F64, DType::F32],
        None => vec![DType::F64],
    };
    let mut cases = Vec::new();
    for &dtype in &dtypes {
        if args.suite {
            for step in SEED_STEPS {
                cases.push(Case {
                    expr: SEED.into(),
                    dtype,
                    shape: SEED_SHAPE.to_vec(),
                    step,
                });
            }
        }
        let exprs: Vec<String> = if args.suite {
            SUITE.iter().map(|s| s.to_string()).collect()
        } else {
            vec![args.expr.clone().unwrap_or_else(|| "2*a+48".into())]
        };
        for expr in exprs {
            cases.push(Case {
                expr,
                dtype,
                shape: shape.clone(),
                step: args.step,
            });
        }
    }
    let mut reports = Vec::new();
    for case in &cases {
        match run_one(case, args) {
            Ok(r) => {
                if args.json {
                    outln!("{}", json(&r));
                }
                reports.push(r);
            }
            Err(msg) => {
                eprintln!("error: {msg}");
                return ExitCode::from(1);
            }
        }
    }
    if !args.json {
        table(&reports);
    }
    ExitCode::SUCCESS
}
