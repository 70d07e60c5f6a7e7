//! From source text to AST: the logos lexer, the lalrpop grammar, and the spans for diagnostics.

pub mod ast;

use crate::error::Result;

/// Parses an expression. Errors carry the source and a span (see [`crate::Error`]).
pub fn parse(src: &str) -> Result<ast::Expr> {
    let _ = src;
    unimplemented!("parse")
}
