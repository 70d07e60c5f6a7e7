//! `check` and `disasm`: compile an expression for given variable dtypes and show the result.

use clap::Args;
use ndexpr::syntax::ast::{Expr as Ast, ExprKind};
use ndexpr::{DType, Expr, Signature};
use std::process::ExitCode;

#[derive(Args)]
pub struct InspectArgs {
    /// The expression, e.g. '2*a + 48'.
    pub expr: String,
    /// Variable dtypes as NAME:DTYPE (i8 ... u64, f16, f32, f64, c64, c128, bool); add `scalar`
    /// (`k:f64scalar` or `k:f64:scalar`) for a scalar. Variables not listed are f64 arrays.
    pub vars: Vec<String>,
}

/// Parses `NAME:DTYPE[scalar]` into the signature.
fn parse_var(spec: &str, signature: &mut Signature) -> Result<(), String> {
    let (name, ty) = spec
        .split_once(':')
        .ok_or_else(|| format!("`{spec}` is not NAME:DTYPE"))?;
    let (ty, scalar) = match ty
        .strip_suffix(":scalar")
        .or_else(|| ty.strip_suffix("scalar"))
    {
        Some(t) => (t, true),
        None => (ty, false),
    };
    let dtype = DType::from_name(ty).ok_or_else(|| format!("unknown dtype `{ty}` in `{spec}`"))?;
    signature.set(name, ndexpr::VarSpec { dtype, scalar });
    Ok(())
}

/// Every name the expression reads as a variable.
pub fn names(ast: &Ast, out: &mut Vec<String>) {
    match &ast.kind {
        ExprKind::Name(n) if !out.contains(n) => out.push(n.clone()),
        ExprKind::Unary { operand, .. } => names(operand, out),
        ExprKind::Binary { lhs, rhs, .. } => {
            names(lhs, out);
            names(rhs, out);
        }
        ExprKind::Call { args, kwargs, .. } => {
            args.iter().for_each(|a| names(a, out));
            kwargs.iter().for_each(|k| names(&k.value, out));
        }
        _ => {}
    }
}

fn compile(args: &InspectArgs) -> Result<Expr, ExitCode> {
    let mut signature = Signature::new();
    for spec in &args.vars {
        if let Err(e) = parse_var(spec, &mut signature) {
            eprintln!("error: {e}");
            return Err(ExitCode::from(2));
        }
    }
    // Unlisted names default to float64 arrays; a syntax error is reported by compile below.
    if let Ok(ast) = ndexpr::syntax::parse(&args.expr) {
        let mut found = Vec::new();
        names(&ast, &mut found);
        for n in found {
            if signature.get(&n).is_none() {
                signature = signature.array(&n, DType::F64);
            }
        }
    }
    Expr::compile(&args.expr, &signature).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(1)
    })
}

pub fn check(args: &InspectArgs) -> ExitCode {
    match compile(args) {
        Ok(expr) => {
            outln!("{}", expr.dtype());
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

pub fn disasm(args: &InspectArgs) -> ExitCode {
    match compile(args) {
        Ok(expr) => {
            outln!("{}", expr.disassemble().trim_end_matches('\n'));
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}
