//! The command line, run as a user would: exit codes, outputs, and the bench's JSON contract.

use std::process::Command;

fn ndexpr(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ndexpr"))
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_prints_numpy2_dtypes() {
    assert_eq!(ndexpr(&["check", "sin(x) + 1", "x:i8"]).1, "float16\n");
    assert_eq!(
        ndexpr(&["check", "a*k", "a:f32", "k:f64scalar"]).1,
        "float64\n"
    );
    assert_eq!(ndexpr(&["check", "a*2.0", "a:f32"]).1, "float32\n");
}

#[test]
fn check_reports_errors_with_a_caret_and_status_1() {
    let (code, out, err) = ndexpr(&["check", "2*a + sinn(a)"]);
    assert_eq!(code, 1);
    assert_eq!(out, "");
    assert!(
        err.contains("unknown function `sinn`\n  2*a + sinn(a)\n        ^^^^"),
        "{err}"
    );
    assert!(err.contains("did you mean `sin`?"), "{err}");
}

#[test]
fn usage_errors_exit_with_2() {
    assert_eq!(ndexpr(&["check", "a", "a:float99"]).0, 2);
    assert_eq!(ndexpr(&["frobnicate"]).0, 2);
}

#[test]
fn disasm_prints_the_program() {
    let (code, out, _) = ndexpr(&["disasm", "2*a + 48"]);
    assert_eq!(code, 0);
    assert_eq!(out, "r0 = multiply_add.f64 2.0, a, 48.0\nret r0\n");
}

const BENCH_KEYS: [&str; 17] = [
    "expr",
    "dtype",
    "shape",
    "step",
    "threads",
    "isa",
    "ndexpr_ms",
    "naive_ms",
    "inplace_ms",
    "copy_ms",
    "floor_ms",
    "order",
    "speedup_vs_naive",
    "fraction_of_copy",
    "inplace_over_floor",
    "ndexpr_temp_bytes",
    "naive_temp_bytes",
];

/// Each line of `bench --json` output as a parsed object with exactly the contract's keys.
fn bench_lines(out: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    out.lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("one JSON object a line");
            let obj = v.as_object().expect("an object").clone();
            let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
            let mut want = BENCH_KEYS.to_vec();
            keys.sort();
            want.sort();
            assert_eq!(keys, want, "{line}");
            obj
        })
        .collect()
}

#[test]
fn bench_json_parses_with_exactly_the_contract_keys() {
    let (code, out, err) = ndexpr(&["bench", "--size", "1000", "--repeat", "3", "--json"]);
    assert_eq!(code, 0, "{err}");
    let lines = bench_lines(&out);
    assert_eq!(lines.len(), 1);
    let o = &lines[0];
    assert_eq!(o["expr"], "2*a+48");
    assert_eq!(o["dtype"], "f64");
    assert_eq!(o["shape"], serde_json::json!([1000]));
    assert_eq!(o["isa"], ndexpr::kernels::isa());
    for key in ["ndexpr_ms", "naive_ms", "inplace_ms", "copy_ms"] {
        assert!(o[key].as_f64().unwrap() >= 0.0, "{key}");
    }
}

#[test]
fn bench_takes_every_dtype() {
    for dtype in [
        "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "f16", "f32", "f64", "c64", "c128",
        "bool",
    ] {
        let (code, out, err) = ndexpr(&[
            "bench", "2*a+48", "--dtype", dtype, "--size", "1000", "--repeat", "1", "--json",
        ]);
        assert_eq!(code, 0, "{dtype}: {err}");
        assert_eq!(bench_lines(&out)[0]["dtype"], dtype);
    }
    assert_eq!(ndexpr(&["bench", "--dtype", "f128"]).0, 2);
}

#[test]
fn bench_suite_has_the_seed_cases_at_f64_and_f32() {
    let (code, out, err) = ndexpr(&[
        "bench", "--suite", "--size", "1000", "--repeat", "1", "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let lines = bench_lines(&out);
    for dtype in ["f64", "f32"] {
        for step in [1, 20] {
            assert!(
                lines.iter().any(|o| o["expr"] == "2*nd_2 + 48"
                    && o["dtype"] == dtype
                    && o["shape"] == serde_json::json!([400, 600])
                    && o["step"] == step),
                "seed case {dtype} step {step} missing from {out}"
            );
        }
        for expr in ["a*b+c", "sin(a)**2+cos(b)**2", "where(a>b,a,b)", "tanh(a)"] {
            assert!(
                lines
                    .iter()
                    .any(|o| o["expr"] == expr && o["dtype"] == dtype),
                "{expr} {dtype}"
            );
        }
    }
}

#[test]
fn version_names_the_kernels_isa() {
    let (code, out, _) = ndexpr(&["--version"]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        format!(
            "ndexpr {} (kernels: {})\n",
            env!("CARGO_PKG_VERSION"),
            ndexpr::kernels::isa()
        )
    );
}

#[test]
fn every_help_has_an_example() {
    for cmd in ["check", "disasm", "eval", "bench"] {
        let (code, out, _) = ndexpr(&[cmd, "--help"]);
        assert_eq!(code, 0);
        assert!(out.contains("Examples:"), "{cmd}: {out}");
        assert!(out.contains(&format!("\n  ndexpr {cmd} ")), "{cmd}: {out}");
    }
    let (_, out, _) = ndexpr(&["--help"]);
    assert!(out.contains("Examples:"), "{out}");
}

#[test]
fn bench_json_has_every_key() {
    let (code, out, err) = ndexpr(&[
        "bench", "a*b+c", "--size", "5000", "--repeat", "2", "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    for key in [
        "expr",
        "dtype",
        "shape",
        "step",
        "threads",
        "isa",
        "ndexpr_ms",
        "naive_ms",
        "inplace_ms",
        "copy_ms",
        "speedup_vs_naive",
        "fraction_of_copy",
        "ndexpr_temp_bytes",
        "naive_temp_bytes",
    ] {
        assert!(
            out.contains(&format!("\"{key}\": ")),
            "missing {key} in {out}"
        );
    }
    assert!(out.contains("\"expr\": \"a*b+c\""), "{out}");
    assert!(out.contains("\"shape\": [5000]"), "{out}");
}

#[test]
fn bench_strided_shape() {
    let (code, out, err) = ndexpr(&[
        "bench", "2*a+48", "--shape", "40x60", "--step", "20", "--repeat", "2",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("40x60"), "{out}");
}

#[test]
fn a_reader_that_stops_early_ends_bench_quietly() {
    // `ndexpr bench --suite | head -1`: the pipe closes after the first line; the report must
    // end without a panic (it used to unwind out of println!).
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_ndexpr"))
        .args([
            "bench", "--suite", "--size", "1000", "--repeat", "1", "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with('{'), "{first}");
    // The reader is dropped here: the pipe is closed with most of the suite still to print.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
