//! ndexpr evaluates NumPy-style array expressions given as strings (`"2*a + 48"`,
//! `"where(a > b, sin(a)**2, 0)"`) over n-dimensional arrays, with NumPy 2's semantics, without
//! full-size temporaries.
//!
//! The pipeline, one module per stage: [`syntax`] parses, [`types`] holds dtypes and promotion,
//! [`compile`] type-checks, optimises and lowers to [`bytecode`], `vm` runs it over blocks with
//! the [`kernels`].

pub mod bytecode;
pub mod compile;
pub mod error;
pub mod kernels;
pub mod syntax;
pub mod types;
pub mod vm;

pub use compile::{Expr, PyValue, Signature, VarSpec};
pub use error::{Error, ErrorKind, Result, Span};
pub use types::{DType, Scalar};
pub use vm::{
    evaluate, num_threads, set_num_threads, Array, ArrayMut, ArrayRef, IntoVar, Prepared, Var, Vars,
};

/// The README's Rust examples, compiled and run as doc-tests so they cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
