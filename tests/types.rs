//! Checks `ndexpr::types` against the NumPy 2 oracle tables in `tests/data/` (written by
//! `tests/data/gen_types.py`; see its docstring for the format).

use ndexpr::bytecode::Op;
use ndexpr::types::{can_cast, promote_types, resolve, result_type, Casting, DType, Ty};

fn table(name: &str) -> Vec<Vec<String>> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

fn dtype(name: &str) -> DType {
    DType::ALL
        .into_iter()
        .find(|d| d.name() == name)
        .unwrap_or_else(|| panic!("unknown dtype {name}"))
}

fn ty(token: &str) -> Ty {
    match token {
        "f" => Ty::WeakFloat,
        "c" => Ty::WeakComplex,
        // Python's True is a strong bool in NumPy 2.
        "True" => Ty::Strong(DType::Bool),
        t => match t.strip_prefix("i:") {
            Some(v) => Ty::WeakInt(v.parse().expect("a Python int")),
            None => Ty::Strong(dtype(t)),
        },
    }
}

fn op(name: &str) -> Op {
    *Op::ALL
        .iter()
        .find(|o| o.name() == name)
        .unwrap_or_else(|| panic!("unknown op {name}"))
}

/// Fails with the first mismatches (and their count) if there are any.
fn report(file: &str, rows: usize, bad: &[String]) {
    eprintln!("{file}: {rows} rows, {} mismatches", bad.len());
    assert!(
        bad.is_empty(),
        "{} of {rows} rows of {file} disagree with NumPy:\n{}",
        bad.len(),
        bad.iter().take(400).cloned().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn promote_types_matches_numpy() {
    let rows = table("promote_types.tsv");
    let bad: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            let got = promote_types(dtype(&r[0]), dtype(&r[1]));
            (got.name() != r[2]).then(|| format!("{} {}: numpy {} ours {got}", r[0], r[1], r[2]))
        })
        .collect();
    assert_eq!(rows.len(), 196);
    report("promote_types.tsv", rows.len(), &bad);
}

#[test]
fn can_cast_matches_numpy() {
    let rows = table("can_cast.tsv");
    let bad: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            let casting = match r[2].as_str() {
                "no" => Casting::No,
                "equiv" => Casting::Equiv,
                "safe" => Casting::Safe,
                "same_kind" => Casting::SameKind,
                "unsafe" => Casting::Unsafe,
                c => panic!("unknown casting {c}"),
            };
            let got = can_cast(dtype(&r[0]), dtype(&r[1]), casting);
            (got != (r[3] == "1"))
                .then(|| format!("{} -> {} {}: numpy {} ours {got}", r[0], r[1], r[2], r[3]))
        })
        .collect();
    assert_eq!(rows.len(), 14 * 14 * 5);
    report("can_cast.tsv", rows.len(), &bad);
}

/// `np.result_type` does not check Python ints' bounds; ours does (as a ufunc call would), so an
/// error is accepted only as a bounds error for an integer result.
#[test]
fn result_type_matches_numpy() {
    let rows = table("result_type.tsv");
    let bad: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            let operands: Vec<Ty> = r[0].split(',').map(ty).collect();
            let ok = match result_type(&operands) {
                Ok(d) => d.name() == r[1],
                Err(e) => e.contains("out of bounds") && dtype(&r[1]).is_integer(),
            };
            (!ok).then(|| format!("{}: numpy {} ours {:?}", r[0], r[1], result_type(&operands)))
        })
        .collect();
    report("result_type.tsv", rows.len(), &bad);
}

#[test]
fn result_type_rules() {
    let r = |ops: &[Ty]| result_type(ops);
    use DType::*;
    use Ty::*;
    assert_eq!(r(&[Strong(I8), WeakInt(127)]), Ok(I8));
    assert_eq!(
        r(&[Strong(I8), WeakInt(300)]),
        Err("Python integer 300 out of bounds for int8".into())
    );
    assert_eq!(r(&[Strong(Bool), WeakInt(300)]), Ok(I64));
    assert_eq!(r(&[Strong(I16), WeakFloat]), Ok(F64));
    assert_eq!(r(&[Strong(F16), WeakFloat]), Ok(F16));
    assert_eq!(r(&[Strong(F32), WeakComplex]), Ok(C64));
    assert_eq!(r(&[Strong(F64), WeakComplex]), Ok(C128));
    assert_eq!(r(&[Strong(I8), WeakComplex]), Ok(C128));
    assert_eq!(r(&[WeakInt(1), WeakFloat]), Ok(F64));
    assert_eq!(r(&[WeakInt(1), WeakComplex]), Ok(C128));
    assert_eq!(r(&[WeakInt(1), WeakInt(2)]), Ok(I64));
    assert_eq!(r(&[Strong(F32), WeakInt(1 << 70), WeakFloat]), Ok(F32));
}

/// Whether a comparison row pits a Python int against an integer dtype it does not fit: NumPy
/// compares exactly, and `resolve` picks a wider loop than `resolve_dtypes` reports for that.
/// (Comparisons of two Python ints use NumPy's object loop, which `resolve` replaces by an
/// exact integer loop: those rows report `object` loops and are skipped the same way.)
fn exact_comparison(opname: &str, operands: &[Ty]) -> bool {
    let cmp = [
        "less",
        "less_equal",
        "greater",
        "greater_equal",
        "equal",
        "not_equal",
    ];
    let strong = operands.iter().find_map(|t| match t {
        Ty::Strong(d) if d.is_integer() => Some(*d),
        _ => None,
    });
    cmp.contains(&opname)
        && strong.is_some_and(|d| {
            operands
                .iter()
                .any(|t| matches!(*t, Ty::WeakInt(v) if result_type(&[Ty::Strong(d), Ty::WeakInt(v)]).is_err()))
        })
}

#[test]
fn resolve_matches_numpy() {
    let rows = table("ufunc.tsv");
    let mut bad = Vec::new();
    let mut errors = 0;
    for r in &rows {
        let o = op(&r[0]);
        let operands: Vec<Ty> = r[1].split(',').map(ty).collect();
        let got = resolve(o, &operands);
        let what = format!("{}({})", r[0], r[1]);
        match (r[2].as_str(), &got) {
            ("ok", Ok(l)) => {
                if l.output.name() != r[4] {
                    bad.push(format!("{what}: numpy -> {}, ours {l:?}", r[4]));
                } else if r[3] != "-"
                    && !r[3].contains("object")
                    && !exact_comparison(&r[0], &operands)
                {
                    let ins: Vec<&str> = l.inputs.iter().map(|d| d.name()).collect();
                    if ins.join(",") != r[3] {
                        bad.push(format!("{what}: numpy loop {} ours {l:?}", r[3]));
                    }
                }
            }
            ("ok", Err(e)) => bad.push(format!("{what}: numpy -> {}, ours Err({e})", r[4])),
            // A runtime error of the loop (`int8 ** -1`), not of type resolution.
            ("err", Ok(_)) if r[3] == "ValueError" => {}
            ("err", Ok(l)) => bad.push(format!("{what}: numpy {}: {}, ours {l:?}", r[3], r[4])),
            ("err", Err(e)) => {
                errors += 1;
                // NumPy's bounds error is reproduced word for word.
                if r[4].starts_with("Python integer ") && *e != r[4] {
                    bad.push(format!("{what}: numpy {}, ours Err({e})", r[4]));
                }
                assert!(!e.contains('\n'), "one-line message: {e}");
            }
            (s, _) => panic!("bad status {s}"),
        }
    }
    eprintln!("ufunc.tsv: {errors} NumPy errors reproduced");
    report("ufunc.tsv", rows.len(), &bad);
}

#[test]
fn every_ufunc_op_is_covered() {
    let rows = table("ufunc.tsv");
    for &o in Op::ALL {
        if matches!(
            o,
            Op::Cast
                | Op::Copy
                | Op::Fma
                | Op::Complex
                | Op::MultiplyAdd
                | Op::AddMultiply
                | Op::MultiplySubtract
                | Op::SubtractMultiply
                | Op::Cube
                | Op::Fused
        ) {
            continue;
        }
        assert!(
            rows.iter().any(|r| r[0] == o.name()),
            "no oracle rows for {o:?}"
        );
    }
}

#[test]
fn non_numpy_ops() {
    use DType::*;
    use Ty::*;
    let l = |inputs: Vec<DType>, output| Ok(ndexpr::types::Loop { inputs, output });
    assert_eq!(
        resolve(Op::Fma, &[Strong(F32), Strong(F32), WeakFloat]),
        l(vec![F32; 3], F32)
    );
    assert_eq!(
        resolve(Op::Fma, &[Strong(I8), Strong(I16), WeakInt(3)]),
        l(vec![I16; 3], I16)
    );
    assert!(resolve(Op::Fma, &[Strong(C64), Strong(F32), WeakFloat]).is_err());
    assert!(resolve(Op::Fma, &[Strong(Bool); 3]).is_err());
    assert!(resolve(Op::Fma, &[Strong(I8), Strong(I8), WeakInt(300)]).is_err());
    assert_eq!(
        resolve(Op::Complex, &[Strong(F32), WeakFloat]),
        l(vec![F32; 2], C64)
    );
    assert_eq!(
        resolve(Op::Complex, &[Strong(F16), Strong(I8)]),
        l(vec![F32; 2], C64)
    );
    assert_eq!(
        resolve(Op::Complex, &[Strong(I32), WeakInt(1)]),
        l(vec![F64; 2], C128)
    );
    assert_eq!(
        resolve(Op::Complex, &[WeakInt(1), WeakFloat]),
        l(vec![F64; 2], C128)
    );
    assert!(resolve(Op::Complex, &[Strong(C64), WeakFloat]).is_err());
    assert!(resolve(Op::Complex, &[WeakComplex, WeakFloat]).is_err());
    assert_eq!(resolve(Op::Real, &[Strong(C128)]), l(vec![C128], F64));
    assert_eq!(resolve(Op::Imag, &[Strong(F32)]), l(vec![F32], F32));
    assert!(resolve(Op::Cast, &[Strong(F32)]).is_err());
    assert!(resolve(Op::Copy, &[Strong(F32)]).is_err());
    assert!(resolve(Op::Add, &[Strong(F32)]).is_err());
}

#[test]
fn exact_comparisons_with_out_of_range_ints() {
    use DType::*;
    use Ty::*;
    let ins = |o, a, b| resolve(o, &[a, b]).map(|l| (l.inputs, l.output));
    assert_eq!(
        ins(Op::Less, Strong(U8), WeakInt(-1)),
        Ok((vec![I16, I16], Bool))
    );
    assert_eq!(
        ins(Op::Less, Strong(U64), WeakInt(-1)),
        Ok((vec![U64, I64], Bool))
    );
    assert_eq!(
        ins(Op::Equal, WeakInt(1 << 63), Strong(I64)),
        Ok((vec![U64, I64], Bool))
    );
    assert_eq!(
        ins(Op::Less, Strong(I8), WeakInt(300)),
        Ok((vec![I16, I16], Bool))
    );
    assert!(ins(Op::Less, Strong(Bool), WeakInt(1 << 63)).is_err());
}

#[test]
fn where_wraps_python_ints_like_numpy() {
    use DType::*;
    use Ty::*;
    let w = |x, y| resolve(Op::Where, &[Strong(Bool), x, y]).map(|l| l.output);
    assert_eq!(w(Strong(I8), WeakInt(300)), Ok(I8));
    assert_eq!(w(Strong(U8), WeakInt(-1)), Ok(U8));
    assert_eq!(w(WeakInt(1), WeakInt(1 << 63)), Ok(I64));
    assert_eq!(w(Strong(F32), WeakFloat), Ok(F32));
    assert!(w(WeakInt(1), WeakInt((1 << 64) + 5)).is_err());
}

#[test]
fn clip_drops_noop_bounds() {
    use ndexpr::types::clip_drops_bound;
    assert!(clip_drops_bound(DType::I8, 300, true));
    assert!(clip_drops_bound(DType::I8, 127, true));
    assert!(!clip_drops_bound(DType::I8, 126, true));
    assert!(clip_drops_bound(DType::U8, 0, false));
    assert!(!clip_drops_bound(DType::U8, 300, false));
    assert!(!clip_drops_bound(DType::F32, 1 << 70, true));
}
