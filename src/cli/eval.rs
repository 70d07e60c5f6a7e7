//! `eval`: evaluates an expression over `.npy` files and number literals, printing the result as
//! NumPy would or writing it to a `.npy` file.
//!
//! The point of ndexpr is to need no full-size temporary, and the command line keeps that
//! promise for files: inputs are memory-mapped (see [`super::npy`]), the output file is created
//! at its final size and mapped, and the expression is evaluated straight into the mapping one
//! chunk at a time (a run of C-order output elements along one axis, about 2^20 of them). So an
//! expression over files larger than RAM runs in a fixed amount of private memory, chunks give
//! the progress bar its ticks, and inputs that must be decoded (big-endian, misaligned, bool)
//! are decoded one chunk at a time as well.
//!
//! A number given as `k=3` must behave exactly as if `3` were written in the expression: a weak
//! Python scalar under NEP 50 (`int8_array + 3` is int8), folded with other literals by Python's
//! rules (`k**-1` with `k=2` is `0.5`). The library's Python-value variables
//! ([`Signature::literal`], `Vars::with(name, PyValue)`) are compiled in as literals for exactly
//! this, so the value is read with the expression language's own lexer and bound as one.
//!
//! The output is written under a temporary name in the destination's directory and renamed
//! into place only after everything succeeded, so a failed run never leaves a partial or stale
//! result where the real one is expected.

use super::format::{array2string, shape_tuple};
use super::mapped;
use super::npy::{self, with_dtype, Input, NpyElement, Source};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use memmap2::MmapMut;
use ndarray::{ArrayD, ArrayViewMutD, IxDyn, Slice};
use ndexpr::syntax::ast::{Expr as Ast, ExprKind, UnaryOp};
use ndexpr::{Error, ErrorKind, Expr, PyValue, Signature, Span, Vars};
use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args)]
pub struct EvalArgs {
    /// The expression, e.g. '2*a + b' (quote it for the shell).
    #[arg(allow_hyphen_values = true)]
    pub expr: String,
    /// Each variable of the expression as NAME=VALUE: VALUE is a number literal (3, -4, 2.5,
    /// 1e-3, 2j, True, False), used exactly as if written in the expression, or else the path
    /// of a .npy file.
    #[arg(value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Write the result to this .npy file (C order, native byte order) instead of printing it.
    #[arg(short = 'o', long = "output", value_name = "OUT.npy")]
    pub output: Option<PathBuf>,
    /// Threads to evaluate with (default: all cores, or NDEXPR_NUM_THREADS).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub threads: Option<u64>,
}

/// Output elements per evaluation call: large enough that per-call costs (binding, waking the
/// thread pool) vanish and threads get work, small enough that decoded input chunks stay small.
const CHUNK: usize = 1 << 20;

/// Above this many output elements a progress bar is shown (when stderr is a terminal).
const PROGRESS_FROM: usize = 100_000_000;

/// What a `NAME=VALUE` gives.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    /// A number, bound as a Python value (a weak scalar).
    Literal(PyValue),
    File(PathBuf),
}

#[derive(Debug)]
struct Binding {
    name: String,
    value: Value,
}

/// The number `text` spells if it is one number literal of the expression language,
/// optionally signed: `3`, `-4`, `+2.5`, `1e-3`, `2j`, `1_000`, `True`, `False`.
fn literal(text: &str) -> Option<PyValue> {
    let ast = ndexpr::syntax::parse(text).ok()?;
    let number = |k: &ExprKind| match *k {
        ExprKind::Int(v) => Some(PyValue::Int(v as i128)),
        ExprKind::Float(x) => Some(PyValue::Float(x)),
        ExprKind::Imag(x) => Some(PyValue::Complex(num_complex::Complex64::new(0.0, x))),
        _ => None,
    };
    match &ast.kind {
        ExprKind::Bool(b) => Some(PyValue::Bool(*b)),
        ExprKind::Unary {
            op: op @ (UnaryOp::Neg | UnaryOp::Pos),
            operand,
        } => ndexpr::compile::literal::unary(*op, number(&operand.kind)?).ok(),
        k => number(k),
    }
}

fn parse_binding(arg: &str) -> Result<Binding, String> {
    let (name, value) = arg.split_once('=').ok_or_else(|| {
        format!("`{arg}` is not NAME=VALUE (VALUE is a number or the path of a .npy file)")
    })?;
    let is_name = matches!(
        ndexpr::syntax::parse(name).map(|e| e.kind),
        Ok(ExprKind::Name(n)) if n == name
    );
    if !is_name {
        return Err(format!(
            "`{name}` in `{arg}` is not a variable name (a Python identifier)"
        ));
    }
    if value.is_empty() {
        return Err(format!("`{arg}` gives `{name}` no value"));
    }
    let value = if let Some(number) = literal(value) {
        if Path::new(value).exists() {
            eprintln!(
                "warning: `{name}={value}` is read as the number {value}, not the file `{value}`; \
                 write `{name}=./{value}` for the file"
            );
        }
        Value::Literal(number)
    } else {
        Value::File(PathBuf::from(value))
    };
    Ok(Binding {
        name: name.to_string(),
        value,
    })
}

/// Every use of a variable, with its span, in source order.
fn uses(ast: &Ast, out: &mut Vec<(String, Span)>) {
    match &ast.kind {
        ExprKind::Name(n) => out.push((n.clone(), ast.span)),
        ExprKind::Unary { operand, .. } => uses(operand, out),
        ExprKind::Binary { lhs, rhs, .. } => {
            uses(lhs, out);
            uses(rhs, out);
        }
        ExprKind::Call { args, kwargs, .. } => {
            args.iter().for_each(|a| uses(a, out));
            kwargs.iter().for_each(|k| uses(&k.value, out));
        }
        _ => {}
    }
}

/// The chunks of a C-order array of `shape`, as one range per axis: single indices along the
/// outer axes, a run along one axis, everything along the inner axes, so that each chunk is one
/// contiguous run of about `target` elements of the output.
fn chunks(shape: &[usize], target: usize) -> Vec<Vec<Range<usize>>> {
    let d = shape.len();
    if d == 0 || shape.contains(&0) {
        return vec![shape.iter().map(|&n| 0..n).collect()];
    }
    let mut k = 0;
    while k + 1 < d && shape[k + 1..].iter().product::<usize>() > target {
        k += 1;
    }
    let inner: usize = shape[k + 1..].iter().product();
    let step = (target / inner).max(1);
    let mut out = Vec::new();
    let mut index = vec![0usize; k];
    loop {
        let mut start = 0;
        while start < shape[k] {
            let end = (start + step).min(shape[k]);
            let mut r: Vec<Range<usize>> = index.iter().map(|&i| i..i + 1).collect();
            r.push(start..end);
            r.extend(shape[k + 1..].iter().map(|&n| 0..n));
            out.push(r);
            start = end;
        }
        let mut ax = k;
        loop {
            if ax == 0 {
                return out;
            }
            ax -= 1;
            index[ax] += 1;
            if index[ax] < shape[ax] {
                break;
            }
            index[ax] = 0;
        }
    }
}

/// The part of an input of `shape` that broadcasts onto the output chunk `out`: the same ranges
/// on axes the input has in full, the whole (length-1) axis where it broadcasts.
fn input_ranges(shape: &[usize], out: &[Range<usize>]) -> Vec<Range<usize>> {
    let offset = out.len() - shape.len();
    shape
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            if n == 1 {
                0..1
            } else {
                out[i + offset].clone()
            }
        })
        .collect()
}

struct Progress(Option<ProgressBar>);

impl Progress {
    fn new(total: usize) -> Progress {
        if total <= PROGRESS_FROM || !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = ProgressBar::new(total as u64);
        if let Ok(style) = ProgressStyle::with_template(
            "{elapsed_precise} [{wide_bar}] {percent:>3}% {human_pos}/{human_len} elements, eta {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        Progress(Some(bar))
    }

    fn inc(&self, n: usize) {
        if let Some(b) = &self.0 {
            b.inc(n as u64);
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

/// Whether `expr` reduces: its result (a reduction at the root) or some of its values (a full
/// reduction inside it, `a - mean(a)`) depend on every element, so it runs in one piece.
fn reduces(expr: &Expr) -> bool {
    let p = expr.program();
    p.reduce.is_some() || !p.reductions.is_empty()
}

/// The result's shape for operands broadcast to `shape`: without the reduced axis for a
/// reduction along an axis, `()` for a full one. An axis out of range is left for the
/// evaluation to report.
fn result_shape(expr: &Expr, shape: &[usize]) -> Vec<usize> {
    let Some(spec) = &expr.program().reduce else {
        return shape.to_vec();
    };
    match spec.axis {
        None => Vec::new(),
        Some(a) => {
            let k = if a < 0 { a + shape.len() as i64 } else { a };
            let mut out = shape.to_vec();
            if (0..shape.len() as i64).contains(&k) {
                out.remove(k as usize);
            }
            out
        }
    }
}

/// Evaluates `expr` over operands broadcast to `shape` into `out`, chunk by chunk (in one piece
/// when it [`reduces`]).
fn drive<T: NpyElement>(
    expr: &Expr,
    inputs: &[(String, Source<'_>)],
    literals: &[(String, PyValue)],
    shape: &[usize],
    mut out: ArrayViewMutD<'_, T>,
    progress: &Progress,
) -> Result<(), Error> {
    let whole = reduces(expr);
    let pieces = if whole {
        vec![shape.iter().map(|&n| 0..n).collect()]
    } else {
        chunks(shape, CHUNK)
    };
    for ranges in pieces {
        let parts: Vec<npy::Chunk<'_>> = inputs
            .iter()
            .map(|(_, src)| src.select(&input_ranges(&src.shape(), &ranges)))
            .collect();
        let mut vars = Vars::new();
        for (name, v) in literals {
            vars.insert(name, *v);
        }
        for ((name, _), part) in inputs.iter().zip(&parts) {
            vars.insert(name, part.view());
        }
        let mut target = out.view_mut();
        if !whole {
            target.slice_each_axis_inplace(|ax| {
                let r = &ranges[ax.axis.index()];
                Slice::from(r.start as isize..r.end as isize)
            });
        }
        let n = target.len();
        expr.eval_into(&vars, target)?;
        progress.inc(n);
    }
    Ok(())
}

/// The output file under its temporary name; removed on drop unless [`OutFile::commit`]ted.
struct OutFile {
    tmp: PathBuf,
    dest: PathBuf,
    map: Option<MmapMut>,
    header_len: usize,
    committed: bool,
}

impl OutFile {
    fn create(dest: &Path, header: Vec<u8>, data_len: usize) -> Result<OutFile, String> {
        if dest.is_dir() {
            return Err(format!(
                "cannot write `{}`: it is a directory",
                dest.display()
            ));
        }
        let name = dest
            .file_name()
            .ok_or_else(|| format!("`{}` is not a file name", dest.display()))?;
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = dir.join(format!(
            ".{}.ndexpr-{}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        let file: File = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| format!("cannot create `{}`: {e}", tmp.display()))?;
        let mut out = OutFile {
            tmp,
            dest: dest.to_path_buf(),
            map: None,
            header_len: header.len(),
            committed: false,
        };
        let total = header.len() + data_len;
        let fail = |e: std::io::Error| format!("cannot write `{}`: {e}", dest.display());
        file.set_len(total as u64).map_err(fail)?;
        let mut map = mapped::map_write(&file).map_err(fail)?;
        map[..header.len()].copy_from_slice(&header);
        out.map = Some(map);
        Ok(out)
    }

    fn data(&mut self) -> &mut [u8] {
        let h = self.header_len;
        &mut self.map.as_mut().expect("mapped on creation")[h..]
    }

    /// Flushes the data to the file and renames it to its final name.
    fn commit(mut self) -> Result<(), String> {
        let fail = |e: std::io::Error| format!("cannot write `{}`: {e}", self.dest.display());
        if let Some(map) = self.map.take() {
            map.flush().map_err(fail)?;
        }
        std::fs::rename(&self.tmp, &self.dest).map_err(fail)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for OutFile {
    fn drop(&mut self) {
        if !self.committed {
            self.map = None;
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Evaluates into the output file of `dtype` `T`.
fn to_file<T: NpyElement>(
    expr: &Expr,
    inputs: &[(String, Source<'_>)],
    literals: &[(String, PyValue)],
    shape: &[usize],
    dest: &Path,
) -> Result<(), String> {
    let in_shape = shape;
    let shape = &result_shape(expr, shape)[..];
    let len: usize = shape.iter().product();
    let header = npy::header_bytes(T::DTYPE, shape);
    let mut file = OutFile::create(dest, header, len * T::DTYPE.size())?;
    let progress = Progress::new(len);
    {
        let elems = T::view_mut(file.data()).ok_or("the output mapping is misaligned")?;
        let view = ArrayViewMutD::from_shape(IxDyn(shape), elems)
            .map_err(|e| format!("output view: {e}"))?;
        drive(expr, inputs, literals, in_shape, view, &progress).map_err(|e| e.to_string())?;
    }
    progress.finish();
    file.commit()
}

/// Evaluates into memory and prints the result.
fn to_stdout<T: NpyElement>(
    expr: &Expr,
    inputs: &[(String, Source<'_>)],
    literals: &[(String, PyValue)],
    shape: &[usize],
) -> Result<(), String> {
    // Printing needs the whole result in memory (unlike -o); say so instead of aborting.
    let in_shape = shape;
    let shape = &result_shape(expr, shape)[..];
    let len: usize = shape.iter().product();
    let mut data: Vec<T> = Vec::new();
    data.try_reserve_exact(len).map_err(|_| {
        format!(
            "not enough memory to hold the {} result ({} bytes) for printing; write it to a \
             file with -o OUT.npy, which needs no memory for it",
            shape_tuple(shape),
            len * T::DTYPE.size()
        )
    })?;
    data.resize(len, T::default());
    let mut result = ArrayD::from_shape_vec(IxDyn(shape), data).map_err(|e| e.to_string())?;
    let progress = Progress::new(result.len());
    drive(
        expr,
        inputs,
        literals,
        in_shape,
        result.view_mut(),
        &progress,
    )
    .map_err(|e| e.to_string())?;
    progress.finish();
    let result = T::wrap_owned(result);
    let text = format!(
        "{}\nshape {}, dtype {}\n",
        array2string(&result),
        shape_tuple(result.shape()),
        result.dtype()
    );
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        // `ndexpr eval ... | head` closing the pipe early is not a failure.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write the result: {e}"))
        }
        _ => Ok(()),
    }
}

fn run(args: &EvalArgs) -> Result<(), String> {
    if let Some(n) = args.threads {
        ndexpr::set_num_threads(usize::try_from(n).unwrap_or(usize::MAX));
    }
    let src = args.expr.as_str();
    let ast = ndexpr::syntax::parse(src).map_err(|e| e.to_string())?;
    let mut bindings: Vec<Binding> = Vec::new();
    for arg in &args.vars {
        let b = parse_binding(arg)?;
        if bindings.iter().any(|o| o.name == b.name) {
            return Err(format!("variable `{}` is given twice", b.name));
        }
        bindings.push(b);
    }
    let mut used = Vec::new();
    uses(&ast, &mut used);
    let given = |name: &str| bindings.iter().find(|b| b.name == name);
    let missing: Vec<&(String, Span)> = used.iter().filter(|(n, _)| given(n).is_none()).collect();
    if let Some((name, span)) = missing.first() {
        let mut names: Vec<&str> = missing.iter().map(|(n, _)| n.as_str()).collect();
        names.dedup();
        let help = format!(
            "give {} a value: NAME=FILE.npy or NAME=NUMBER",
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Err(Error::at(
            ErrorKind::UnknownVariable,
            *span,
            format!("variable `{name}` is not given a value"),
        )
        .with_help(help)
        .with_source(src)
        .to_string());
    }
    for b in &bindings {
        if !used.iter().any(|(n, _)| *n == b.name) {
            eprintln!(
                "warning: `{}` is not used by the expression; ignored",
                b.name
            );
        }
    }
    // The Python values the expression uses, bound as literals.
    let mut literals: Vec<(String, PyValue)> = Vec::new();
    for (name, _) in &used {
        if let Some(Value::Literal(v)) = given(name).map(|b| &b.value) {
            if !literals.iter().any(|(n, _)| n == name) {
                literals.push((name.clone(), *v));
            }
        }
    }

    // Open each file the expression uses, in order of first use.
    let mut files: Vec<(String, Input)> = Vec::new();
    for (name, _) in &used {
        if files.iter().any(|(n, _)| n == name) {
            continue;
        }
        let Some(Value::File(path)) = given(name).map(|b| &b.value) else {
            continue;
        };
        let input = Input::open(path).map_err(|e| {
            if !path.exists() {
                format!(
                    "`{name}={}`: `{}` is neither a number nor an existing file",
                    path.display(),
                    path.display()
                )
            } else {
                format!("cannot read `{}` (for `{name}`): {e}", path.display())
            }
        })?;
        files.push((name.clone(), input));
    }

    let signature = files.iter().fold(Signature::new(), |s, (name, input)| {
        s.array(name, input.header.dtype)
    });
    let signature = literals
        .iter()
        .fold(signature, |s, (name, v)| s.literal(name, *v));
    let expr = Expr::compile(src, &signature).map_err(|e| e.to_string())?;
    let shapes: Vec<(&str, &[usize])> = files
        .iter()
        .map(|(n, i)| (n.as_str(), i.header.shape.as_slice()))
        .collect();
    let shape = ndexpr::vm::plan::broadcast_shapes(&shapes).map_err(|e| e.to_string())?;
    let sources: Vec<(String, Source<'_>)> = files
        .iter()
        .map(|(name, input)| (name.clone(), input.source()))
        .collect();
    match &args.output {
        Some(dest) => {
            with_dtype!(expr.dtype(), T => to_file::<T>(&expr, &sources, &literals, &shape, dest))
        }
        None => with_dtype!(expr.dtype(), T => to_stdout::<T>(&expr, &sources, &literals, &shape)),
    }
}

pub fn eval(args: &EvalArgs) -> ExitCode {
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("error: {msg}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_paths() {
        use num_complex::Complex64;
        let cases = [
            ("3", PyValue::Int(3)),
            ("-4", PyValue::Int(-4)),
            ("+2.5", PyValue::Float(2.5)),
            ("1e-3", PyValue::Float(1e-3)),
            ("2j", PyValue::Complex(Complex64::new(0.0, 2.0))),
            ("-1.5e3J", PyValue::Complex(Complex64::new(-0.0, -1.5e3))),
            ("True", PyValue::Bool(true)),
            ("False", PyValue::Bool(false)),
            ("1_000", PyValue::Int(1000)),
            (".5", PyValue::Float(0.5)),
            ("18446744073709551615", PyValue::Int(u64::MAX as i128)),
        ];
        for (text, want) in cases {
            let got = literal(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(format!("{got:?}"), format!("{want:?}"), "{text}");
        }
        for path in [
            "a.npy", "x", "3.npy", "./3", "2*3", "--4", "-True", "", "1 2", "inf",
        ] {
            assert!(literal(path).is_none(), "{path}");
        }
    }

    #[test]
    fn chunks_cover_the_output_once_in_order() {
        for shape in [
            vec![10],
            vec![3, 7],
            vec![4, 5, 6],
            vec![2, 1, 9],
            vec![7, 3, 2, 5],
        ] {
            for target in [1, 4, 6, 35, 1000] {
                let mut seen = Vec::new();
                for c in chunks(&shape, target) {
                    let n: usize = c.iter().map(|r| r.len()).product();
                    assert!(n <= target, "{shape:?} {target}");
                    // Flat C-order indices of the chunk.
                    let strides: Vec<usize> = (0..shape.len())
                        .map(|i| shape[i + 1..].iter().product())
                        .collect();
                    let mut idx: Vec<usize> = vec![0];
                    for (r, s) in c.iter().zip(&strides) {
                        idx = idx
                            .iter()
                            .flat_map(|base| r.clone().map(move |i| base + i * s))
                            .collect();
                    }
                    seen.extend(idx);
                }
                let total: usize = shape.iter().product();
                assert_eq!(seen, (0..total).collect::<Vec<_>>(), "{shape:?} {target}");
            }
        }
        assert_eq!(chunks(&[], 8), vec![Vec::<Range<usize>>::new()]);
        assert_eq!(chunks(&[3, 0], 8), vec![vec![0..3, 0..0]]);
    }
}
