//! Evaluations bound once to the layouts of their operands and run many times over new data.
//!
//! At 1,000 elements an evaluation from Python is a couple of microseconds, and most of it was
//! not arithmetic: binding the variables by name, broadcasting their shapes, planning the
//! iteration, choosing the block and the kernels, and the small allocations of all that (about
//! fifty per call). None of it depends on where the data is, only on shapes, strides and dtypes,
//! which a loop calling `evaluate` keeps from one call to the next. A [`Prepared`] does that
//! work once; each run then takes the data pointers, checks the output does not partially
//! overlap an input (the one check that depends on addresses), and runs the block loop.

use super::exec::{self, Slot};
use super::plan::{broadcast_strides, byte_range};
use super::reduce;
use super::{
    bind, guard, overlaps_partially, run_setup, setup, steps_like, ArrayMut, Bound, RunOptions,
    Setup, Var, Vars,
};
use crate::compile::Expr;
use crate::error::{Error, ErrorKind, Result};

/// An element-wise evaluation of one compiled expression over operands of fixed layouts (the
/// output's and each array input's shape, strides and dtype), run over new data pointers each
/// time with [`Prepared::run`].
///
/// ```
/// use ndarray::Array1;
/// use ndexpr::{Expr, Vars};
///
/// let a = Array1::<f64>::linspace(0.0, 1.0, 1000);
/// let b = Array1::<f64>::ones(1000);
/// let mut out = Array1::<f64>::zeros(1000);
/// let vars = Vars::new().with("a", &a).with("b", &b);
/// let expr = Expr::compile("2*a + b", &vars.signature()).unwrap();
/// let prepared = expr.prepare(&vars, &mut out).unwrap().expect("element-wise");
/// assert_eq!(prepared.input_names().collect::<Vec<_>>(), ["a", "b"]);
/// // New data of the same layouts: a fresh `b`.
/// let b2 = Array1::<f64>::from_elem(1000, 10.0);
/// // SAFETY: the arrays are alive, of the layouts `prepare` saw, `out` is writable and
/// // nothing else uses it during the call.
/// let ran = unsafe { prepared.run(out.as_mut_ptr() as *mut u8, &[a.as_ptr() as *const u8, b2.as_ptr() as *const u8]) };
/// assert!(ran.unwrap());
/// assert_eq!(out[999], 12.0);
/// ```
pub struct Prepared {
    expr: Expr,
    body: Body,
    /// Constants and scalars computed by the prologue.
    slots: Vec<Slot>,
    opts: RunOptions,
    /// Per operand (0: the output): the bytes it spans, as offsets from its pointer to its
    /// lowest byte and one past its highest (`None`: no element).
    spans: Vec<Option<(isize, isize)>>,
    /// Per input: whether it steps through the iteration exactly as the output does (same
    /// element size, same strides after broadcasting), so that the output may be that input
    /// (`a = 2*a`: every element read before its block is written). Never for a reduction,
    /// whose output may share no memory with an input.
    like_out: Vec<bool>,
}

/// What a run does with the data: the element-wise block loop, or a reduction's.
enum Body {
    Elementwise(Setup),
    Reduce(Box<reduce::Setup>),
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("source", &self.expr.source())
            .field("reduction", &matches!(self.body, Body::Reduce(_)))
            .finish_non_exhaustive()
    }
}

/// Offsets of the lowest byte and one past the highest that `shape`/`byte_strides` spans from
/// its first element.
fn span(shape: &[usize], byte_strides: &[isize], size: usize) -> Option<(isize, isize)> {
    byte_range(0, shape, byte_strides, size).map(|(lo, hi)| (lo as isize, hi as isize))
}

impl Expr {
    /// Binds this element-wise expression to the layouts of `vars` and of `out` (the shapes,
    /// strides and dtypes; the data is not read), for [`Prepared::run`] to evaluate over new
    /// data of the same layouts as often as needed, without redoing that work. Errors as
    /// [`Expr::eval_into`] would report them (unknown variable, shapes, `out`'s dtype or shape).
    ///
    /// A reduction of the whole expression (`sum(a*b)`, `max(a, axis=0)`) is prepared too, its
    /// output of the reduced shape. `Ok(None)` for what a run over data pointers does not
    /// cover: reductions inside the expression (`a - mean(a)`: their values are part of the
    /// binding), reductions of no elements or into none, and expressions with a scalar variable
    /// (a [`Scalar`](crate::Scalar) or a 0-d array), whose value is part of the binding.
    pub fn prepare<'o>(
        &self,
        vars: &Vars<'_>,
        out: impl Into<ArrayMut<'o>>,
    ) -> Result<Option<Prepared>> {
        let mut out = out.into();
        let program = self.program();
        if !program.reductions.is_empty() || !program.scalar_vars.is_empty() {
            return Ok(None);
        }
        guard(|| {
            super::check_literals(self, vars)?;
            for spec in &program.inputs {
                if let Some(Var::Scalar(_)) = vars.get(&spec.name) {
                    return Ok(None);
                }
            }
            let opts = RunOptions::default();
            let mut extra = Vec::new();
            let mut bound: Bound = bind(program, vars, &mut extra)?;
            super::check_output_dtype(program, &out)?;
            let raw = out.raw();
            let body = match &program.reduce {
                Some(spec) => {
                    super::check_reduction_shape(spec, &raw.shape, &bound.shape)?;
                    // Nothing to reduce: eval_into gives the identity or the error.
                    let Some(setup) = reduce::Setup::new(program, &bound, &raw, &opts)? else {
                        return Ok(None);
                    };
                    Body::Reduce(Box::new(setup))
                }
                None => {
                    super::check_output_shape(out.shape(), &bound.shape)?;
                    bound.shape = out.shape().to_vec();
                    Body::Elementwise(setup(program, &bound, &raw, &opts)?)
                }
            };
            let mut slots = bound.slots;
            exec::run_prologue(program, &mut slots, opts.lookup)?;
            let out_strides = raw.byte_strides();
            let elementwise = matches!(body, Body::Elementwise(_));
            let out_steps = if elementwise {
                broadcast_strides(&raw.shape, &out_strides, &bound.shape)
            } else {
                Vec::new()
            };
            let mut spans = vec![span(&raw.shape, &out_strides, raw.size)];
            let mut like_out = Vec::with_capacity(bound.inputs.len());
            for input in &bound.inputs {
                spans.push(span(&input.shape, &input.byte_strides(), input.size));
                like_out.push(elementwise && steps_like(input, raw.size, &out_steps, &bound.shape));
            }
            Ok(Some(Prepared {
                expr: self.clone(),
                body,
                slots,
                opts,
                spans,
                like_out,
            }))
        })
        .map_err(|e| e.with_source(self.source()))
    }
}

impl Prepared {
    /// The expression's array inputs, in the order [`Prepared::run`] takes their pointers.
    pub fn input_names(&self) -> impl Iterator<Item = &str> {
        self.expr
            .program()
            .inputs
            .iter()
            .map(|spec| spec.name.as_str())
    }

    /// The compiled expression.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// Whether the output at `out` shares memory with an input without being exactly that
    /// input (as [`Expr::eval_into`] decides; conservative like NumPy's overlap check).
    fn partially_overlaps(&self, out: *mut u8, inputs: &[*const u8]) -> bool {
        let at = |p: *const u8, (lo, hi): (isize, isize)| {
            ((p as isize + lo) as usize, (p as isize + hi) as usize)
        };
        let Some(out_span) = self.spans[0] else {
            return false;
        };
        let out_range = at(out, out_span);
        inputs
            .iter()
            .zip(&self.spans[1..])
            .zip(&self.like_out)
            .any(|((&p, span), &like)| {
                span.is_some_and(|span| {
                    overlaps_partially(out_range, at(p, span), std::ptr::eq(p, out), || like)
                })
            })
    }

    /// Evaluates into the output at `out` from the inputs at `inputs` (one pointer per
    /// [`Prepared::input_names`], in that order; each the address of the array's first logical
    /// element, as `as_ptr` gives, whatever its strides). Returns `Ok(false)`, having written
    /// nothing, when the output partially overlaps an input (evaluate with
    /// [`Expr::eval_into`] then, which goes through a temporary); an output that *is* one of
    /// the inputs (same pointer and strides) is fine, except for a reduction, whose output
    /// shares no memory with an input.
    ///
    /// # Safety
    /// Every pointer must address a live array of exactly the layout (shape, strides, dtype) its
    /// operand had when [`Expr::prepare`] was called, aligned for its dtype; the inputs readable
    /// and the output writable for the whole call, and the output not accessed by anyone else
    /// meanwhile.
    pub unsafe fn run(&self, out: *mut u8, inputs: &[*const u8]) -> Result<bool> {
        if inputs.len() + 1 != self.spans.len() {
            return Err(Error::new(
                ErrorKind::Internal,
                format!(
                    "the prepared expression takes {} inputs, not {}",
                    self.spans.len() - 1,
                    inputs.len()
                ),
            ));
        }
        if self.partially_overlaps(out, inputs) {
            return Ok(false);
        }
        let program = self.expr.program();
        guard(|| match &self.body {
            Body::Elementwise(setup) => {
                let bases = std::iter::once(out)
                    .chain(inputs.iter().map(|&p| p as *mut u8))
                    .collect();
                run_setup(program, setup, &self.slots, bases, &self.opts)
            }
            // SAFETY: the caller's contract; the output meets no input (checked above).
            Body::Reduce(setup) => unsafe { setup.run(program, &self.slots, out, inputs) },
        })
        .map_err(|e| e.with_source(self.expr.source()))?;
        Ok(true)
    }
}
