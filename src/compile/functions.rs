//! The functions an expression may call, and "did you mean" suggestions for names that are not.

use crate::bytecode::Op;

/// Every callable name with the operation it denotes. Aliases follow NumPy (`absolute`, `rint`,
/// `conjugate`) and numexpr (`abs`, `round`, `conj`).
pub const FUNCTIONS: &[(&str, Op)] = &[
    ("where", Op::Where),
    ("sin", Op::Sin),
    ("cos", Op::Cos),
    ("tan", Op::Tan),
    ("arcsin", Op::Arcsin),
    ("arccos", Op::Arccos),
    ("arctan", Op::Arctan),
    ("arctan2", Op::Arctan2),
    ("sinh", Op::Sinh),
    ("cosh", Op::Cosh),
    ("tanh", Op::Tanh),
    ("arcsinh", Op::Arcsinh),
    ("arccosh", Op::Arccosh),
    ("arctanh", Op::Arctanh),
    ("log", Op::Log),
    ("log10", Op::Log10),
    ("log1p", Op::Log1p),
    ("log2", Op::Log2),
    ("exp", Op::Exp),
    ("expm1", Op::Expm1),
    ("exp2", Op::Exp2),
    ("sqrt", Op::Sqrt),
    ("cbrt", Op::Cbrt),
    ("square", Op::Square),
    ("reciprocal", Op::Reciprocal),
    ("abs", Op::Absolute),
    ("absolute", Op::Absolute),
    ("ceil", Op::Ceil),
    ("floor", Op::Floor),
    ("round", Op::Rint),
    ("rint", Op::Rint),
    ("trunc", Op::Trunc),
    ("sign", Op::Sign),
    ("fmod", Op::Fmod),
    ("hypot", Op::Hypot),
    ("nextafter", Op::Nextafter),
    ("copysign", Op::Copysign),
    ("maximum", Op::Maximum),
    ("minimum", Op::Minimum),
    ("isnan", Op::IsNan),
    ("isfinite", Op::IsFinite),
    ("isinf", Op::IsInf),
    ("signbit", Op::SignBit),
    ("real", Op::Real),
    ("imag", Op::Imag),
    ("complex", Op::Complex),
    ("conj", Op::Conjugate),
    ("conjugate", Op::Conjugate),
    ("clip", Op::Clip),
    ("fma", Op::Fma),
    ("copy", Op::Copy),
];

/// The reductions' names (the checker handles them; see [`crate::bytecode::ReduceKind`]).
pub const REDUCTIONS: &[&str] = &[
    "sum", "prod", "min", "max", "mean", "any", "all", "argmin", "argmax",
];

pub fn lookup(name: &str) -> Option<Op> {
    FUNCTIONS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, op)| op)
}

/// Levenshtein distance, for suggestions.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + (ca != cb) as usize).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The closest candidate within a typo's reach (a third of the name's length, at least 1),
/// preferring the first of equally close ones.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let reach = (name.chars().count() / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = distance(&name.to_lowercase(), &c.to_lowercase());
        if d <= reach && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let names = FUNCTIONS.iter().map(|(n, _)| *n);
        assert_eq!(did_you_mean("sinn", names.clone()), Some("sin"));
        assert_eq!(did_you_mean("arctn2", names.clone()), Some("arctan2"));
        assert_eq!(did_you_mean("qqqqqq", names), None);
        assert_eq!(did_you_mean("bb", ["a", "b"]), Some("b"));
        assert_eq!(did_you_mean("Alpha", ["alpha", "beta"]), Some("alpha"));
    }

    #[test]
    fn distances() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("abc", "abc"), 0);
    }
}
