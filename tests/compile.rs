//! The compiler's output, checked against hand-derived programs: constant folding (Python's
//! literal arithmetic, NumPy's rounding into the target dtype), sharing of common
//! subexpressions, NumPy's power shortcuts, float16 widening, register reuse, and the errors.

use ndexpr::bytecode::{Op, Operand};
use ndexpr::{DType, ErrorKind, Expr, Signature};

fn sig() -> Signature {
    Signature::new()
        .array("a", DType::F64)
        .array("b", DType::F64)
        .array("f", DType::F32)
        .array("h", DType::F16)
        .array("i", DType::I32)
        .array("i8", DType::I8)
        .array("u", DType::U8)
        .array("m", DType::Bool)
        .array("z", DType::C128)
        .scalar("k", DType::F64)
}

fn disasm(src: &str) -> String {
    Expr::compile(src, &sig())
        .unwrap_or_else(|e| panic!("{src}: {e}"))
        .disassemble()
}

fn lines(text: &[&str]) -> String {
    text.iter().map(|l| format!("{l}\n")).collect()
}

fn err(src: &str) -> ndexpr::Error {
    Expr::compile(src, &sig()).expect_err(src)
}

#[test]
fn the_seed_expression() {
    assert_eq!(
        disasm("2*a + 48"),
        // One pass: the multiply is fused into the add that is its only use (still rounded
        // twice, as NumPy's two ufuncs).
        lines(&["r0 = multiply_add.f64 2.0, a, 48.0", "ret r0"])
    );
}

#[test]
fn result_dtypes_follow_numpy2() {
    let dtype = |s: &str| Expr::compile(s, &sig()).unwrap().dtype();
    assert_eq!(dtype("f * 2.0"), DType::F32); // weak float
    assert_eq!(dtype("i + 3"), DType::I32); // weak int
    assert_eq!(dtype("i + f"), DType::F64);
    assert_eq!(dtype("i / i"), DType::F64);
    assert_eq!(dtype("sqrt(i)"), DType::F64);
    assert_eq!(dtype("sin(i8)"), DType::F16);
    assert_eq!(dtype("sqrt(u)"), DType::F16);
    assert_eq!(dtype("abs(i)"), DType::I32);
    assert_eq!(dtype("a < b"), DType::Bool);
    assert_eq!(dtype("f * 2j"), DType::C64);
    assert_eq!(dtype("2 + 3"), DType::I64);
    assert_eq!(dtype("2 ** -1"), DType::F64);
    assert_eq!(dtype("m + 1"), DType::I64);
    assert_eq!(dtype("f * k"), DType::F64); // a scalar variable is strong
}

#[test]
fn python_literal_arithmetic_is_folded_first() {
    // Python computes 2*3+1 and 0.1*3 before NumPy sees them.
    assert_eq!(
        disasm("a + (2*3+1)"),
        lines(&["r0 = add.f64 a, 7.0", "ret r0"])
    );
    assert_eq!(
        disasm("a + 0.1*3"),
        lines(&["r0 = add.f64 a, 0.30000000000000004", "ret r0"])
    );
    assert_eq!(
        disasm("a * 2**-1"),
        lines(&["r0 = multiply.f64 a, 0.5", "ret r0"])
    );
    // The literal is rounded to float32 when it meets a float32 array (NEP 50).
    assert_eq!(
        disasm("f * 0.1"),
        lines(&["r0 = multiply.f32 f, 0.10000000149011612", "ret r0"])
    );
    // A literal-only expression is a 0-d result, copied once.
    assert_eq!(disasm("2 + 3"), lines(&["r0 = copy.i64 5", "ret r0"]));
}

#[test]
fn numpy_calls_on_constants_are_folded_to_strong_scalars() {
    // np.sin(0) is a strong float64 zero; np.sqrt(4) is 2.0.
    assert_eq!(
        disasm("a * sin(0)"),
        lines(&["r0 = multiply.f64 a, 0.0", "ret r0"])
    );
    assert_eq!(
        disasm("f + sqrt(4)"),
        lines(&["r0 = cast.f32.f64 f", "r0 = add.f64 r0, 2.0", "ret r0"])
    );
}

#[test]
fn common_subexpressions_are_computed_once() {
    let e = Expr::compile("sin(a)*sin(a) + sin(a)", &sig()).unwrap();
    let sins = e.program().body.iter().filter(|i| i.op == Op::Sin).count();
    assert_eq!(sins, 1);
    assert_eq!(
        e.disassemble(),
        lines(&[
            "r0 = sin.f64 a",
            "r0 = multiply_add.f64 r0, r0, r0",
            "ret r0"
        ])
    );
    assert_eq!(e.program().registers.len(), 1);
}

#[test]
fn registers_are_reused_by_liveness() {
    // int32: no fused chains, one instruction per operation.
    let sum = vec!["i"; 50].join(" + ");
    let e = Expr::compile(&sum, &sig()).unwrap();
    assert_eq!(e.program().body.len(), 49);
    assert!(e.program().registers.len() <= 2, "{}", e.disassemble());
    // The first product is fused into the final add, so its factors stay alive until then.
    let e = Expr::compile("(i+i8)*(i-i8) + (i*i8)*(i8-i)", &sig()).unwrap();
    assert!(e.program().registers.len() <= 4, "{}", e.disassemble());
}

#[test]
fn float_chains_fuse_into_one_pass() {
    for (src, want) in [
        (
            "2*a + 3*b - c",
            "r0 = fused.f64 subtract(multiply_add(2.0, a, multiply(3.0, b)), c)",
        ),
        (
            "sqrt(a**2 + b**2)",
            "r0 = fused.f64 sqrt(multiply_add(a, a, square(b)))",
        ),
        (
            "where(a > b, a, b)",
            "r0 = fused.f64 where(greater(a, b), a, b)",
        ),
        // The accumulator on either side of a non-commutative operation, and as a factor.
        (
            "c / (-abs(a - b)) ",
            "r0 = fused.f64 divide(c, negative(absolute(subtract(a, b))))",
        ),
        (
            "maximum(a*b, c) * 2 - d",
            "r0 = fused.f64 subtract(multiply(maximum(multiply(a, b), c), 2.0), d)",
        ),
        (
            "f*f*f - g",
            "r0 = fused.f32 subtract(multiply(multiply(f, f), f), g)",
        ),
    ] {
        let sig = sig()
            .array("c", DType::F64)
            .array("d", DType::F64)
            .array("g", DType::F32);
        let e = Expr::compile(src, &sig).unwrap();
        assert_eq!(e.disassemble(), lines(&[want, "ret r0"]), "{src}");
    }
    // A value read twice (`a + b` below) is a register, not part of a chain; a costly
    // function ends a chain; integers do not fuse; one operation stays itself; a chain over
    // one array fuses too.
    assert_eq!(
        disasm("(sin(a + b) * (a + b) - b) / 2 + a"),
        lines(&[
            "r0 = add.f64 a, b",
            "r1 = sin.f64 r0",
            "r1 = fused.f64 add(divide(multiply_subtract(r1, r0, b), 2.0), a)",
            "ret r1"
        ])
    );
    assert_eq!(
        disasm("(a*a - 1) / 2"),
        lines(&[
            "r0 = fused.f64 divide(multiply_subtract(a, a, 1.0), 2.0)",
            "ret r0"
        ])
    );
    // Two operands computed by chains join in one: the first is kept aside while the second
    // is computed (`Keep`, `Merge`); the polynomial of the suite is one pass.
    assert_eq!(
        disasm("where(a > b, a, b) * 2 - b*b"),
        lines(&[
            "r0 = fused.f64 subtract(multiply(where(greater(a, b), a, b), 2.0), multiply(b, b))",
            "ret r0"
        ])
    );
    assert_eq!(
        disasm("a**3+4*a**2-2*a+1"),
        lines(&[
            "r0 = fused.f64 add(subtract_multiply(2.0, a, add(cube(a), multiply(4.0, square(a)))), 1.0)",
            "ret r0"
        ])
    );
    // One value at a time is kept: of two operands that keep one each, the longer chain
    // joins.
    assert_eq!(
        disasm("(sqrt(a) + abs(b)) * (sqrt(b) - abs(a))"),
        lines(&[
            "r0 = fused.f64 subtract(sqrt(b), absolute(a))",
            "r0 = fused.f64 multiply(add(sqrt(a), absolute(b)), r0)",
            "ret r0"
        ])
    );
    assert_eq!(
        disasm("i*2 + i - 1"),
        lines(&[
            "r0 = multiply_add.i32 i, 2, i",
            "r0 = subtract.i32 r0, 1",
            "ret r0"
        ])
    );
    assert_eq!(disasm("a*b"), lines(&["r0 = multiply.f64 a, b", "ret r0"]));
    // Long sums are one link per operation, within the operand limit and the link limit
    // (50 links: a chain of 32, then one that goes on from its value).
    let sum = vec!["a + b"; 25].join(" + ");
    let e = Expr::compile(&sum, &sig()).unwrap();
    let body = &e.program().body;
    assert_eq!(body.len(), 2, "{}", e.disassemble());
    assert_eq!(body[0].links.len(), ndexpr::bytecode::MAX_LINKS);
    assert_eq!(body[0].links.len() + body[1].links.len(), 50 + 1);
    let many: Vec<String> = (0..12).map(|k| format!("x{k}")).collect();
    let sig12 = many
        .iter()
        .fold(Signature::new(), |s, n| s.array(n, DType::F64));
    let e = Expr::compile(&many.join(" + "), &sig12).unwrap();
    assert!(e.program().body.len() >= 2, "{}", e.disassemble());
    assert!(e
        .program()
        .body
        .iter()
        .all(|i| i.args.len() <= ndexpr::bytecode::MAX_LINK_OPERANDS));
}

#[test]
fn numpy_power_shortcuts() {
    assert_eq!(disasm("a**2"), lines(&["r0 = square.f64 a", "ret r0"]));
    assert_eq!(disasm("a**0.5"), lines(&["r0 = sqrt.f64 a", "ret r0"]));
    assert_eq!(disasm("a**-1"), lines(&["r0 = reciprocal.f64 a", "ret r0"]));
    // A float cube keeps NumPy's pow (x*x*x rounds twice): `cube` is the `power` kernel's
    // integral road, an operation of one operand (so a fused chain can take it).
    assert_eq!(disasm("a**3"), lines(&["r0 = cube.f64 a", "ret r0"]));
    assert_eq!(disasm("a**3.0"), lines(&["r0 = cube.f64 a", "ret r0"]));
    assert_eq!(disasm("a**4"), lines(&["r0 = power.f64 a, 4.0", "ret r0"]));
    // Integer powers are exact by repeated multiplication (x**3 = x * x²).
    assert_eq!(
        disasm("i**3"),
        lines(&[
            "r0 = multiply.i32 i, i",
            "r0 = multiply.i32 i, r0",
            "ret r0"
        ])
    );
    assert_eq!(disasm("i**0"), lines(&["r0 = copy.i32 1", "ret r0"]));
    let e = err("i ** -2");
    assert_eq!(e.kind(), ErrorKind::Value);
    assert_eq!(
        e.message(),
        "Integers to negative integer powers are not allowed."
    );
}

#[test]
fn float16_is_computed_in_float32_and_rounded_per_operation() {
    assert_eq!(
        disasm("h * h + h"),
        lines(&[
            "r0 = cast.f16.f32 h",
            "r1 = multiply.f32 r0, r0",
            "r2 = cast.f32.f16 r1",
            "r1 = cast.f16.f32 r2",
            "r1 = add.f32 r1, r0",
            "r2 = cast.f32.f16 r1",
            "ret r2"
        ])
    );
}

#[test]
fn scalar_variables_stay_scalars_and_scalar_work_is_hoisted() {
    assert_eq!(
        disasm("a * (k * 2)"),
        lines(&[
            "s2 = multiply.f64 k, 2.0",
            "r0 = multiply.f64 a, s2",
            "ret r0"
        ])
    );
    let e = Expr::compile("a * (k * 2)", &sig()).unwrap();
    assert_eq!(e.program().prologue.len(), 1);
    assert!(e.program().body[0].args.contains(&Operand::Scalar(2)));
    assert_eq!(e.variables(), vec!["a", "k"]);
}

#[test]
fn variables_include_those_read_only_inside_reductions() {
    let vars = |src: &str| {
        Expr::compile(src, &sig())
            .unwrap()
            .variables()
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(vars("sum(b) + a"), ["a", "b"]);
    assert_eq!(vars("sum(b)"), ["b"]);
    assert_eq!(vars("a - mean(a)"), ["a"]);
    // Nested: `i` only inside the inner reduction, `k` (a scalar) only inside the outer one.
    assert_eq!(vars("a * sum(b - k*max(i))"), ["a", "b", "i", "k"]);
    assert_eq!(vars("sum(a*b, axis=0)"), ["a", "b"]);
    assert_eq!(vars("min(f) + k"), ["f", "k"]);
}

#[test]
fn comparisons_and_where() {
    assert_eq!(
        disasm("where(i > i8, i, 7)"),
        lines(&[
            "r0 = cast.i8.i32 i8",
            "r1 = greater.i32->bool i, r0",
            "r0 = where.i32 r1, i, 7",
            "ret r0"
        ])
    );
    assert_eq!(disasm("a"), lines(&["r0 = copy.f64 a", "ret r0"]));
}

#[test]
fn logical_operators_test_truthiness() {
    assert_eq!(
        disasm("a and m"),
        lines(&[
            "r0 = cast.f64.bool a",
            "r0 = logical_and.bool r0, m",
            "ret r0"
        ])
    );
}

#[test]
fn real_inputs_of_imag_still_broadcast() {
    let e = Expr::compile("imag(a)", &sig()).unwrap();
    assert_eq!(e.disassemble(), lines(&["r0 = copy.f64 0.0", "ret r0"]));
    assert_eq!(e.program().inputs.len(), 1, "a still decides the shape");
}

#[test]
fn unknown_variable_suggests_a_name() {
    let e = err("2*bb + 48");
    assert_eq!(e.kind(), ErrorKind::UnknownVariable);
    assert_eq!(e.message(), "unknown variable `bb`");
    assert_eq!(e.help(), Some("did you mean `b`?"));
    assert_eq!(
        e.to_string(),
        "unknown variable `bb`\n  2*bb + 48\n    ^^\nhelp: did you mean `b`?"
    );
}

#[test]
fn unknown_function_suggests_a_function() {
    let e = err("sinn(a)");
    assert_eq!(e.kind(), ErrorKind::UnknownFunction);
    assert_eq!(e.help(), Some("did you mean `sin`?"));
    assert_eq!(e.caret_line().unwrap(), "^^^^");
}

#[test]
fn wrong_arity() {
    let e = err("arctan2(a)");
    assert_eq!(e.kind(), ErrorKind::Arity);
    assert_eq!(e.message(), "`arctan2` takes 2 arguments but 1 were given");
    let e = err("1 + sin(a, b)");
    assert_eq!(e.message(), "`sin` takes 1 argument but 2 were given");
    assert_eq!(e.caret_line().unwrap(), "    ^^^^^^^^^");
}

#[test]
fn type_errors() {
    for src in ["a << 1.5", "~a", "m - m", "-m", "a & b"] {
        assert_eq!(err(src).kind(), ErrorKind::Type, "{src}");
    }
    let e = err("i8 + 300");
    assert_eq!(e.kind(), ErrorKind::Value);
    assert!(
        e.message().contains("300 out of bounds for int8"),
        "{}",
        e.message()
    );
    let e = err("1 // 0 + a");
    assert_eq!(e.kind(), ErrorKind::Value);
    assert_eq!(e.caret_line().unwrap(), "^^^^^^");
}

#[test]
fn reductions_take_axis_and_other_calls_no_keywords() {
    assert_eq!(
        disasm("sum(a*b)"),
        lines(&["r0 = multiply.f64 a, b", "ret sum.f64 r0"])
    );
    assert!(err("sum(a, axis=b)").message().contains("integer literal"));
    assert!(err("a + sum(a, axis=0)")
        .message()
        .contains("whole expression"));
    assert!(err("sum(a, foo=0)")
        .message()
        .contains("unexpected keyword"));
    assert!(err("argmax(a, axis=0)").message().contains("no keyword"));
    assert!(err("sin(a, axis=0)").message().contains("keyword"));
}

#[test]
fn compiled_expressions_are_shareable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Expr>();
}

#[test]
fn unfused_programs_split_multiply_adds_back_into_numpys_operations() {
    // The naive baseline of `ndexpr bench` runs one NumPy operation at a time.
    for (src, want) in [
        (
            "2*a + 48",
            ["r1 = multiply.f64 2.0, a", "r0 = add.f64 r1, 48.0"],
        ),
        (
            "b - a*a",
            ["r1 = multiply.f64 a, a", "r0 = subtract.f64 b, r1"],
        ),
    ] {
        let e = Expr::compile(src, &sig()).unwrap();
        assert_eq!(
            e.program().unfused().disassemble(),
            lines(&[want[0], want[1], "ret r0"]),
            "{src}"
        );
    }
    // Reductions and their sub-programs too; nothing else changes.
    let e = Expr::compile("sum(a*b + 1) - a", &sig()).unwrap();
    let u = e.program().unfused();
    let sub = &u.reductions[0].program;
    assert!(sub.body.iter().any(|i| i.op == Op::Multiply));
    assert!(sub.body.iter().all(|i| i.op != Op::MultiplyAdd));
    let plain = Expr::compile("sin(a) + b", &sig()).unwrap();
    assert_eq!(plain.program().unfused(), *plain.program());
    // Fused chains: one instruction per link, the last into the chain's register.
    let e = Expr::compile("where(a > b, a, b) * 2 - b*b", &sig()).unwrap();
    assert_eq!(
        e.program().unfused().disassemble(),
        lines(&[
            "r1 = multiply.f64 b, b",
            "r2 = greater.f64->bool a, b",
            "r3 = where.f64 r2, a, b",
            "r4 = multiply.f64 r3, 2.0",
            "r0 = subtract.f64 r4, r1",
            "ret r0"
        ])
    );
    let e = Expr::compile("a**3 + 4*a**2", &sig()).unwrap();
    assert_eq!(
        e.program().unfused().disassemble(),
        lines(&[
            "r1 = cube.f64 a",
            "r2 = square.f64 a",
            "r3 = multiply.f64 4.0, r2",
            "r0 = add.f64 r1, r3",
            "ret r0"
        ])
    );
}
