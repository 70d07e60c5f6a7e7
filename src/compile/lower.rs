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

    let mut last_use = vec![0usize; dag.len()];
    for (i, &id) in body_nodes.iter().enumerate() {
        if let Node::Op { args, .. } = dag.node(id) {
            for &a in args {
                last_use[a] = i;
            }
        }
    }

    let mut free: Vec<u16> = Vec::new();
    let size = |d: DType| d.size();
    for (i, &id) in body_nodes.iter().enumerate() {
        let Node::Op { op, ty, args } = dag.node(id) else {
            unreachable!()
        };
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
