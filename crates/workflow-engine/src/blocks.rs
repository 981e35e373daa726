//! Block pairing: matches if/else/endif and loop start/end markers by nesting, once, into a
//! jump table, and reports unbalanced blocks.

use crate::model::Step;
use crate::modules::{BlockType, Catalogue};

/// A step's role in the block structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// An ordinary step.
    Plain,
    /// A block marker (`if`, `else`, loop starts and ends…).
    Block(BlockType),
    /// `break`.
    Break,
    /// `continue`.
    Continue,
}

impl Marker {
    /// The marker of a step, from its module's block type (unknown modules are plain).
    pub fn of(step: &Step, catalogue: &Catalogue) -> Self {
        match step.module_id.as_str() {
            "break" => Self::Break,
            "continue" => Self::Continue,
            id => match catalogue.get(id).map(|m| m.block_behavior.block_type) {
                Some(BlockType::None) | None => Self::Plain,
                Some(bt) => Self::Block(bt),
            },
        }
    }
}

/// Where control goes from a marker; indices are step indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// No jump.
    None,
    /// `if`: its `else` (if any) and `endif`.
    If {
        /// The `else` marker.
        else_at: Option<usize>,
        /// The `endif` marker.
        end: usize,
    },
    /// `else`: the `endif` to skip to after the true branch.
    Else {
        /// The `endif` marker.
        end: usize,
    },
    /// A loop start and its end.
    LoopStart {
        /// The loop's end marker.
        end: usize,
    },
    /// A loop end and its start.
    LoopEnd {
        /// The loop's start marker.
        start: usize,
    },
    /// `break`/`continue` and the innermost loop around it.
    Exit {
        /// That loop's start.
        start: usize,
        /// That loop's end.
        end: usize,
    },
}

/// An unbalanced-block problem at a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockIssue {
    /// Step index.
    pub step_index: usize,
    /// What is wrong.
    pub message: String,
}

/// The block structure of a workflow.
#[derive(Debug, Clone, Default)]
pub struct Blocks {
    /// Jump target(s) of each step.
    pub links: Vec<Link>,
    /// The indentation each step should have.
    pub depth: Vec<u32>,
    /// The innermost loop start enclosing each step.
    pub loop_parent: Vec<Option<usize>>,
}

impl Blocks {
    /// Whether loop start `start` encloses step `index`.
    pub fn loop_encloses(&self, start: usize, index: usize) -> bool {
        let mut cur = self.loop_parent.get(index).copied().flatten();
        while let Some(l) = cur {
            if l == start {
                return true;
            }
            cur = self.loop_parent.get(l).copied().flatten();
        }
        false
    }
}

struct Open {
    kind: BlockType,
    start: usize,
    else_at: Option<usize>,
}

/// Pairs the markers; returns the structure and any problems (with problems, the links of
/// the unbalanced markers are left as [`Link::None`]).
pub fn analyze(markers: &[Marker]) -> (Blocks, Vec<BlockIssue>) {
    let n = markers.len();
    let mut blocks = Blocks { links: vec![Link::None; n], depth: vec![0; n], loop_parent: vec![None; n] };
    let mut issues = Vec::new();
    let mut stack: Vec<Open> = Vec::new();
    let innermost_loop = |stack: &[Open]| stack.iter().rev().find(|o| o.kind.is_loop_start()).map(|o| o.start);
    for (i, marker) in markers.iter().enumerate() {
        blocks.depth[i] = stack.len() as u32;
        blocks.loop_parent[i] = innermost_loop(&stack);
        match *marker {
            Marker::Plain => {}
            Marker::Break | Marker::Continue => match innermost_loop(&stack) {
                Some(start) => blocks.links[i] = Link::Exit { start, end: usize::MAX },
                None => issues.push(BlockIssue {
                    step_index: i,
                    message: format!(
                        "`{}` outside a loop",
                        if *marker == Marker::Break { "break" } else { "continue" }
                    ),
                }),
            },
            Marker::Block(BlockType::None) => {}
            Marker::Block(kind @ (BlockType::If | BlockType::Loop | BlockType::Foreach | BlockType::While)) => {
                stack.push(Open { kind, start: i, else_at: None });
            }
            Marker::Block(BlockType::Else) => match stack.last_mut() {
                Some(open) if open.kind == BlockType::If && open.else_at.is_none() => {
                    open.else_at = Some(i);
                    blocks.depth[i] -= 1;
                }
                Some(open) if open.kind == BlockType::If => {
                    blocks.depth[i] -= 1;
                    issues.push(BlockIssue {
                        step_index: i,
                        message: format!("second `else` for the if at step {}", open.start),
                    });
                }
                _ => issues.push(BlockIssue { step_index: i, message: "`else` outside an if block".into() }),
            },
            Marker::Block(end_kind) => {
                let Some(pos) = stack.iter().rposition(|o| o.kind.closer() == Some(end_kind)) else {
                    issues.push(BlockIssue {
                        step_index: i,
                        message: format!("`{}` without an opening block", end_kind.name()),
                    });
                    continue;
                };
                for unclosed in stack.drain(pos + 1..) {
                    issues.push(BlockIssue {
                        step_index: unclosed.start,
                        message: format!("`{}` block is not closed before step {i}", unclosed.kind.name()),
                    });
                }
                let Some(open) = stack.pop() else { continue };
                blocks.depth[i] = stack.len() as u32;
                blocks.loop_parent[i] = innermost_loop(&stack);
                if open.kind == BlockType::If {
                    blocks.links[open.start] = Link::If { else_at: open.else_at, end: i };
                    if let Some(e) = open.else_at {
                        blocks.links[e] = Link::Else { end: i };
                    }
                } else {
                    blocks.links[open.start] = Link::LoopStart { end: i };
                    blocks.links[i] = Link::LoopEnd { start: open.start };
                }
            }
        }
    }
    for open in stack {
        issues.push(BlockIssue {
            step_index: open.start,
            message: format!("`{}` block is never closed", open.kind.name()),
        });
    }
    for i in 0..n {
        if let Link::Exit { start, .. } = blocks.links[i] {
            match blocks.links[start] {
                Link::LoopStart { end } => blocks.links[i] = Link::Exit { start, end },
                _ => blocks.links[i] = Link::None,
            }
        }
    }
    (blocks, issues)
}

#[cfg(test)]
mod tests {
    use super::*;
    use BlockType as B;

    fn m(s: &str) -> Vec<Marker> {
        s.split_whitespace()
            .map(|t| match t {
                "if" => Marker::Block(B::If),
                "else" => Marker::Block(B::Else),
                "endif" => Marker::Block(B::Endif),
                "loop" => Marker::Block(B::Loop),
                "endloop" => Marker::Block(B::Endloop),
                "foreach" => Marker::Block(B::Foreach),
                "endforeach" => Marker::Block(B::Endforeach),
                "while" => Marker::Block(B::While),
                "endwhile" => Marker::Block(B::Endwhile),
                "break" => Marker::Break,
                "continue" => Marker::Continue,
                _ => Marker::Plain,
            })
            .collect()
    }

    #[test]
    fn pairs_nested_blocks() {
        //              0       1    2  3     4    5     6     7        8     9
        let (b, issues) = analyze(&m("foreach loop if x else break endif continue endloop endforeach"));
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(b.links[0], Link::LoopStart { end: 9 });
        assert_eq!(b.links[1], Link::LoopStart { end: 8 });
        assert_eq!(b.links[2], Link::If { else_at: Some(4), end: 6 });
        assert_eq!(b.links[4], Link::Else { end: 6 });
        assert_eq!(b.links[5], Link::Exit { start: 1, end: 8 });
        assert_eq!(b.links[7], Link::Exit { start: 1, end: 8 });
        assert_eq!(b.links[8], Link::LoopEnd { start: 1 });
        assert_eq!(b.depth, [0, 1, 2, 3, 2, 3, 2, 2, 1, 0]);
        assert_eq!(b.loop_parent[3], Some(1));
        assert!(b.loop_encloses(0, 3));
        assert!(!b.loop_encloses(1, 9));
    }

    #[test]
    fn reports_unbalanced_blocks() {
        let bad = |s: &str| analyze(&m(s)).1.into_iter().map(|i| i.step_index).collect::<Vec<_>>();
        assert_eq!(bad("if x"), [0]);
        assert_eq!(bad("endif"), [0]);
        assert_eq!(bad("else"), [0]);
        assert_eq!(bad("if else else endif"), [2]);
        assert_eq!(bad("loop if endloop"), [1]);
        assert_eq!(bad("loop endwhile"), [1, 0]);
        assert_eq!(bad("break"), [0]);
        assert_eq!(bad("if continue endif"), [1]);
        assert_eq!(bad("while x endwhile"), Vec::<usize>::new());
    }
}
