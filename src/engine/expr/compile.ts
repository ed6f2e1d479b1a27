/**
 * `compileExpr`: parse once, evaluate many times.
 */
import { rootPaths, type ExprNode } from './ast.js';
import { evaluateNode } from './evaluate.js';
import { parse } from './parser.js';
import { truthy } from './values.js';

/** A parsed, validated expression. */
export interface CompiledExpr {
  /** The text it was compiled from. */
  readonly source: string;
  /** The syntax tree (read-only). */
  readonly ast: ExprNode;
  /** Root identifiers it reads (e.g. `['mem', 'params']`), in order of first appearance. */
  paths(): string[];
  /** The value of the expression; missing data is `null`. Never throws. */
  evaluate(scope: Readonly<Record<string, unknown>>): unknown;
  /** Truthiness of {@link CompiledExpr.evaluate}. Never throws. */
  test(scope: Readonly<Record<string, unknown>>): boolean;
}

/**
 * Compile a condition such as `mem.usage > 90% and not exists(params.skip)`.
 * Throws {@link ExprError} (`code: 'expr_invalid'`) with the column of the problem.
 */
export function compileExpr(source: string): CompiledExpr {
  const ast = parse(source);
  const roots = rootPaths(ast);
  return {
    source,
    ast,
    paths: () => [...roots],
    evaluate: (scope) => evaluateNode(ast, scope),
    test: (scope) => truthy(evaluateNode(ast, scope)),
  };
}
