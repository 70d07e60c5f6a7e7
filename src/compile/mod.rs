//! From AST to bytecode: type checking, the IR DAG, optimisation, lowering and register allocation.

mod check;
pub use check::reduction_dtypes;
pub mod functions;
pub mod ir;
pub mod literal;
mod lower;

use crate::bytecode::Program;
use crate::error::{Error, ErrorKind, Result};
use crate::types::DType;
pub use literal::PyValue;
use std::sync::Arc;

/// How a variable is supplied: its dtype, and whether it is a scalar (never expanded to a block).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VarSpec {
    pub dtype: DType,
    pub scalar: bool,
}

/// The variables an expression may read, with their dtypes; and variables bound to Python
/// values, which act exactly as if their value were written in the expression (weak scalars:
/// `a + k` with `k = 3` and `a` int8 is int8, as NumPy 2 gives `a + 3`).
#[derive(Debug, Clone, Default)]
pub struct Signature {
    vars: Vec<(String, VarSpec)>,
    literals: Vec<(String, PyValue)>,
}

/// A Python value's identity for caching: its variant and exact bits.
fn literal_key(v: &PyValue) -> (u8, u128, u64) {
    match *v {
        PyValue::Int(i) => (0, i as u128, 0),
        PyValue::Float(x) => (1, x.to_bits() as u128, 0),
        PyValue::Complex(z) => (2, z.re.to_bits() as u128, z.im.to_bits()),
        PyValue::Bool(b) => (3, b as u128, 0),
    }
}

impl PartialEq for Signature {
    fn eq(&self, other: &Signature) -> bool {
        self.vars == other.vars
            && self.literals.len() == other.literals.len()
            && self
                .literals
                .iter()
                .zip(&other.literals)
                .all(|((a, x), (b, y))| a == b && literal_key(x) == literal_key(y))
    }
}

impl Eq for Signature {}

impl std::hash::Hash for Signature {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.vars.hash(state);
        for (name, v) in &self.literals {
            name.hash(state);
            literal_key(v).hash(state);
        }
    }
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

    /// Adds (or replaces) a variable bound to a Python value, compiled in as a literal.
    pub fn literal(mut self, name: &str, value: PyValue) -> Signature {
        self.vars.retain(|(n, _)| n != name);
        match self.literals.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => self.literals.push((name.to_string(), value)),
        }
        self
    }

    pub fn set(&mut self, name: &str, spec: VarSpec) {
        self.literals.retain(|(n, _)| n != name);
        match self.vars.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = spec,
            None => self.vars.push((name.to_string(), spec)),
        }
    }

    pub fn get(&self, name: &str) -> Option<VarSpec> {
        self.vars.iter().find(|(n, _)| n == name).map(|(_, s)| *s)
    }

    /// The Python value `name` is bound to, if it is a literal variable.
    pub fn get_literal(&self, name: &str) -> Option<PyValue> {
        self.literals
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }

    /// Every variable's name, literal ones last.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.vars
            .iter()
            .map(|(n, _)| n.as_str())
            .chain(self.literals.iter().map(|(n, _)| n.as_str()))
    }
}

/// A compiled expression: immutable, shareable between threads.
#[derive(Debug, Clone)]
pub struct Expr {
    source: Arc<str>,
    program: Arc<Program>,
    /// Variables compiled in as Python literals: evaluations must bind the same values.
    literals: Arc<[(String, PyValue)]>,
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
                &checker.frames[0],
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
            literals: signature.literals.clone().into(),
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The variables compiled in as Python literals, with their values.
    pub fn literals(&self) -> &[(String, PyValue)] {
        &self.literals
    }

    /// Whether `value` is exactly the literal `name` was compiled with.
    pub fn literal_matches(name_value: &(String, PyValue), value: &PyValue) -> bool {
        literal_key(&name_value.1) == literal_key(value)
    }

    /// The dtype of the result.
    pub fn dtype(&self) -> DType {
        self.program.result_dtype
    }

    /// The variables the expression reads, each once: arrays first, then scalars, each in the
    /// order the compiled program reads them (the main pass's, then those read only inside full
    /// reductions, which run as passes of their own: `sum(b) + a` reads `a` and `b`).
    pub fn variables(&self) -> Vec<&str> {
        fn collect<'p>(p: &'p Program, arrays: bool, names: &mut Vec<&'p str>) {
            let vars = if arrays { &p.inputs } else { &p.scalar_vars };
            for v in vars {
                if !names.contains(&v.name.as_str()) {
                    names.push(&v.name);
                }
            }
            for sub in &p.reductions {
                collect(&sub.program, arrays, names);
            }
        }
        let mut names = Vec::new();
        collect(&self.program, true, &mut names);
        collect(&self.program, false, &mut names);
        names
    }

    pub fn disassemble(&self) -> String {
        self.program.disassemble()
    }
}
