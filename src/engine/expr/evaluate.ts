/**
 * Tree-walking evaluator. Total by construction: missing data is `null`, type mismatches give
 * `null` (arithmetic) or `false` (comparisons), and {@link evaluateNode} additionally turns any
 * unexpected exception (e.g. from an exotic Proxy in the scope) into `null`.
 */
import type { BinaryOp, ExprNode, PathNode } from './ast.js';
import { FUNCTIONS } from './functions.js';
import { entries, equals, getOwn, isNum, truthy } from './values.js';

/** Evaluate a parsed tree against `scope`. Never throws. */
export function evaluateNode(node: ExprNode, scope: Readonly<Record<string, unknown>>): unknown {
  try {
    return evalNode(node, scope);
  } catch {
    return null;
  }
}

type Scope = Readonly<Record<string, unknown>>;

function evalNode(node: ExprNode, scope: Scope): unknown {
  switch (node.type) {
    case 'literal':
      return node.value;
    case 'array':
      return node.items.map((n) => evalNode(n, scope));
    case 'path':
      return evalPath(node, scope);
    case 'unary': {
      const v = evalNode(node.operand, scope);
      return node.op === 'not' ? !truthy(v) : isNum(v) ? -v : null;
    }
    case 'logical': {
      const left = truthy(evalNode(node.left, scope));
      if (node.op === 'and' ? !left : left) return left;
      return truthy(evalNode(node.right, scope));
    }
    case 'binary':
      return binary(node.op, evalNode(node.left, scope), evalNode(node.right, scope));
    case 'call': {
      const fn = FUNCTIONS.get(node.name);
      return fn === undefined ? null : (fn.call(node.args.map((a) => evalNode(a, scope))) ?? null);
    }
  }
}

/** Walk a path; after a wildcard the walk continues on every entry and yields an array. */
function evalPath(node: PathNode, scope: Scope): unknown {
  let value = getOwn(scope, node.root);
  let many: unknown[] | null = null;
  for (const seg of node.segments) {
    if (seg.kind === 'wildcard') {
      if (many === null) {
        many = entries(value);
        if (many === null) return null;
      } else {
        many = many.flatMap((v) => entries(v) ?? []);
      }
      continue;
    }
    const key = seg.kind === 'key' ? seg.key : evalNode(seg.expr, scope);
    if (typeof key !== 'string' && !isNum(key)) return many === null ? null : many.map(() => null);
    if (many === null) value = getOwn(value, key);
    else many = many.map((v) => getOwn(v, key));
  }
  return many ?? value;
}

function binary(op: BinaryOp, a: unknown, b: unknown): unknown {
  switch (op) {
    case '==':
      return equals(a, b);
    case '!=':
      return !equals(a, b);
    case '<':
    case '<=':
    case '>':
    case '>=':
      return compare(op, a, b);
    case 'in':
      return member(a, b);
    case 'not in':
      return !member(a, b);
    default:
      return arithmetic(op, a, b);
  }
}

/** Numbers with numbers, strings with strings; anything else (including `null`) is `false`. */
function compare(op: '<' | '<=' | '>' | '>=', a: unknown, b: unknown): boolean {
  const ok = (isNum(a) && isNum(b)) || (typeof a === 'string' && typeof b === 'string');
  if (!ok) return false;
  const x = a as number | string;
  const y = b as number | string;
  switch (op) {
    case '<':
      return x < y;
    case '<=':
      return x <= y;
    case '>':
      return x > y;
    case '>=':
      return x >= y;
  }
}

/** `x in array` (structural equality), `sub in string`, `key in object` (own keys). */
function member(a: unknown, b: unknown): boolean {
  if (a === null || b === null) return false;
  if (Array.isArray(b)) return (entries(b) ?? []).some((e) => equals(e, a));
  if (typeof b === 'string') return typeof a === 'string' && b.includes(a);
  if (typeof b === 'object' && (typeof a === 'string' || isNum(a))) return getOwn(b, a) !== null;
  return false;
}

/** `+` on two numbers or two strings; `- * / %` on numbers; `null` otherwise or when not finite. */
function arithmetic(op: '+' | '-' | '*' | '/' | '%', a: unknown, b: unknown): unknown {
  if (op === '+' && typeof a === 'string' && typeof b === 'string') return a + b;
  if (!isNum(a) || !isNum(b)) return null;
  let r: number;
  switch (op) {
    case '+':
      r = a + b;
      break;
    case '-':
      r = a - b;
      break;
    case '*':
      r = a * b;
      break;
    case '/':
      if (b === 0) return null;
      r = a / b;
      break;
    case '%':
      if (b === 0) return null;
      r = a % b;
      break;
  }
  return Number.isFinite(r) ? r : null;
}
