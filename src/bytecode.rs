//! The register bytecode: what the compiler emits and the VM runs.
//!
//! A [`Program`] is evaluated over blocks of elements. Its registers are block buffers, one
//! element per lane of the block; its array inputs are read a block at a time; constants and
//! scalar variables live in *scalar slots* and are never expanded to blocks. Work that depends on
//! scalars only (e.g. `k*2` with a scalar `k`) is hoisted into the *prologue*, which runs once per
//! evaluation and writes scalar slots; the *body* runs once per block and writes registers.

use crate::types::{DType, Scalar};
use std::fmt::{self, Write as _};

macro_rules! ops {
    ($($(#[$doc:meta])* $variant:ident = $name:literal, $arity:literal;)*) => {
        /// An operation: a NumPy ufunc, or one of the few non-ufunc operations ndexpr needs.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Op { $($(#[$doc])* $variant),* }

        impl Op {
            pub const ALL: &'static [Op] = &[$(Op::$variant),*];

            /// The lowercase name, used by the disassembly (NumPy's ufunc name where there is one).
            pub fn name(self) -> &'static str {
                match self { $(Op::$variant => $name),* }
            }

            /// The number of operands.
            pub fn arity(self) -> usize {
                match self { $(Op::$variant => $arity),* }
            }
        }
    };
}

ops! {
    // Arithmetic.
    Negative = "negative", 1;
    Positive = "positive", 1;
    Add = "add", 2;
    Subtract = "subtract", 2;
    Multiply = "multiply", 2;
    TrueDivide = "divide", 2;
    FloorDivide = "floor_divide", 2;
    Remainder = "remainder", 2;
    Power = "power", 2;
    Square = "square", 1;
    Reciprocal = "reciprocal", 1;
    Absolute = "absolute", 1;
    Sign = "sign", 1;
    // Bitwise (on bool: logical).
    BitwiseAnd = "bitwise_and", 2;
    BitwiseOr = "bitwise_or", 2;
    BitwiseXor = "bitwise_xor", 2;
    Invert = "invert", 1;
    LeftShift = "left_shift", 2;
    RightShift = "right_shift", 2;
    // Comparisons and logic: the output is bool.
    Less = "less", 2;
    LessEqual = "less_equal", 2;
    Greater = "greater", 2;
    GreaterEqual = "greater_equal", 2;
    Equal = "equal", 2;
    NotEqual = "not_equal", 2;
    LogicalAnd = "logical_and", 2;
    LogicalOr = "logical_or", 2;
    LogicalNot = "logical_not", 1;
    IsNan = "isnan", 1;
    IsFinite = "isfinite", 1;
    IsInf = "isinf", 1;
    SignBit = "signbit", 1;
    // Floating-point functions.
    Sqrt = "sqrt", 1;
    Cbrt = "cbrt", 1;
    Exp = "exp", 1;
    Exp2 = "exp2", 1;
    Expm1 = "expm1", 1;
    Log = "log", 1;
    Log2 = "log2", 1;
    Log10 = "log10", 1;
    Log1p = "log1p", 1;
    Sin = "sin", 1;
    Cos = "cos", 1;
    Tan = "tan", 1;
    Arcsin = "arcsin", 1;
    Arccos = "arccos", 1;
    Arctan = "arctan", 1;
    Sinh = "sinh", 1;
    Cosh = "cosh", 1;
    Tanh = "tanh", 1;
    Arcsinh = "arcsinh", 1;
    Arccosh = "arccosh", 1;
    Arctanh = "arctanh", 1;
    Arctan2 = "arctan2", 2;
    Hypot = "hypot", 2;
    Fmod = "fmod", 2;
    Nextafter = "nextafter", 2;
    Copysign = "copysign", 2;
    Maximum = "maximum", 2;
    Minimum = "minimum", 2;
    // Rounding: `round` is `np.rint` (half to even), as `np.round` with no decimals.
    Ceil = "ceil", 1;
    Floor = "floor", 1;
    Trunc = "trunc", 1;
    Rint = "rint", 1;
    // Complex parts. `real`/`imag` are not ufuncs in NumPy; their input is complex here
    // (the compiler rewrites them on real inputs).
    Conjugate = "conjugate", 1;
    Real = "real", 1;
    Imag = "imag", 1;
    /// `complex(re, im)`: two floats of one dtype to the complex dtype of that precision.
    Complex = "complex", 2;
    // Non-ufunc operations.
    /// `where(cond, x, y)`: the condition is bool, `x` and `y` of the instruction's dtype.
    Where = "where", 3;
    /// `fma(a, b, c)`: `a*b + c` with one rounding.
    Fma = "fma", 3;
    // Superinstructions the compiler makes of a multiply whose only use is an add or a
    // subtract: one pass over the block instead of two, each operation still rounded on its
    // own (the bits of NumPy's multiply then add), the operands kept in their order.
    /// `(x*y) + z`.
    MultiplyAdd = "multiply_add", 3;
    /// `z + (x*y)`.
    AddMultiply = "add_multiply", 3;
    /// `(x*y) - z`.
    MultiplySubtract = "multiply_subtract", 3;
    /// `z - (x*y)`.
    SubtractMultiply = "subtract_multiply", 3;
    /// `x**3` for float32/float64, as `power(x, 3)` computes it (the compiler's form of a float
    /// cube, so that a fused chain can take it: [`Link::UNARY`]).
    Cube = "cube", 1;
    /// `clip(x, lo, hi)`: `minimum(maximum(x, lo), hi)`, NaN-propagating as NumPy.
    Clip = "clip", 3;
    /// Conversion from the instruction's `ty` to its `out` dtype, as NumPy's `astype` (unsafe casting).
    Cast = "cast", 1;
    /// Copies its operand (a scalar operand is broadcast over the block).
    Copy = "copy", 1;
    /// A chain of cheap float operations computed in one pass, each link on the value of the
    /// one before ([`Instr::links`]); every operand (up to [`MAX_LINK_OPERANDS`]) is an
    /// [`Instr::args`] entry. The arity is that of the instruction, not of the op.
    Fused = "fused", 0;
}

impl Op {
    /// For the multiply-add superinstructions: the add or subtract that follows the product,
    /// and whether the product is its first operand (`multiply_add` is `(x*y) + z`:
    /// `(Add, true)`; `subtract_multiply` is `z - (x*y)`: `(Subtract, false)`).
    pub fn product_parts(self) -> Option<(Op, bool)> {
        match self {
            Op::MultiplyAdd => Some((Op::Add, true)),
            Op::AddMultiply => Some((Op::Add, false)),
            Op::MultiplySubtract => Some((Op::Subtract, true)),
            Op::SubtractMultiply => Some((Op::Subtract, false)),
            _ => None,
        }
    }

    /// The superinstruction of [`Op::product_parts`] `(op, product_first)`; `op` is
    /// [`Op::Add`] or [`Op::Subtract`] (anything else counts as subtract).
    pub fn with_product(op: Op, product_first: bool) -> Op {
        match (op, product_first) {
            (Op::Add, true) => Op::MultiplyAdd,
            (Op::Add, false) => Op::AddMultiply,
            (_, true) => Op::MultiplySubtract,
            (_, false) => Op::SubtractMultiply,
        }
    }
}

/// A reduction: folds every value of a program's result (or each run along one axis) into one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReduceKind {
    Sum,
    Prod,
    Mean,
    Min,
    Max,
    Any,
    All,
    ArgMin,
    ArgMax,
}

impl ReduceKind {
    pub const ALL: &'static [ReduceKind] = &[
        ReduceKind::Sum,
        ReduceKind::Prod,
        ReduceKind::Mean,
        ReduceKind::Min,
        ReduceKind::Max,
        ReduceKind::Any,
        ReduceKind::All,
        ReduceKind::ArgMin,
        ReduceKind::ArgMax,
    ];

    /// The function name in expressions (numexpr's and NumPy's spelling).
    pub fn name(self) -> &'static str {
        match self {
            ReduceKind::Sum => "sum",
            ReduceKind::Prod => "prod",
            ReduceKind::Mean => "mean",
            ReduceKind::Min => "min",
            ReduceKind::Max => "max",
            ReduceKind::Any => "any",
            ReduceKind::All => "all",
            ReduceKind::ArgMin => "argmin",
            ReduceKind::ArgMax => "argmax",
        }
    }

    pub fn from_name(name: &str) -> Option<ReduceKind> {
        ReduceKind::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// The name of the ufunc NumPy reduces with, for its error messages.
    pub fn ufunc_name(self) -> &'static str {
        match self {
            ReduceKind::Min => "minimum",
            ReduceKind::Max => "maximum",
            other => other.name(),
        }
    }

    /// Whether an empty reduction has a value (NumPy's identity); `min`, `max`, `argmin` and
    /// `argmax` of nothing are errors.
    pub fn has_identity(self) -> bool {
        !matches!(
            self,
            ReduceKind::Min | ReduceKind::Max | ReduceKind::ArgMin | ReduceKind::ArgMax
        )
    }
}

/// The terminal step of a reduction program: the body computes the values (of dtype `ty`, the
/// dtype the reduction accumulates in) and the VM folds them instead of writing them out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Reduce {
    pub kind: ReduceKind,
    /// The dtype of the values and of the accumulation (int64 for small ints' sums, float32
    /// for float16's, float64 for integer means, bool for `any`/`all`).
    pub ty: DType,
    /// The result dtype (`ty`, or float16 when float16 values were accumulated in float32,
    /// int64 for `argmin`/`argmax`).
    pub out: DType,
    /// `None`: every element. Otherwise the axis as written (negative counts from the end),
    /// checked against the operands' dimension at evaluation.
    pub axis: Option<i64>,
    /// Where the axis was written, for errors found at evaluation.
    pub axis_span: crate::error::Span,
}

/// A full reduction inside a larger expression: evaluated in a pass of its own before the
/// program that reads its result from scalar slot `slot`.
#[derive(Debug, Clone, PartialEq)]
pub struct SubReduction {
    pub slot: u16,
    /// A program whose `reduce` is a full reduction.
    pub program: Program,
}

/// Where an instruction reads an operand from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operand {
    /// A block register.
    Reg(u16),
    /// An array input of the program: index into [`Program::inputs`]. Never a scalar variable.
    Input(u16),
    /// A scalar slot: index into [`Program::scalars`].
    Scalar(u16),
}

/// Where an instruction writes: a block register (body) or a scalar slot (prologue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dest {
    Reg(u16),
    Scalar(u16),
}

/// Operands a [`Op::Fused`] instruction may read.
pub const MAX_LINK_OPERANDS: usize = 8;

/// Links a [`Op::Fused`] instruction may hold (its kernel decodes them onto the stack).
pub const MAX_LINKS: usize = 32;

/// One step of a [`Op::Fused`] chain. The chain computes one value per element, the
/// *accumulator*: the first link sets it, every later one replaces it with an operation on it.
/// One more value, the *slot*, lets a chain compute an operation of two computed values
/// (`a**3 + 4*a**2`): [`Link::Keep`] puts the accumulator aside, the links after it compute
/// the second value from a [`Link::Load`] or [`Link::Select`], and [`Link::Merge`] combines the
/// two.
/// Operand numbers index the instruction's `args`. Each link computes exactly what the
/// instruction of its `op` computes (the same kernel body), so a fused chain gives the bits of
/// the instructions it replaces; it only skips writing the values in between to block
/// registers and reading them back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Link {
    /// `acc = x`.
    Load(u8),
    /// `acc = where(x CMP y, p, q)`; `cmp` is one of the six comparisons.
    Select { cmp: Op, x: u8, y: u8, p: u8, q: u8 },
    /// `acc = op(acc)`: `negative`, `absolute`, `square`, `sqrt` or `cube`.
    Unary(Op),
    /// `acc = op(acc, x)`, or `op(x, acc)` when `swap`: `add`, `subtract`, `multiply`,
    /// `divide`, `maximum` or `minimum`.
    Binary { op: Op, x: u8, swap: bool },
    /// `acc op (x*y)`, or `(x*y) op acc` when `swap`: `add` or `subtract`, the product rounded
    /// on its own (the links of `multiply_add` and its kin).
    Product { op: Op, x: u8, y: u8, swap: bool },
    /// `slot = acc`.
    Keep,
    /// `acc = op(acc, slot)`, or `op(slot, acc)` when `swap`: one of [`Link::BINARY`].
    Merge { op: Op, swap: bool },
}

impl Link {
    /// The unary operations a link may apply.
    pub const UNARY: &'static [Op] = &[Op::Negative, Op::Absolute, Op::Square, Op::Sqrt, Op::Cube];
    /// The binary operations a link may apply.
    pub const BINARY: &'static [Op] = &[
        Op::Add,
        Op::Subtract,
        Op::Multiply,
        Op::TrueDivide,
        Op::Maximum,
        Op::Minimum,
    ];
    /// The comparisons a [`Link::Select`] may test.
    pub const COMPARE: &'static [Op] = &[
        Op::Less,
        Op::LessEqual,
        Op::Greater,
        Op::GreaterEqual,
        Op::Equal,
        Op::NotEqual,
    ];

    /// The operands the link reads (not counting the accumulator).
    pub fn operands(&self) -> impl Iterator<Item = u8> {
        let (list, len) = match *self {
            Link::Load(x) => ([x, 0, 0, 0], 1),
            Link::Select { x, y, p, q, .. } => ([x, y, p, q], 4),
            Link::Unary(_) | Link::Keep | Link::Merge { .. } => ([0; 4], 0),
            Link::Binary { x, .. } => ([x, 0, 0, 0], 1),
            Link::Product { x, y, .. } => ([x, y, 0, 0], 2),
        };
        list.into_iter().take(len)
    }

    /// Whether `links` form a chain for an instruction of `arity` operands: known operations,
    /// operands in range, the first link setting the accumulator, and a [`Link::Merge`] only
    /// after a [`Link::Keep`]. (A later [`Link::Load`] or [`Link::Select`] starts the value a
    /// merge combines with the slot.)
    pub fn is_valid_chain(links: &[Link], arity: usize) -> bool {
        let mut kept = false;
        !links.is_empty()
            && links.iter().enumerate().all(|(j, link)| {
                let first = j == 0;
                let known = match *link {
                    Link::Load(_) => true,
                    Link::Select { cmp, .. } => Link::COMPARE.contains(&cmp),
                    Link::Unary(op) => !first && Link::UNARY.contains(&op),
                    Link::Binary { op, .. } => !first && Link::BINARY.contains(&op),
                    Link::Merge { op, .. } => !first && kept && Link::BINARY.contains(&op),
                    Link::Product { op, .. } => !first && matches!(op, Op::Add | Op::Subtract),
                    Link::Keep => {
                        kept = true;
                        !first
                    }
                };
                known && link.operands().all(|k| (k as usize) < arity)
            })
    }
}

/// One operation on a block (body) or on one element (prologue).
#[derive(Debug, Clone, PartialEq)]
pub struct Instr {
    pub op: Op,
    /// The dtype of the operands (for `Where`, of the second and third; the first is bool;
    /// for `Cast`, the source dtype; for `Complex`, the float dtype of both parts).
    pub ty: DType,
    /// The dtype of the result.
    pub out: DType,
    pub dst: Dest,
    /// The first `op.arity()` entries are used (all of them for [`Op::Fused`]).
    pub args: Vec<Operand>,
    /// The chain of a [`Op::Fused`] instruction; empty for every other op.
    pub links: Vec<Link>,
}

impl Instr {
    /// An instruction of any op but [`Op::Fused`].
    pub fn new(op: Op, ty: DType, out: DType, dst: Dest, args: Vec<Operand>) -> Instr {
        Instr {
            op,
            ty,
            out,
            dst,
            args,
            links: Vec::new(),
        }
    }

    /// The operands the instruction reads.
    pub fn operands(&self) -> &[Operand] {
        if self.op == Op::Fused {
            &self.args
        } else {
            &self.args[..self.op.arity().min(self.args.len())]
        }
    }

    /// Bit `k` is set when operand `k` is a scalar slot: selects the vector⊕scalar kernel form.
    pub fn scalar_mask(&self) -> u8 {
        self.args.iter().enumerate().fold(0, |m, (k, a)| {
            m | (matches!(a, Operand::Scalar(_)) as u8) << k
        })
    }
}

/// A variable the program reads, in the order the program numbers them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InputSpec {
    pub name: String,
    pub dtype: DType,
}

/// What a scalar slot holds before the prologue runs.
#[derive(Debug, Clone, PartialEq)]
pub enum ScalarInit {
    /// A constant of the program.
    Const(Scalar),
    /// A scalar variable supplied at evaluation time (index into [`Program::scalar_vars`]).
    Var(u16),
    /// Written by a prologue instruction.
    Computed(DType),
}

impl ScalarInit {
    pub fn dtype(&self, program: &Program) -> DType {
        match self {
            ScalarInit::Const(s) => s.dtype(),
            ScalarInit::Var(v) => program.scalar_vars[*v as usize].dtype,
            ScalarInit::Computed(d) => *d,
        }
    }
}

/// A compiled expression, ready for the VM.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    /// Array variables, read a block at a time.
    pub inputs: Vec<InputSpec>,
    /// Scalar variables, each loaded once per evaluation into a scalar slot.
    pub scalar_vars: Vec<InputSpec>,
    pub scalars: Vec<ScalarInit>,
    /// Runs once per evaluation, before the first block; writes `Dest::Scalar` slots only.
    pub prologue: Vec<Instr>,
    /// Runs once per block; writes `Dest::Reg` registers only. The last instruction writes the
    /// result register, so the VM may point that one write at the output block directly.
    pub body: Vec<Instr>,
    /// The dtype held by each register at its widest (for sizing block buffers).
    pub registers: Vec<DType>,
    /// The register holding the result after the last body instruction.
    pub result: u16,
    /// The dtype of the program's value: the result register's, or the reduction's result.
    pub result_dtype: DType,
    /// Full reductions to evaluate (each a program of its own, in order) before the prologue,
    /// into the scalar slots the program reads them from.
    pub reductions: Vec<SubReduction>,
    /// When set, the result register is folded by this reduction rather than written out.
    pub reduce: Option<Reduce>,
}

impl Program {
    /// The same program one operation at a time as NumPy runs it, for the naive baseline of
    /// `ndexpr bench` (its registers are full-size temporaries there): each fused multiply-add
    /// (`multiply_add` and its kin) split into its multiply, into a register of its own, and
    /// its add or subtract; each [`Op::Fused`] chain into one instruction per operation, its
    /// values in between in registers of their own.
    pub fn unfused(&self) -> Program {
        let mut p = self.clone();
        p.body.clear();
        for instr in &self.body {
            if instr.op == Op::Fused {
                p.unfuse_chain(instr);
                continue;
            }
            let Some((op, product_first)) = instr.op.product_parts() else {
                p.body.push(instr.clone());
                continue;
            };
            let product = p.push_temporary(Op::Multiply, instr.ty, instr.ty, &instr.args[..2]);
            let other = instr.args[2];
            let args = if product_first {
                [product, other]
            } else {
                [other, product]
            };
            p.body.push(Instr::new(
                op,
                instr.ty,
                instr.out,
                instr.dst,
                args.to_vec(),
            ));
        }
        for sub in &mut p.reductions {
            sub.program = sub.program.unfused();
        }
        p
    }

    /// Appends `op(args)` writing a new register of dtype `out`; returns that register.
    fn push_temporary(&mut self, op: Op, ty: DType, out: DType, args: &[Operand]) -> Operand {
        self.registers.push(out);
        let r = self.registers.len() as u16 - 1;
        self.body
            .push(Instr::new(op, ty, out, Dest::Reg(r), args.to_vec()));
        Operand::Reg(r)
    }

    /// Appends fused chain `instr` as one instruction per operation (see [`Program::unfused`]):
    /// the last writes the chain's destination, which is read by no earlier one.
    fn unfuse_chain(&mut self, instr: &Instr) {
        let ty = instr.ty;
        let arg = |k: u8| instr.args[k as usize];
        let mut acc = Operand::Reg(0);
        let mut slot = acc;
        for (j, link) in instr.links.iter().enumerate() {
            let (op, args) = match *link {
                Link::Keep if j + 1 < instr.links.len() => {
                    slot = acc;
                    continue;
                }
                Link::Keep => (Op::Copy, vec![acc]),
                Link::Merge { op, swap } => (
                    op,
                    if swap {
                        vec![slot, acc]
                    } else {
                        vec![acc, slot]
                    },
                ),
                // The next operation reads the operand itself, as NumPy would.
                Link::Load(x) if j + 1 < instr.links.len() => {
                    acc = arg(x);
                    continue;
                }
                Link::Load(x) => (Op::Copy, vec![arg(x)]),
                Link::Select { cmp, x, y, p, q } => {
                    let cond = self.push_temporary(cmp, ty, DType::Bool, &[arg(x), arg(y)]);
                    (Op::Where, vec![cond, arg(p), arg(q)])
                }
                Link::Unary(op) => (op, vec![acc]),
                Link::Binary { op, x, swap } => (
                    op,
                    if swap {
                        vec![arg(x), acc]
                    } else {
                        vec![acc, arg(x)]
                    },
                ),
                Link::Product { op, x, y, swap } => {
                    let product = self.push_temporary(Op::Multiply, ty, ty, &[arg(x), arg(y)]);
                    (
                        op,
                        if swap {
                            vec![product, acc]
                        } else {
                            vec![acc, product]
                        },
                    )
                }
            };
            if j + 1 == instr.links.len() {
                self.body
                    .push(Instr::new(op, ty, instr.out, instr.dst, args));
            } else {
                acc = self.push_temporary(op, ty, ty, &args);
            }
        }
    }

    /// The largest element size any register holds (block buffers are sized for it).
    pub fn max_register_size(&self) -> usize {
        self.registers.iter().map(|d| d.size()).max().unwrap_or(1)
    }

    fn operand_text(&self, a: &Operand) -> String {
        match *a {
            Operand::Reg(r) => format!("r{r}"),
            Operand::Input(i) => self.inputs[i as usize].name.clone(),
            Operand::Scalar(s) => match &self.scalars[s as usize] {
                ScalarInit::Const(c) => c.to_string(),
                ScalarInit::Var(v) => self.scalar_vars[*v as usize].name.clone(),
                ScalarInit::Computed(_) => format!("s{s}"),
            },
        }
    }

    /// The readable text form, one instruction a line: `r0 = multiply.f64 a, 2.0`, ending with
    /// `ret r0`. Casts read `cast.i32.f64` (from, to); ops whose output dtype differs from the
    /// operands' (comparisons, `isnan`, `real`, ...) show it after an arrow: `less.f64->bool`.
    ///
    /// A reduction's pass is printed first as `s1 <- { ... }`, its program indented, ending with
    /// `ret sum.f64 r0` (or `ret mean.i64->f64 r0, axis=-1`).
    pub fn disassemble(&self) -> String {
        let mut text = String::new();
        for sub in &self.reductions {
            let _ = writeln!(text, "s{} <- {{", sub.slot);
            for line in sub.program.disassemble().lines() {
                let _ = writeln!(text, "    {line}");
            }
            let _ = writeln!(text, "}}");
        }
        for instr in self.prologue.iter().chain(&self.body) {
            let dst = match instr.dst {
                Dest::Reg(r) => format!("r{r}"),
                Dest::Scalar(s) => format!("s{s}"),
            };
            let mnemonic = if instr.op == Op::Cast {
                format!("cast.{}.{}", instr.ty.short_name(), instr.out.short_name())
            } else if instr.out != instr.ty {
                format!(
                    "{}.{}->{}",
                    instr.op.name(),
                    instr.ty.short_name(),
                    instr.out.short_name()
                )
            } else {
                format!("{}.{}", instr.op.name(), instr.ty.short_name())
            };
            let args: Vec<String> = instr.args.iter().map(|a| self.operand_text(a)).collect();
            if instr.op == Op::Fused {
                let _ = writeln!(
                    text,
                    "{dst} = {mnemonic} {}",
                    chain_text(&instr.links, &args)
                );
                continue;
            }
            let _ = writeln!(text, "{dst} = {mnemonic} {}", args.join(", "));
        }
        match &self.reduce {
            None => {
                let _ = writeln!(text, "ret r{}", self.result);
            }
            Some(r) => {
                let ty = if r.out == r.ty {
                    r.ty.short_name().to_string()
                } else {
                    format!("{}->{}", r.ty.short_name(), r.out.short_name())
                };
                let axis = r.axis.map(|a| format!(", axis={a}")).unwrap_or_default();
                let _ = writeln!(text, "ret {}.{ty} r{}{axis}", r.kind.name(), self.result);
            }
        }
        text
    }
}

/// A fused chain as one expression in NumPy's function names, each link wrapping the text of
/// the links before it: `subtract(add_multiply(2.0, a, multiply(b, 3.0)), c)`.
fn chain_text(links: &[Link], args: &[String]) -> String {
    let arg = |k: u8| args[k as usize].as_str();
    let mut acc = String::new();
    let mut slot = String::new();
    for link in links {
        acc = match *link {
            Link::Keep => {
                slot = acc.clone();
                acc
            }
            Link::Merge { op, swap: false } => format!("{}({acc}, {slot})", op.name()),
            Link::Merge { op, swap: true } => format!("{}({slot}, {acc})", op.name()),
            Link::Load(x) => arg(x).to_string(),
            Link::Select { cmp, x, y, p, q } => {
                format!(
                    "where({}({}, {}), {}, {})",
                    cmp.name(),
                    arg(x),
                    arg(y),
                    arg(p),
                    arg(q)
                )
            }
            Link::Unary(op) => format!("{}({acc})", op.name()),
            Link::Binary { op, x, swap: false } => format!("{}({acc}, {})", op.name(), arg(x)),
            Link::Binary { op, x, swap: true } => format!("{}({}, {acc})", op.name(), arg(x)),
            Link::Product { op, x, y, swap } => {
                let name = Op::with_product(op, swap).name();
                format!("{name}({}, {}, {acc})", arg(x), arg(y))
            }
        };
    }
    acc
}

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.disassemble())
    }
}
