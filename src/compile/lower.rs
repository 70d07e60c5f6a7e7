//! Lowering: the DAG in dependency order becomes a prologue (work on scalars only, once per
//! evaluation) and a body (work per block), with block registers allocated by liveness, so a
//! program needs as many registers as it has temporaries alive at once, not one per operation.

use super::ir::{Dag, Node, NodeId};
use crate::bytecode::{
    Dest, InputSpec, Instr, Link, Op, Operand, Program, ScalarInit, SubReduction, MAX_LINKS,
    MAX_LINK_OPERANDS,
};
use crate::types::{DType, Scalar};

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
                program.prologue.push(Instr::new(
                    *op,
                    *ty,
                    dag.dtype(id),
                    Dest::Scalar(index),
                    args,
                ));
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

    let body = fuse_chains(dag, fuse_multiplies(dag, &body_nodes, root), root);
    let mut last_use = vec![0usize; dag.len()];
    for (i, step) in body.iter().enumerate() {
        for &a in &step.args {
            last_use[a] = i;
        }
    }

    let mut free: Vec<u16> = Vec::new();
    let size = |d: DType| d.size();
    for (i, step) in body.iter().enumerate() {
        let (id, op, ty, args, links) = (step.id, &step.op, &step.ty, &step.args, &step.links);
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
            links: links.clone(),
        });
    }

    match copy_root {
        Some(operand) => {
            let d = dag.dtype(root);
            program.registers.push(d);
            let r = program.registers.len() as u16 - 1;
            program
                .body
                .push(Instr::new(Op::Copy, d, d, Dest::Reg(r), vec![operand]));
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
    /// For [`Op::Fused`]: the chain, over `args`.
    links: Vec<Link>,
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
    let floats = |ty: DType| matches!(ty, DType::F32 | DType::F64);
    let fusable = |ty: DType| ty.is_integer() || floats(ty);
    let three = |e: NodeId| {
        matches!(
            dag.constant(e),
            Some(Scalar::F64(3.0)) | Some(Scalar::F32(3.0))
        )
    };
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
            links: Vec::new(),
        };
        if *op == Op::Power && floats(*ty) && dag.dtype(id) == *ty && three(args[1]) {
            // A cube is an operation of one operand, which a fused chain can take.
            step.op = Op::Cube;
            step.args.truncate(1);
        }
        if matches!(op, Op::Add | Op::Subtract) && fusable(*ty) && dag.dtype(id) == *ty {
            for k in 0..2 {
                if let Some(xy) = product(args[k], *ty) {
                    step.op = Op::with_product(*op, k == 0);
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

/// A chain of links being built: its operands (nodes) and the steps it computes.
#[derive(Clone)]
struct Chain {
    links: Vec<Link>,
    leaves: Vec<NodeId>,
    /// The steps (indices) it computes besides its own.
    members: Vec<usize>,
}

impl Chain {
    /// How many body nodes (steps) the chain computes.
    fn nodes(&self) -> usize {
        self.members.len() + 1
    }

    /// The operand number of `node`, added if new; `None` when the chain reads
    /// [`MAX_LINK_OPERANDS`] already.
    fn leaf(&mut self, node: NodeId) -> Option<u8> {
        if let Some(k) = self.leaves.iter().position(|&l| l == node) {
            return Some(k as u8);
        }
        if self.leaves.len() == MAX_LINK_OPERANDS {
            return None;
        }
        self.leaves.push(node);
        Some(self.leaves.len() as u8 - 1)
    }

    /// Appends the links of `op` over `args`, the accumulator standing for operand `acc`
    /// (whose node is not read) and the slot for operand `slot`, if any; `None` (the chain
    /// then unusable) when the operands or the links overflow ([`MAX_LINK_OPERANDS`],
    /// [`MAX_LINKS`]), or the slot would be a factor of a product link.
    fn push(&mut self, op: Op, args: &[NodeId], acc: usize, slot: Option<usize>) -> Option<()> {
        // `op(acc, operand k)`, or `op(operand k, acc)` when `swap`.
        let mut binary = |op: Op, k: usize, swap: bool| -> Option<Link> {
            Some(if Some(k) == slot {
                Link::Merge { op, swap }
            } else {
                Link::Binary {
                    op,
                    x: self.leaf(args[k])?,
                    swap,
                }
            })
        };
        let links: Vec<Link> = match op.product_parts() {
            Some((add, product_first)) => match acc {
                2 if slot.is_some() => return None,
                2 => vec![Link::Product {
                    op: add,
                    x: self.leaf(args[0])?,
                    y: self.leaf(args[1])?,
                    swap: product_first,
                }],
                _ => vec![
                    binary(Op::Multiply, 1 - acc, acc == 1)?,
                    binary(add, 2, !product_first)?,
                ],
            },
            None if op.arity() == 1 => vec![Link::Unary(op)],
            None => vec![binary(op, 1 - acc, acc == 1)?],
        };
        if self.links.len() + links.len() > MAX_LINKS {
            return None;
        }
        self.links.extend(links);
        Some(())
    }

    fn keeps(&self) -> bool {
        self.links.contains(&Link::Keep)
    }

    /// The chain computing `op(x, y)` from the chains of two of its operands, `slot` (position
    /// `ks`, computed first and kept) and `acc` (position `ka`, computed after the `Keep`,
    /// so it must keep nothing itself); `None` when it does not fit.
    fn merge(
        slot: &Chain,
        acc: &Chain,
        op: Op,
        args: &[NodeId],
        ka: usize,
        ks: usize,
    ) -> Option<Chain> {
        if acc.keeps() {
            return None;
        }
        let mut chain = slot.clone();
        chain.links.push(Link::Keep);
        for link in &acc.links {
            let mut to = |k: u8| chain.leaf(acc.leaves[k as usize]);
            let link = match *link {
                Link::Load(x) => Link::Load(to(x)?),
                Link::Select { cmp, x, y, p, q } => Link::Select {
                    cmp,
                    x: to(x)?,
                    y: to(y)?,
                    p: to(p)?,
                    q: to(q)?,
                },
                Link::Binary { op, x, swap } => Link::Binary {
                    op,
                    x: to(x)?,
                    swap,
                },
                Link::Product { op, x, y, swap } => Link::Product {
                    op,
                    x: to(x)?,
                    y: to(y)?,
                    swap,
                },
                other => other,
            };
            chain.links.push(link);
        }
        chain.push(op, args, ka, Some(ks))?;
        chain.members.extend(&acc.members);
        Some(chain)
    }
}

/// Chains of cheap float32/float64 operations, each on the value of the one before, fused
/// into one [`Op::Fused`] instruction: the kernel keeps the value in vector registers from one
/// operation to the next instead of writing a block register and reading it back, one pass
/// over the block instead of one per operation (`2*a + 3*b - c`, `sqrt(a**2 + b**2)`,
/// `where(a > b, a, b)`). A node joins its user's chain when the user is its only reader and
/// the chain's operands stay within [`MAX_LINK_OPERANDS`]; of two such operands the one with
/// the longer chain joins. The bits are those of the separate instructions.
///
/// Every chain of two or more operations pays since the kernel dispatches each link with one
/// jump (2.4x10^5 elements, one thread, µs, fused / separate instructions: `(a+1)*2-3` 58 / 66,
/// float32 30 / 40; `a**3+4*a**2-2*a+1` 170 / 187, float32 106 / 106; `4*a**2-2*a+1` 117 /
/// 115, float32 73 / 69). Before that, over one array already in L1, the interpreter cost
/// about a pass per link (`4*a**2-2*a+1`: 140-154 against 115-135), and only chains with a
/// `where` or two array variables were formed.
fn fuse_chains(dag: &Dag, steps: Vec<Step>, root: NodeId) -> Vec<Step> {
    let mut uses = vec![0usize; dag.len()];
    uses[root] += 1;
    let mut at = vec![usize::MAX; dag.len()];
    for (i, step) in steps.iter().enumerate() {
        at[step.id] = i;
        for &a in &step.args {
            uses[a] += 1;
        }
    }
    let floats = |ty: DType| matches!(ty, DType::F32 | DType::F64);
    // Operands that may stand for the accumulator, per op.
    let acc_positions = |op: Op| -> &'static [usize] {
        match op {
            _ if Link::UNARY.contains(&op) => &[0],
            _ if Link::BINARY.contains(&op) => &[0, 1],
            _ if op.product_parts().is_some() => &[2, 0, 1],
            _ => &[],
        }
    };
    let mut chains: Vec<Option<Chain>> = vec![None; steps.len()];
    let mut absorbed = vec![false; steps.len()];
    for (i, step) in steps.iter().enumerate() {
        if !floats(step.ty) || dag.dtype(step.id) != step.ty {
            continue;
        }
        // A step joinable into this one: the only reader of its value is this step.
        let joinable = |node: NodeId| {
            let j = at[node];
            (j != usize::MAX && uses[node] == 1 && !absorbed[j]).then_some(j)
        };
        if step.op == Op::Where {
            let Some(j) = joinable(step.args[0]) else {
                continue;
            };
            let cmp = &steps[j];
            if !Link::COMPARE.contains(&cmp.op) || cmp.ty != step.ty {
                continue;
            }
            let mut chain = Chain {
                links: Vec::new(),
                leaves: Vec::new(),
                members: vec![j],
            };
            let link = (|| {
                Some(Link::Select {
                    cmp: cmp.op,
                    x: chain.leaf(cmp.args[0])?,
                    y: chain.leaf(cmp.args[1])?,
                    p: chain.leaf(step.args[1])?,
                    q: chain.leaf(step.args[2])?,
                })
            })();
            if let Some(link) = link {
                chain.links.push(link);
                absorbed[j] = true;
                chains[i] = Some(chain);
            }
            continue;
        }
        let positions = acc_positions(step.op);
        if positions.is_empty() {
            continue;
        }
        // Two operands computed by chains: one chain of both, the first value kept in the
        // slot while the second is computed (`a**3 + 4*a**2`).
        let merged = positions.iter().find_map(|&ka| {
            positions.iter().find_map(|&ks| {
                let (ja, js) = (joinable(step.args[ka])?, joinable(step.args[ks])?);
                if ja == js {
                    return None;
                }
                let (acc, slot) = (chains[ja].as_ref()?, chains[js].as_ref()?);
                let mut chain = Chain::merge(slot, acc, step.op, &step.args, ka, ks)?;
                chain.members.extend([ja, js]);
                Some((ja, js, chain))
            })
        });
        if let Some((ja, js, chain)) = merged {
            for j in [ja, js] {
                absorbed[j] = true;
                chains[j] = None;
            }
            chains[i] = Some(chain);
            continue;
        }
        // The longest chain among the operands that may join, if its operands fit.
        let mut best: Option<(usize, Chain)> = None;
        for &k in positions {
            let Some(j) = joinable(step.args[k]) else {
                continue;
            };
            let Some(child) = &chains[j] else { continue };
            // (`b` counts this step too.)
            if best
                .as_ref()
                .is_some_and(|(_, b)| b.nodes() > child.nodes())
            {
                continue;
            }
            let mut chain = child.clone();
            if chain.push(step.op, &step.args, k, None).is_some() {
                chain.members.push(j);
                best = Some((j, chain));
            }
        }
        chains[i] = match best {
            Some((j, chain)) => {
                absorbed[j] = true;
                chains[j] = None;
                Some(chain)
            }
            None => {
                let mut chain = Chain {
                    links: Vec::new(),
                    leaves: Vec::new(),
                    members: Vec::new(),
                };
                let k = positions[0];
                let first = chain.leaf(step.args[k]).expect("an empty chain has room");
                chain.links.push(Link::Load(first));
                chain.push(step.op, &step.args, k, None).map(|()| chain)
            }
        };
    }
    // Chains that do not pay give their steps back.
    for chain in &mut chains {
        if chain.as_ref().is_some_and(|c| c.nodes() < 2) {
            for &m in &chain.take().expect("checked").members {
                absorbed[m] = false;
            }
        }
    }
    steps
        .into_iter()
        .zip(chains)
        .zip(absorbed)
        .filter(|(_, gone)| !gone)
        .map(|((step, chain), _)| match chain {
            Some(chain) => Step {
                id: step.id,
                op: Op::Fused,
                ty: step.ty,
                args: chain.leaves,
                links: chain.links,
            },
            _ => step,
        })
        .collect()
}
