//! The typed IR: a DAG of operations, hash-consed so that a subexpression written twice is one
//! node (computed once), with constants folded as nodes are made.

use crate::bytecode::{Op, Reduce};
use crate::kernels;
use crate::types::{DType, Scalar};
use std::collections::HashMap;

pub type NodeId = usize;

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// An array variable (index into the checker's variable list).
    Input(usize),
    /// A scalar variable, known only at evaluation time.
    ScalarVar(usize),
    Const(Scalar),
    Op {
        op: Op,
        ty: DType,
        args: Vec<NodeId>,
    },
    /// A reduction of `arg` (already of the reduction's accumulation dtype), computed in a pass
    /// of its own over the array variables its argument mentions (`inputs`, indices into the
    /// checker's variable list): those alone broadcast together, not the enclosing
    /// expression's. A full reduction is uniform: the enclosing program reads it as a scalar.
    Reduce {
        spec: Reduce,
        arg: NodeId,
        inputs: Vec<usize>,
    },
}

/// The hash key of a node: constants by their bits, so `-0.0` and `0.0` stay apart and a NaN
/// equals itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Input(usize),
    ScalarVar(usize),
    Const(DType, Vec<u8>),
    Op(Op, DType, DType, Vec<NodeId>),
    Reduce(Reduce, NodeId, Vec<usize>),
}

#[derive(Debug, Default)]
pub struct Dag {
    nodes: Vec<(Node, DType)>,
    /// Whether each node depends on no array input (so it is computed once, in the prologue).
    uniform: Vec<bool>,
    index: HashMap<Key, NodeId>,
}

impl Dag {
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id].0
    }

    /// The dtype of a node's value.
    pub fn dtype(&self, id: NodeId) -> DType {
        self.nodes[id].1
    }

    pub fn is_uniform(&self, id: NodeId) -> bool {
        self.uniform[id]
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn constant(&self, id: NodeId) -> Option<Scalar> {
        match self.node(id) {
            Node::Const(s) => Some(*s),
            _ => None,
        }
    }

    fn intern(&mut self, key: Key, node: Node, dtype: DType, uniform: bool) -> NodeId {
        if let Some(&id) = self.index.get(&key) {
            return id;
        }
        let id = self.nodes.len();
        self.nodes.push((node, dtype));
        self.uniform.push(uniform);
        self.index.insert(key, id);
        id
    }

    pub fn input(&mut self, var: usize, dtype: DType) -> NodeId {
        self.intern(Key::Input(var), Node::Input(var), dtype, false)
    }

    pub fn scalar_var(&mut self, var: usize, dtype: DType) -> NodeId {
        self.intern(Key::ScalarVar(var), Node::ScalarVar(var), dtype, true)
    }

    pub fn constant_node(&mut self, value: Scalar) -> NodeId {
        let key = Key::Const(value.dtype(), value.to_ne_bytes());
        self.intern(key, Node::Const(value), value.dtype(), true)
    }

    /// The node for `op` over `args` (already of the loop's dtypes), computing in `ty` and
    /// giving `out`. Folded to a constant when every argument is one; shared when it exists.
    pub fn op(&mut self, op: Op, ty: DType, out: DType, args: Vec<NodeId>) -> NodeId {
        let consts: Option<Vec<Scalar>> = args.iter().map(|&a| self.constant(a)).collect();
        // An integer power with a negative exponent is NumPy's run-time error, which the VM
        // raises and the kernel (giving 0) cannot: such a node is not folded.
        let negative_int_power = op == Op::Power
            && ty.is_integer()
            && consts.as_ref().is_some_and(|v| match v[1] {
                Scalar::I8(e) => e < 0,
                Scalar::I16(e) => e < 0,
                Scalar::I32(e) => e < 0,
                Scalar::I64(e) => e < 0,
                _ => false,
            });
        if let (Some(values), false) = (consts, negative_int_power) {
            // Folding runs the very kernel the VM would run, so a folded constant has the bits
            // the un-folded program would have computed.
            if let Some(v) = kernels::eval_scalar(op, ty, out, &values) {
                debug_assert_eq!(v.dtype(), out);
                return self.constant_node(v);
            }
        }
        let uniform = args.iter().all(|&a| self.uniform[a]);
        let key = Key::Op(op, ty, out, args.clone());
        self.intern(key, Node::Op { op, ty, args }, out, uniform)
    }

    /// The reduction `spec` of `arg`, shared with an identical one (same argument, axis and
    /// variables) so that `max(a) - min(a)` over `min(a)` twice runs `min(a)` once.
    pub fn reduce(&mut self, spec: Reduce, arg: NodeId, inputs: Vec<usize>) -> NodeId {
        // The span is not part of the identity.
        let key_spec = Reduce {
            axis_span: Default::default(),
            ..spec
        };
        let key = Key::Reduce(key_spec, arg, inputs.clone());
        let uniform = spec.axis.is_none();
        self.intern(key, Node::Reduce { spec, arg, inputs }, spec.out, uniform)
    }

    /// `node` converted to `to` (NumPy `astype`); the node itself when it already has that dtype.
    pub fn cast(&mut self, node: NodeId, to: DType) -> NodeId {
        let from = self.dtype(node);
        if from == to {
            return node;
        }
        self.op(Op::Cast, from, to, vec![node])
    }

    /// The nodes `root` depends on, each after its operands, ending with `root`. A reduction is
    /// a leaf here: its argument belongs to the reduction's own pass.
    pub fn topological_order(&self, root: NodeId) -> Vec<NodeId> {
        let mut order = Vec::new();
        let mut seen = vec![false; self.nodes.len()];
        // Iterative post-order: the DAG can be deeper than a thread's stack would like.
        let mut stack = vec![(root, false)];
        while let Some((id, expanded)) = stack.pop() {
            if expanded {
                order.push(id);
                continue;
            }
            if seen[id] {
                continue;
            }
            seen[id] = true;
            stack.push((id, true));
            if let Node::Op { args, .. } = self.node(id) {
                for &a in args.iter().rev() {
                    if !seen[a] {
                        stack.push((a, false));
                    }
                }
            }
        }
        order
    }
}
