// The block structure of a step list, read the way the server reads it: openers (if, loop,
// foreach, while) pair with their closers by nesting, `else` splits an if. The editor shows
// the tree; moves and deletions work on the flat list and keep every block balanced.
import type { BlockType } from './model';

const CLOSER: Partial<Record<BlockType, BlockType>> = { if: 'endif', loop: 'endloop', foreach: 'endforeach', while: 'endwhile' };

export type Node = { type: 'step'; index: number } | Block;

export interface Block {
  type: 'block';
  kind: BlockType;
  /** The opener and, for an if with an else, the else: each begins a branch. */
  branches: { marker: number; children: Node[] }[];
  /** The closer's index; null when the block is never closed. */
  end: number | null;
}

/** The tree of `kinds` (each step's block type); unmatched markers become plain steps. */
export function tree(kinds: BlockType[]): Node[] {
  const root: Node[] = [];
  const open: Block[] = [];
  const here = () => (open.length ? open[open.length - 1].branches[open[open.length - 1].branches.length - 1].children : root);
  kinds.forEach((kind, index) => {
    if (CLOSER[kind]) {
      const block: Block = { type: 'block', kind, branches: [{ marker: index, children: [] }], end: null };
      here().push(block);
      open.push(block);
      return;
    }
    const top = open[open.length - 1];
    if (kind === 'else' && top?.kind === 'if' && top.branches.length === 1) {
      top.branches.push({ marker: index, children: [] });
      return;
    }
    const at = open.map((b) => CLOSER[b.kind]).lastIndexOf(kind);
    if (kind !== 'none' && kind !== 'else' && at >= 0) {
      open[at].end = index;
      open.length = at;
      return;
    }
    here().push({ type: 'step', index });
  });
  return root;
}

/** The indentation the server expects of each step (its nesting depth). */
export function depths(kinds: BlockType[]): number[] {
  const stack: BlockType[] = [];
  return kinds.map((kind) => {
    let depth = stack.length;
    if (CLOSER[kind]) stack.push(kind);
    else if (kind === 'else') depth = Math.max(0, depth - 1);
    else if (kind !== 'none') {
      const at = stack.map((k) => CLOSER[k]).lastIndexOf(kind);
      if (at >= 0) {
        stack.length = at;
        depth = at;
      }
    }
    return depth;
  });
}

function findBlock(nodes: Node[], opener: number): Block | null {
  for (const node of nodes) {
    if (node.type !== 'block') continue;
    if (node.branches[0].marker === opener) return node;
    for (const branch of node.branches) {
      const found = findBlock(branch.children, opener);
      if (found) return found;
    }
  }
  return null;
}

/** The steps a move carries: a closed block from opener to closer, else the step alone. */
function span(kinds: BlockType[], index: number): [number, number] {
  const block = CLOSER[kinds[index]] ? findBlock(tree(kinds), index) : null;
  return block?.end != null ? [index, block.end] : [index, index];
}

/** Moves step `index` (with its block) one step up or down: the neighbour jumps over it. */
export function move<T>(items: T[], kinds: BlockType[], index: number, by: -1 | 1): T[] {
  const [a, b] = span(kinds, index);
  if ((by < 0 && a === 0) || (by > 0 && b === items.length - 1)) return items;
  const next = [...items];
  if (by < 0) {
    const [neighbour] = next.splice(a - 1, 1);
    next.splice(b, 0, neighbour);
  } else {
    const [neighbour] = next.splice(b + 1, 1);
    next.splice(a, 0, neighbour);
  }
  return next;
}

/** Removes a step; removing an opener removes its else and closer and keeps what was inside. */
export function remove<T>(items: T[], kinds: BlockType[], index: number): T[] {
  const block = CLOSER[kinds[index]] ? findBlock(tree(kinds), index) : null;
  const gone = new Set(block ? [...block.branches.map((b) => b.marker), ...(block.end != null ? [block.end] : [])] : [index]);
  return items.filter((_, i) => !gone.has(i));
}
