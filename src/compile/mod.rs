//! From AST to bytecode: type checking, the IR DAG, optimisation, lowering and register allocation.

mod check;
pub mod functions;
pub mod ir;
pub mod literal;
mod lower;

use crate::bytecode::Program;
use crate::error::{Error, ErrorKind, Result};
use crate::types::DType;
use std::sync::Arc;

/// How a variable is supplied: its dtype, and whether it is a scalar (never expanded to a block).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VarSpec {
    pub dtype: DType,
    pub scalar: bool,
}

/// The variables an expression may read, with their dtypes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Signature {
    vars: Vec<(String, VarSpec)>,
}

impl Signature {
    pub fn new() -> Signature {
        Signature::default()
    }

    /// Adds (or replaces) an array variable.
    pub fn array(mut self, name: &str, dtype: DType) -> Signature {
        self.set(
            name,
            VarSpec {
                dtype,
                scalar: false,
            },
        );
        self
    }

    /// Adds (or replaces) a scalar variable: a NumPy scalar, strong in promotion.
    pub fn scalar(mut self, name: &str, dtype: DType) -> Signature {
        self.set(
            name,
            VarSpec {
                dtype,
                scalar: true,
            },
        );
        self
    }

    pub fn set(&mut self, name: &str, spec: VarSpec) {
        match self.vars.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = spec,
            None => self.vars.push((name.to_string(), spec)),
        }
    }

    pub fn get(&self, name: &str) -> Option<VarSpec> {
        self.vars.iter().find(|(n, _)| n == name).map(|(_, s)| *s)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.vars.iter().map(|(n, _)| n.as_str())
    }
}

/// A compiled expression: immutable, shareable between threads.
#[derive(Debug, Clone)]
pub struct Expr {
    source: Arc<str>,
    program: Arc<Program>,
}

impl Expr {
    /// Parses, type-checks and compiles `src` for variables of the given signature.
    pub fn compile(src: &str, signature: &Signature) -> Result<Expr> {
        // A panic here is a bug in ndexpr; it must still reach the caller as an error.
        let compiled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let ast = crate::syntax::parse(src)?;
            let mut checker = check::Checker::new(signature);
            let root = checker.check_root(&ast)?;
            Ok(lower::lower(
                &checker.dag,
                root,
                &checker.arrays,
                &checker.scalars,
            ))
        }));
        let program = match compiled {
            Ok(result) => result.map_err(|e: Error| e.with_source(src))?,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                return Err(Error::new(
                    ErrorKind::Internal,
                    format!("internal error while compiling: {what}"),
                )
                .with_source(src));
            }
        };
        Ok(Expr {
            source: src.into(),
            program: Arc::new(program),
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The dtype of the result.
    pub fn dtype(&self) -> DType {
        self.program.result_dtype
    }

    /// The variables the expression reads, in order: arrays first, then scalars.
    pub fn variables(&self) -> Vec<&str> {
        let p = &self.program;
        p.inputs
            .iter()
            .chain(&p.scalar_vars)
            .map(|v| v.name.as_str())
            .collect()
    }

    pub fn disassemble(&self) -> String {
        self.program.disassemble()
    }
}
