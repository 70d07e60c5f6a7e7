//! Lowering: the DAG in dependency order becomes a prologue (work on scalars only, once per
//! evaluation) and a body (work per block), with block registers allocated by liveness, so a
//! program needs as many registers as it has temporaries alive at once, not one per operation.

use super::ir::{Dag, Node, NodeId};
use crate::bytecode::{Dest, InputSpec, Instr, Op, Operand, Program, ScalarInit, SubReduction};
use crate::types::DType;

/// Lowers the expression rooted at `root`. `frame` lists the array variables (indices into
/// `arrays`) the program broadcasts over: those its expression mentions outside reductions.
/// A reduction at the root makes the whole program a reduction program; one inside becomes a
/// pass of its own whose result the program reads from a scalar slot.
pub fn lower(
    dag: &Dag,
    root: NodeId,
    arrays: &[(String, DType)],
    frame: &[usize],
    scalars: &[(String, DType)],
) -> Program {
    if let Node::Reduce { spec, arg, inputs } = dag.node(root) {
        let mut program = lower_values(dag, *arg, arrays, inputs, scalars);
        program.result_dtype = spec.out;
        program.reduce = Some(*spec);
        return program;
    }
    lower_values(dag, root, arrays, frame, scalars)
}

fn lower_values(
    dag: &Dag,
    root: NodeId,
    arrays: &[(String, DType)],
    frame: &[usize],
    scalars: &[(String, DType)],
) -> Program {
    let spec = |(name, dtype): &(String, DType)| InputSpec {
        name: name.clone(),
        dtype: *dtype,
    };
    let mut program = Program {
        inputs: frame.iter().map(|&i| spec(&arrays[i])).collect(),
        scalar_vars: scalars.iter().map(spec).collect(),
        scalars: Vec::new(),
        prologue: Vec::new(),
        body: Vec::new(),
        registers: Vec::new(),
        result: 0,
        result_dtype: dag.dtype(root),
        reductions: Vec::new(),
        reduce: None,
    };
    // The program's input number of each array variable it reads.
    let local = |i: usize| {
        frame
            .iter()
            .position(|&f| f == i)
            .expect("a variable read is in its program's frame") as u16
    };

    let order = dag.topological_order(root);
    // Where each node's value lives once computed.
    let mut home: Vec<Option<Operand>> = vec![None; dag.len()];
    // Body nodes, in order; registers are assigned in a second pass that knows every last use.
    let mut body_nodes: Vec<NodeId> = Vec::new();
    for &id in &order {
        let slot = |program: &mut Program, init: ScalarInit| {
            program.scalars.push(init);
            Operand::Scalar(program.scalars.len() as u16 - 1)
        };
        home[id] = Some(match dag.node(id) {
            Node::Input(i) => Operand::Input(local(*i)),
            Node::Reduce { .. } => {
                let sub = lower(dag, id, arrays, &[], scalars);
                let s = slot(&mut program, ScalarInit::Computed(dag.dtype(id)));
                let Operand::Scalar(index) = s else {
                    unreachable!()
                };
                program.reductions.push(SubReduction {
                    slot: index,
                    program: sub,
                });
                s
            }
            Node::ScalarVar(v) => slot(&mut program, ScalarInit::Var(*v as u16)),
            Node::Const(c) => slot(&mut program, ScalarInit::Const(*c)),
            Node::Op { op, ty, args } if dag.is_uniform(id) => {
                let args = args
                    .iter()
                    .map(|a| home[*a].expect("operands precede their users"))
                    .collect();
                let s = slot(&mut program, ScalarInit::Computed(dag.dtype(id)));
                let Operand::Scalar(index) = s else {
                    unreachable!()
                };
                program.prologue.push(Instr {
                    op: *op,
                    ty: *ty,
                    out: dag.dtype(id),
                    dst: Dest::Scalar(index),
                    args,
                });
                s
            }
            Node::Op { .. } => {
                body_nodes.push(id);
                continue;
            }
        });
    }

    // The result must come from a body instruction, so that the VM has one place that writes
    // the output: a root that is an input or a scalar is copied.
    let copy_root = match dag.node(root) {
        Node::Op { .. } if !dag.is_uniform(root) => None,
        _ => Some(home[root].expect("root lowered")),
    };

    let body = fuse_multiplies(dag, &body_nodes, root);
    let mut last_use = vec![0usize; dag.len()];
    for (i, step) in body.iter().enumerate() {
        for &a in &step.args {
            last_use[a] = i;
        }
    }

    let mut free: Vec<u16> = Vec::new();
    let size = |d: DType| d.size();
    for (i, step) in body.iter().enumerate() {
        let (id, op, ty, args) = (step.id, &step.op, &step.ty, &step.args);
        let out = dag.dtype(id);
        let operands: Vec<Operand> = args
            .iter()
            .map(|a| home[*a].expect("operands precede their users"))
            .collect();
        // Registers whose value dies here are free for the destination, but only when the
        // element sizes match: a kernel may write in place over an operand of its own width,
        // never over a narrower one it has yet to read.
        let mut dying = Vec::new();
        for (&a, operand) in args.iter().zip(&operands) {
            if let Operand::Reg(r) = *operand {
                if last_use[a] == i && !dying.iter().any(|&(d, _)| d == r) {
                    dying.push((r, dag.dtype(a)));
                }
            }
        }
        // Compare with the width the operand has now, not the widest the register ever held.
        let reuse = dying.iter().position(|&(_, d)| size(d) == size(out));
        let dst = match reuse {
            Some(k) => dying.remove(k).0,
            None => match free
                .iter()
                .position(|&r| size(program.registers[r as usize]) >= size(out))
            {
                Some(k) => free.remove(k),
                None => match free.pop() {
                    Some(r) => r,
                    None => {
                        program.registers.push(out);
                        program.registers.len() as u16 - 1
                    }
                },
            },
        };
        if size(out) > size(program.registers[dst as usize]) {
            program.registers[dst as usize] = out;
        }
        free.extend(dying.into_iter().map(|(r, _)| r));
        home[id] = Some(Operand::Reg(dst));
        program.body.push(Instr {
            op: *op,
            ty: *ty,
            out,
            dst: Dest::Reg(dst),
            args: operands,
        });
    }

    match copy_root {
        Some(operand) => {
            let d = dag.dtype(root);
            program.registers.push(d);
            let r = program.registers.len() as u16 - 1;
            program.body.push(Instr {
                op: Op::Copy,
                ty: d,
                out: d,
                dst: Dest::Reg(r),
                args: vec![operand],
            });
            program.result = r;
        }
        None => {
            let Some(Operand::Reg(r)) = home[root] else {
                unreachable!("a body root lives in a register")
            };
            program.result = r;
        }
    }
    program
}

/// One body instruction before register allocation: node `id` computed by `op` over `args`.
struct Step {
    id: NodeId,
    op: Op,
    ty: DType,
    args: Vec<NodeId>,
}

/// The body nodes as instructions, with each multiply (or square) whose only use is an add or
/// a subtract of the same dtype fused into it (`2*a + 48` is one `multiply_add`): one pass over
/// the block instead of two, the same two roundings. Integers and float32/float64 only (bool's add and
/// multiply are logical, complex products are not one operation, float16 is rounded between).
fn fuse_multiplies(dag: &Dag, body_nodes: &[NodeId], root: NodeId) -> Vec<Step> {
    let mut uses = vec![0usize; dag.len()];
    uses[root] += 1;
    for &id in body_nodes {
        if let Node::Op { args, .. } = dag.node(id) {
            for &a in args {
                uses[a] += 1;
            }
        }
    }
    let fusable = |ty: DType| ty.is_integer() || matches!(ty, DType::F32 | DType::F64);
    // The factors of a multiply (or a square: `x*x`, the same bits) that can be fused into its
    // single user.
    let product = |id: NodeId, ty: DType| match dag.node(id) {
        Node::Op { op, ty: t, args }
            if *t == ty && dag.dtype(id) == ty && uses[id] == 1 && !dag.is_uniform(id) =>
        {
            match op {
                Op::Multiply => Some([args[0], args[1]]),
                Op::Square => Some([args[0], args[0]]),
                _ => None,
            }
        }
        _ => None,
    };
    let mut fused = vec![false; dag.len()];
    let mut steps: Vec<Step> = Vec::with_capacity(body_nodes.len());
    for &id in body_nodes {
        let Node::Op { op, ty, args } = dag.node(id) else {
            unreachable!("body nodes are operations")
        };
        let mut step = Step {
            id,
            op: *op,
            ty: *ty,
            args: args.clone(),
        };
        if matches!(op, Op::Add | Op::Subtract) && fusable(*ty) && dag.dtype(id) == *ty {
            for k in 0..2 {
                if let Some(xy) = product(args[k], *ty) {
                    step.op = match (op, k) {
                        (Op::Add, 0) => Op::MultiplyAdd,
                        (Op::Add, _) => Op::AddMultiply,
                        (_, 0) => Op::MultiplySubtract,
                        _ => Op::SubtractMultiply,
                    };
                    step.args = vec![xy[0], xy[1], args[1 - k]];
                    fused[args[k]] = true;
                    break;
                }
            }
        }
        steps.push(step);
    }
    steps.retain(|s| !fused[s.id]);
    steps
}
