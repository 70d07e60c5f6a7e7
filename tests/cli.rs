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
    assert_eq!(
        out,
        "r0 = multiply.f64 2.0, a\nr0 = add.f64 r0, 48.0\nret r0\n"
    );
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
