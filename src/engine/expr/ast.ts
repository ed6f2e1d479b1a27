/**
 * Syntax tree of the condition language. Every node carries `pos`, the 0-based offset of the
 * token that starts (or, for operators, names) it.
 */

/** A literal value, after units and percentages have been applied. */
export interface LiteralNode {
  readonly type: 'literal';
  readonly value: number | string | boolean | null;
  readonly pos: number;
}

/** `[a, b, ...]`. */
export interface ArrayNode {
  readonly type: 'array';
  readonly items: readonly ExprNode[];
  readonly pos: number;
}

/** One step of a path after its root identifier. */
export type PathSegment =
  | { readonly kind: 'key'; readonly key: string | number }
  | { readonly kind: 'wildcard' }
  | { readonly kind: 'computed'; readonly expr: ExprNode };

/** `root.a[0]['b'].*.c`: reads from the scope. */
export interface PathNode {
  readonly type: 'path';
  readonly root: string;
  readonly segments: readonly PathSegment[];
  readonly pos: number;
}

/** Unary minus, or logical negation (`not` / `!`). */
export interface UnaryNode {
  readonly type: 'unary';
  readonly op: '-' | 'not';
  readonly operand: ExprNode;
  readonly pos: number;
}

/** Operators that always evaluate both operands. */
export type BinaryOp = '==' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'not in' | '+' | '-' | '*' | '/' | '%';

/** Comparison, membership or arithmetic. */
export interface BinaryNode {
  readonly type: 'binary';
  readonly op: BinaryOp;
  readonly left: ExprNode;
  readonly right: ExprNode;
  readonly pos: number;
}

/** Short-circuit `and` / `or` (also spelled `&&` / `||`). */
export interface LogicalNode {
  readonly type: 'logical';
  readonly op: 'and' | 'or';
  readonly left: ExprNode;
  readonly right: ExprNode;
  readonly pos: number;
}

/** A call of one of the whitelisted functions. */
export interface CallNode {
  readonly type: 'call';
  readonly name: string;
  readonly args: readonly ExprNode[];
  readonly pos: number;
}

/** Any node of the tree. */
export type ExprNode = LiteralNode | ArrayNode | PathNode | UnaryNode | BinaryNode | LogicalNode | CallNode;

/** The direct children of a node, in source order. */
export function childrenOf(node: ExprNode): ExprNode[] {
  switch (node.type) {
    case 'literal':
      return [];
    case 'array':
      return [...node.items];
    case 'path':
      return node.segments.flatMap((s) => (s.kind === 'computed' ? [s.expr] : []));
    case 'unary':
      return [node.operand];
    case 'binary':
    case 'logical':
      return [node.left, node.right];
    case 'call':
      return [...node.args];
  }
}

/** Root identifiers read by the tree, each once, in order of first appearance. */
export function rootPaths(node: ExprNode): string[] {
  const out = new Set<string>();
  const visit = (n: ExprNode): void => {
    if (n.type === 'path') out.add(n.root);
    for (const c of childrenOf(n)) visit(c);
  };
  visit(node);
  return [...out];
}
