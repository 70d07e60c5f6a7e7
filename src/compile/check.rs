//! Type checking: resolves names, folds Python literal arithmetic, gives every node a NumPy 2
//! dtype (through [`crate::types::resolve`]), inserts the casts NumPy's loops imply, and builds
//! the IR DAG. NumPy's own shortcuts for `x**2`, `x**-1` and `x**0.5` are applied here, where the
//! exponent is still known to be a Python literal.

use super::functions;
use super::ir::{Dag, Node, NodeId};
use super::literal::{self, PyValue};
use super::Signature;
use crate::bytecode::{Op, Reduce, ReduceKind};
use crate::error::{Error, ErrorKind, Result, Span};
use crate::syntax::ast::{BinaryOp, Expr, ExprKind, UnaryOp};
use crate::types::{self, DType, Scalar, Ty};
use num_complex::Complex64;

/// A checked subexpression: a Python literal not yet given a dtype, or a DAG node.
#[derive(Debug, Clone, Copy)]
enum Value {
    Lit(PyValue),
    Node(NodeId),
}

pub struct Checker<'a> {
    signature: &'a Signature,
    pub dag: Dag,
    /// Array variables in order of first mention. All of them take part in broadcasting, even
    /// one the optimiser removes (`imag(a)` of a real `a` is zeros of `a`'s shape).
    pub arrays: Vec<(String, DType)>,
    pub scalars: Vec<(String, DType)>,
    /// The array variables mentioned at each level of reduction nesting being checked
    /// (indices into `arrays`, in order of first mention): the outermost is the root
    /// program's, each reduction's argument opens one of its own.
    pub frames: Vec<Vec<usize>>,
}

fn binary_op(op: BinaryOp) -> Op {
    match op {
        BinaryOp::Add => Op::Add,
        BinaryOp::Sub => Op::Subtract,
        BinaryOp::Mul => Op::Multiply,
        BinaryOp::Div => Op::TrueDivide,
        BinaryOp::FloorDiv => Op::FloorDivide,
        BinaryOp::Mod => Op::Remainder,
        BinaryOp::Pow => Op::Power,
        BinaryOp::LShift => Op::LeftShift,
        BinaryOp::RShift => Op::RightShift,
        BinaryOp::BitAnd => Op::BitwiseAnd,
        BinaryOp::BitOr => Op::BitwiseOr,
        BinaryOp::BitXor => Op::BitwiseXor,
        BinaryOp::Lt => Op::Less,
        BinaryOp::Le => Op::LessEqual,
        BinaryOp::Gt => Op::Greater,
        BinaryOp::Ge => Op::GreaterEqual,
        BinaryOp::Eq => Op::Equal,
        BinaryOp::Ne => Op::NotEqual,
        BinaryOp::And => Op::LogicalAnd,
        BinaryOp::Or => Op::LogicalOr,
    }
}

fn unary_op(op: UnaryOp) -> Op {
    match op {
        UnaryOp::Neg => Op::Negative,
        UnaryOp::Pos => Op::Positive,
        UnaryOp::Invert => Op::Invert,
        UnaryOp::Not => Op::LogicalNot,
    }
}

/// The dtype a reduction of `d` values accumulates in, and its result dtype, as NumPy 2 gives
/// them on 64-bit Linux (checked in `tests/data/reductions.tsv`): `sum`/`prod` of bool and
/// signed ints in int64 (`np.int_`), of unsigned ints in uint64; float16 accumulated in float32
/// (NumPy's half loops reduce in float and round once) and rounded back; `mean` of ints and bool
/// in float64; `min`/`max` keep the dtype (float16 compared as float32, which is exact);
/// `argmin`/`argmax` give int64; `any`/`all` test each value's truth as bool.
pub fn reduction_dtypes(kind: ReduceKind, d: DType) -> (DType, DType) {
    use crate::types::Kind;
    let f16 = d == DType::F16;
    match kind {
        ReduceKind::Sum | ReduceKind::Prod => match d.kind() {
            Kind::Bool | Kind::Signed => (DType::I64, DType::I64),
            Kind::Unsigned => (DType::U64, DType::U64),
            _ if f16 => (DType::F32, DType::F16),
            _ => (d, d),
        },
        ReduceKind::Mean => match d.kind() {
            Kind::Bool | Kind::Signed | Kind::Unsigned => (DType::F64, DType::F64),
            _ if f16 => (DType::F32, DType::F16),
            _ => (d, d),
        },
        ReduceKind::Min | ReduceKind::Max if f16 => (DType::F32, DType::F16),
        ReduceKind::Min | ReduceKind::Max => (d, d),
        ReduceKind::ArgMin | ReduceKind::ArgMax if f16 => (DType::F32, DType::I64),
        ReduceKind::ArgMin | ReduceKind::ArgMax => (d, DType::I64),
        ReduceKind::Any | ReduceKind::All => (DType::Bool, DType::Bool),
    }
}

/// NumPy reports a Python int that does not fit as OverflowError: a value error, not a type one.
fn type_rule_error(span: Span, message: String) -> Error {
    let kind = if message.contains("out of bounds") {
        ErrorKind::Value
    } else {
        ErrorKind::Type
    };
    Error::at(kind, span, message)
}

impl<'a> Checker<'a> {
    pub fn new(signature: &'a Signature) -> Checker<'a> {
        Checker {
            signature,
            dag: Dag::default(),
            arrays: Vec::new(),
            scalars: Vec::new(),
            frames: vec![Vec::new()],
        }
    }

    /// Checks the whole expression; the returned node is the result.
    pub fn check_root(&mut self, expr: &Expr) -> Result<NodeId> {
        // A reduction along an axis may stand only here, as the whole expression.
        if let ExprKind::Call {
            func, args, kwargs, ..
        } = &expr.kind
        {
            if let Some(kind) = ReduceKind::from_name(func) {
                return self.reduction(kind, args, kwargs, expr.span, true);
            }
        }
        match self.check(expr)? {
            Value::Node(n) => Ok(n),
            Value::Lit(v) => {
                let s = v
                    .default_scalar()
                    .map_err(|m| Error::at(ErrorKind::Value, expr.span, m))?;
                Ok(self.dag.constant_node(s))
            }
        }
    }

    fn ty(&self, v: Value) -> Ty {
        match v {
            Value::Lit(p) => p.ty(),
            Value::Node(n) => Ty::Strong(self.dag.dtype(n)),
        }
    }

    /// The value as a node of `dtype`: a literal becomes a constant, a node is cast.
    fn materialize(&mut self, v: Value, dtype: DType, span: Span) -> Result<NodeId> {
        match v {
            Value::Node(n) => Ok(self.dag.cast(n, dtype)),
            Value::Lit(p) => {
                let s = p
                    .to_scalar(dtype)
                    .map_err(|m| Error::at(ErrorKind::Value, span, m))?;
                Ok(self.dag.constant_node(s))
            }
        }
    }

    fn check(&mut self, expr: &Expr) -> Result<Value> {
        let span = expr.span;
        match &expr.kind {
            ExprKind::Int(v) => Ok(Value::Lit(PyValue::Int(*v as i128))),
            ExprKind::Float(x) => Ok(Value::Lit(PyValue::Float(*x))),
            ExprKind::Imag(x) => Ok(Value::Lit(PyValue::Complex(Complex64::new(0.0, *x)))),
            ExprKind::Bool(b) => Ok(Value::Lit(PyValue::Bool(*b))),
            ExprKind::Name(name) => self.name(name, span),
            ExprKind::Unary { op, operand } => {
                let x = self.check(operand)?;
                if let Value::Lit(p) = x {
                    return literal::unary(*op, p)
                        .map(Value::Lit)
                        .map_err(|m| Error::at(ErrorKind::Type, span, m));
                }
                self.ufunc(unary_op(*op), &[(x, operand.span)], span)
                    .map(Value::Node)
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let (a, b) = (self.check(lhs)?, self.check(rhs)?);
                if let (Value::Lit(x), Value::Lit(y)) = (a, b) {
                    let kind = |m: &String| {
                        if m.contains("zero")
                            || m.contains("large")
                            || m.contains("range")
                            || m.contains("shift")
                        {
                            ErrorKind::Value
                        } else {
                            ErrorKind::Type
                        }
                    };
                    return literal::binary(*op, x, y)
                        .map(Value::Lit)
                        .map_err(|m| Error::at(kind(&m), span, m));
                }
                if *op == BinaryOp::Pow {
                    if let Some(n) = self.power_shortcut(a, b, span)? {
                        return Ok(Value::Node(n));
                    }
                }
                self.ufunc(binary_op(*op), &[(a, lhs.span), (b, rhs.span)], span)
                    .map(Value::Node)
            }
            ExprKind::Call {
                func,
                func_span,
                args,
                kwargs,
            } => {
                if let Some(kind) = ReduceKind::from_name(func) {
                    return self
                        .reduction(kind, args, kwargs, span, false)
                        .map(Value::Node);
                }
                if let Some(kw) = kwargs.first() {
                    return Err(Error::at(
                        ErrorKind::Syntax,
                        kw.name_span.to(kw.value.span),
                        format!("`{func}` takes no keyword arguments"),
                    ));
                }
                let Some(op) = functions::lookup(func) else {
                    let mut e = Error::at(
                        ErrorKind::UnknownFunction,
                        *func_span,
                        format!("unknown function `{func}`"),
                    );
                    if let Some(s) =
                        functions::did_you_mean(func, functions::FUNCTIONS.iter().map(|(n, _)| *n))
                    {
                        e = e.with_help(format!("did you mean `{s}`?"));
                    }
                    return Err(e);
                };
                if args.len() != op.arity() {
                    let plural = if op.arity() == 1 { "" } else { "s" };
                    return Err(Error::at(
                        ErrorKind::Arity,
                        span,
                        format!(
                            "`{func}` takes {} argument{plural} but {} were given",
                            op.arity(),
                            args.len()
                        ),
                    ));
                }
                let mut checked = Vec::with_capacity(args.len());
                for a in args {
                    checked.push((self.check(a)?, a.span));
                }
                if op == Op::Copy {
                    // A value is never shared with the caller's arrays, so a copy is itself.
                    let (v, s) = checked[0];
                    return match v {
                        Value::Lit(p) => {
                            let c = p
                                .default_scalar()
                                .map_err(|m| Error::at(ErrorKind::Value, s, m))?;
                            Ok(Value::Node(self.dag.constant_node(c)))
                        }
                        node => Ok(node),
                    };
                }
                self.ufunc(op, &checked, span).map(Value::Node)
            }
        }
    }

    fn name(&mut self, name: &str, span: Span) -> Result<Value> {
        if let Some(v) = self.signature.get_literal(name) {
            return Ok(Value::Lit(v));
        }
        let Some(spec) = self.signature.get(name) else {
            let mut e = Error::at(
                ErrorKind::UnknownVariable,
                span,
                format!("unknown variable `{name}`"),
            );
            if let Some(s) = functions::did_you_mean(name, self.signature.names()) {
                e = e.with_help(format!("did you mean `{s}`?"));
            } else if functions::lookup(name).is_some() {
                e = e.with_help(format!("`{name}` is a function: call it as {name}(...)"));
            }
            return Err(e);
        };
        let list = if spec.scalar {
            &mut self.scalars
        } else {
            &mut self.arrays
        };
        let index = match list.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                list.push((name.to_string(), spec.dtype));
                list.len() - 1
            }
        };
        if !spec.scalar {
            let frame = self.frames.last_mut().expect("the root frame");
            if !frame.contains(&index) {
                frame.push(index);
            }
        }
        let node = if spec.scalar {
            self.dag.scalar_var(index, spec.dtype)
        } else {
            self.dag.input(index, spec.dtype)
        };
        Ok(Value::Node(node))
    }

    /// `sum(x)`, `sum(x, axis)`, `sum(x, axis=K)` and the other reductions. The axis must be an
    /// integer literal (it decides the result's shape, which must be known before any data is
    /// read); a reduction along an axis may only be the whole expression (`at_root`).
    fn reduction(
        &mut self,
        kind: ReduceKind,
        args: &[Expr],
        kwargs: &[crate::syntax::ast::Keyword],
        span: Span,
        at_root: bool,
    ) -> Result<NodeId> {
        let name = kind.name();
        let takes_axis = !matches!(kind, ReduceKind::ArgMin | ReduceKind::ArgMax);
        for kw in kwargs {
            if kw.name != "axis" || !takes_axis {
                return Err(Error::at(
                    ErrorKind::Syntax,
                    kw.name_span.to(kw.value.span),
                    if takes_axis {
                        format!("`{name}` got an unexpected keyword argument `{}`", kw.name)
                    } else {
                        format!("`{name}` takes no keyword arguments (it is over all elements)")
                    },
                ));
            }
        }
        let max_args = if takes_axis { 2 } else { 1 };
        if args.is_empty() || args.len() > max_args || args.len() + kwargs.len() > max_args {
            let message = if takes_axis {
                format!("`{name}` takes an expression and an optional axis")
            } else {
                format!("`{name}` takes 1 argument (over all elements; no axis)")
            };
            return Err(Error::at(ErrorKind::Arity, span, message));
        }
        let axis_expr = args.get(1).or(kwargs.first().map(|k| &k.value));
        let axis = match axis_expr {
            None => None,
            Some(e) => {
                let Some(a) = e.int_literal() else {
                    return Err(Error::at(
                        ErrorKind::Type,
                        e.span,
                        "the axis of a reduction must be an integer literal",
                    ));
                };
                Some((a, e.span))
            }
        };
        if axis.is_some() && !at_root {
            return Err(Error::at(
                ErrorKind::Syntax,
                span,
                format!(
                    "a reduction along an axis must be the whole expression: `{name}(..., axis)` \
                     inside a larger expression is not supported"
                ),
            )
            .with_help(
                "reduce over all elements (no axis), or evaluate the reduction on its own",
            ));
        }
        self.frames.push(Vec::new());
        let checked = self.check(&args[0]);
        let inputs = self.frames.pop().expect("pushed above");
        let arg = match checked? {
            Value::Node(n) => n,
            Value::Lit(p) => {
                let s = p
                    .default_scalar()
                    .map_err(|m| Error::at(ErrorKind::Value, args[0].span, m))?;
                self.dag.constant_node(s)
            }
        };
        let d = self.dag.dtype(arg);
        let (ty, out) = reduction_dtypes(kind, d);
        let arg = self.dag.cast(arg, ty);
        let spec = Reduce {
            kind,
            ty,
            out,
            axis: axis.map(|(a, _)| a),
            axis_span: axis.map(|(_, s)| s).unwrap_or(span),
        };
        Ok(self.dag.reduce(spec, arg, inputs))
    }

    /// NumPy's `ndarray.__pow__` replaces a float or complex array to the Python-literal power
    /// `2` by `square`, `-1` by `reciprocal` and `0.5` by `sqrt`, so ndexpr does too (same bits).
    /// It also writes `x**2.0` as `square` (the correctly rounded result, which `pow` is within
    /// its error bound of) and integer powers by a non-negative literal as multiplications
    /// (identical modulo 2^n to NumPy's loop, which multiplies too).
    /// Whether NumPy would hold this value as a scalar rather than an array: it is computed
    /// from full reductions (and constants) alone. Array variables, 0-d ones included, are
    /// arrays; NumPy's further rule that a ufunc of 0-d arrays returns a scalar is not modelled
    /// (README, "Differences from NumPy").
    fn is_numpy_scalar(&self, x: NodeId) -> bool {
        fn walk(dag: &Dag, x: NodeId, seen_reduction: &mut bool) -> bool {
            match dag.node(x) {
                Node::Reduce { spec, .. } => {
                    *seen_reduction = true;
                    spec.axis.is_none()
                }
                Node::Const(_) => true,
                Node::Input(_) | Node::ScalarVar(_) => false,
                Node::Op { args, .. } => args.iter().all(|&a| walk(dag, a, seen_reduction)),
            }
        }
        let mut seen_reduction = false;
        walk(&self.dag, x, &mut seen_reduction) && seen_reduction
    }

    fn power_shortcut(
        &mut self,
        base: Value,
        exponent: Value,
        span: Span,
    ) -> Result<Option<NodeId>> {
        let (Value::Node(x), Value::Lit(e)) = (base, exponent) else {
            return Ok(None);
        };
        let d = self.dag.dtype(x);
        if self.is_numpy_scalar(x) {
            // A value made only of full reductions is a NumPy scalar in NumPy, and scalars'
            // `**` is np.power itself: `min(a) ** 0.5` is +inf for -inf where np.sqrt gives NaN,
            // `any(t) ** 2` is int64. Only the integer power chain below keeps its values.
            if d.is_float() || d.is_complex() || d == DType::Bool {
                return Ok(None);
            }
        } else if d == DType::Bool && e == PyValue::Int(2) {
            // fast_scalar_power on an array: `bool_array ** 2` is np.square, whose first loop
            // bool casts to is int8 (`** 3` is np.power with a weak int: int64).
            return self.ufunc(Op::Square, &[(base, span)], span).map(Some);
        }
        if d.is_complex() {
            // NumPy 2's fast_scalar_power: Python int 2 and -1 and float 0.5 only; `z ** 1` and
            // `z ** 2.0` go through npy_cpow, whose zero and infinity signs differ.
            let op = match e {
                PyValue::Int(2) => Op::Square,
                PyValue::Int(-1) => Op::Reciprocal,
                PyValue::Float(0.5) => Op::Sqrt,
                _ => return Ok(None),
            };
            return self.ufunc(op, &[(base, span)], span).map(Some);
        }
        if d.is_float() {
            let op = match e {
                PyValue::Int(2) => Op::Square,
                PyValue::Float(2.0) => Op::Square,
                PyValue::Int(-1) => Op::Reciprocal,
                PyValue::Float(0.5) => Op::Sqrt,
                PyValue::Int(1) => return Ok(Some(x)),
                _ => return Ok(None),
            };
            return self.ufunc(op, &[(base, span)], span).map(Some);
        }
        let PyValue::Int(k) = e else { return Ok(None) };
        let lp = types::resolve(Op::Power, &[Ty::Strong(d), e.ty()])
            .map_err(|m| type_rule_error(span, m))?;
        let dt = lp.output;
        if !dt.is_integer() {
            return Ok(None);
        }
        if k < 0 {
            return Err(Error::at(
                ErrorKind::Value,
                span,
                "Integers to negative integer powers are not allowed.",
            ));
        }
        if k > 64 {
            return Ok(None);
        }
        let base = self.dag.cast(x, dt);
        let one = literal::PyValue::Int(1)
            .to_scalar(dt)
            .map_err(|m| Error::at(ErrorKind::Value, span, m))?;
        let mut result: Option<NodeId> = None;
        let mut square = base;
        let mut k = k as u32;
        while k > 0 {
            if k & 1 == 1 {
                result = Some(match result {
                    None => square,
                    Some(r) => self.dag.op(Op::Multiply, dt, dt, vec![r, square]),
                });
            }
            k >>= 1;
            if k > 0 {
                square = self.dag.op(Op::Multiply, dt, dt, vec![square, square]);
            }
        }
        Ok(Some(result.unwrap_or_else(|| {
            // x**0 is 1 everywhere, and still has x's shape (x stays among the inputs).
            self.dag.constant_node(one)
        })))
    }

    /// Applies a ufunc (or where/clip/fma/complex/real/imag) with NumPy's loop resolution.
    fn ufunc(&mut self, op: Op, operands: &[(Value, Span)], span: Span) -> Result<NodeId> {
        if op == Op::Clip {
            if let Some(n) = self.clip_without_dropped_bounds(operands, span)? {
                return Ok(n);
            }
        }
        let tys: Vec<Ty> = operands.iter().map(|&(v, _)| self.ty(v)).collect();
        let mut lp = types::resolve(op, &tys).map_err(|m| type_rule_error(span, m))?;
        if matches!(op, Op::LogicalAnd | Op::LogicalOr | Op::LogicalNot) {
            // NumPy's logical loops test truthiness, which is exactly a cast to bool: cast
            // straight there rather than through the loop's dtype.
            lp.inputs.iter_mut().for_each(|d| *d = DType::Bool);
        }
        let mut args = Vec::with_capacity(operands.len());
        for (&(v, s), &d) in operands.iter().zip(&lp.inputs) {
            // NumPy's `where` converts a Python int without a bounds check: it wraps.
            let wrapped = match v {
                Value::Lit(PyValue::Int(i)) if op == Op::Where && d.is_integer() => {
                    let (lo, hi) = literal::int_range(d);
                    if i < lo || i > hi {
                        let c = PyValue::Int(i)
                            .default_scalar()
                            .map_err(|m| Error::at(ErrorKind::Value, s, m))?;
                        let c = self.dag.constant_node(c);
                        Some(self.dag.cast(c, d))
                    } else {
                        None
                    }
                }
                _ => None,
            };
            match wrapped {
                Some(n) => args.push(n),
                None => args.push(self.materialize(v, d, s)?),
            }
        }
        if lp.inputs.len() == 2 && lp.inputs[0] != lp.inputs[1] {
            return Ok(self.mixed_sign_comparison(op, &lp.inputs, args));
        }
        Ok(self.build(op, &lp.inputs, lp.output, args))
    }

    /// NumPy compares int64 with uint64 exactly (a mixed loop). Without such a kernel, split on
    /// the sign of the signed side: a negative is below every unsigned value, and a
    /// non-negative one compares exactly once cast to uint64.
    fn mixed_sign_comparison(&mut self, op: Op, inputs: &[DType], args: Vec<NodeId>) -> NodeId {
        let (signed_first, i, u) = if inputs[0].kind() == crate::types::Kind::Signed {
            (true, args[0], args[1])
        } else {
            (false, args[1], args[0])
        };
        // As `signed OP unsigned`.
        let op = match (op, signed_first) {
            (op, true) => op,
            (Op::Less, false) => Op::Greater,
            (Op::LessEqual, false) => Op::GreaterEqual,
            (Op::Greater, false) => Op::Less,
            (Op::GreaterEqual, false) => Op::LessEqual,
            (op, false) => op,
        };
        let (sd, ud) = (self.dag.dtype(i), self.dag.dtype(u));
        let zero = self.dag.constant_node(Scalar::I64(0));
        let zero = self.dag.cast(zero, sd);
        let negative = self.dag.op(Op::Less, sd, DType::Bool, vec![i, zero]);
        let as_unsigned = self.dag.cast(i, ud);
        let exact = self.dag.op(op, ud, DType::Bool, vec![as_unsigned, u]);
        let b = DType::Bool;
        match op {
            // True whenever the signed side is negative.
            Op::Less | Op::LessEqual | Op::NotEqual => {
                self.dag.op(Op::LogicalOr, b, b, vec![negative, exact])
            }
            // False whenever it is negative.
            _ => {
                let non_negative = self.dag.op(Op::LogicalNot, b, b, vec![negative]);
                self.dag.op(Op::LogicalAnd, b, b, vec![non_negative, exact])
            }
        }
    }

    /// `np.clip` drops a Python int bound that clips nothing for an integer `x` (below its
    /// dtype's minimum, above its maximum) before the ufunc runs, so it is never converted and
    /// never out of bounds: `clip(x, lo, hi)` becomes `maximum`, `minimum` or `x` itself.
    fn clip_without_dropped_bounds(
        &mut self,
        operands: &[(Value, Span)],
        span: Span,
    ) -> Result<Option<NodeId>> {
        let Value::Node(x) = operands[0].0 else {
            return Ok(None);
        };
        let xd = self.dag.dtype(x);
        let dropped = |v: Value, upper: bool| match v {
            Value::Lit(PyValue::Int(b)) => types::clip_drops_bound(xd, b, upper),
            _ => false,
        };
        let (drop_lo, drop_hi) = (dropped(operands[1].0, false), dropped(operands[2].0, true));
        match (drop_lo, drop_hi) {
            (false, false) => Ok(None),
            (true, true) => Ok(Some(x)),
            (true, false) => self
                .ufunc(Op::Minimum, &[operands[0], operands[2]], span)
                .map(Some),
            (false, true) => self
                .ufunc(Op::Maximum, &[operands[0], operands[1]], span)
                .map(Some),
        }
    }

    /// Whether computing `node` can raise at run time: it holds an integer power, whose
    /// exponent the VM checks for negative values.
    fn may_raise(&self, node: NodeId) -> bool {
        let mut todo = vec![node];
        let mut seen = std::collections::HashSet::new();
        while let Some(id) = todo.pop() {
            if !seen.insert(id) {
                continue;
            }
            match self.dag.node(id) {
                Node::Op { op, ty, args } => {
                    if *op == Op::Power && ty.is_integer() {
                        return true;
                    }
                    todo.extend(args);
                }
                Node::Reduce { arg, .. } => todo.push(*arg),
                _ => {}
            }
        }
        false
    }

    /// Emits the node(s) for `op` over operands already of the loop's input dtypes.
    fn build(&mut self, op: Op, inputs: &[DType], out: DType, mut args: Vec<NodeId>) -> NodeId {
        let ty = match op {
            Op::Where => inputs[1],
            _ => inputs[0],
        };
        match op {
            Op::Real | Op::Imag if !ty.is_complex() => {
                let zero = self.dag.constant_node(Scalar::Bool(false));
                return if op == Op::Real {
                    args[0]
                } else if self.may_raise(args[0]) {
                    // NumPy computes the operand before taking its (zero) imaginary part, and
                    // raises if an integer power in it meets a negative exponent: the zeros
                    // are made from the operand, which the VM then computes and checks.
                    let truth = self.dag.cast(args[0], DType::Bool);
                    let none =
                        self.dag
                            .op(Op::LogicalAnd, DType::Bool, DType::Bool, vec![truth, zero]);
                    self.dag.cast(none, out)
                } else {
                    self.dag.cast(zero, out)
                };
            }
            _ => {}
        }
        // float16 is a storage type: NumPy's half loops convert to float, compute, and round
        // back after every operation; doing the same gives the same bits.
        let moves_data = matches!(op, Op::Where | Op::Copy | Op::Cast | Op::Nextafter);
        if ty == DType::F16 && !moves_data {
            for a in &mut args {
                if self.dag.dtype(*a) == DType::F16 {
                    *a = self.dag.cast(*a, DType::F32);
                }
            }
            let wide_out = if out == DType::F16 { DType::F32 } else { out };
            let n = self.dag.op(op, DType::F32, wide_out, args);
            return self.dag.cast(n, out);
        }
        self.dag.op(op, ty, out, args)
    }
}
