/**
 * The safe condition language used by runbook decisions, verifications and reasons.
 * No `eval`, no `new Function`: a hand-written lexer, parser and evaluator over plain data.
 */
export { compileExpr, type CompiledExpr } from './compile.js';
export { closingBrace, compileTemplate, interpolate, type CompiledTemplate } from './template.js';
export { ExprError } from './errors.js';
export { formatBytes, formatNumber, formatPct, formatValue } from './format.js';
export { FUNCTIONS, type ExprFunction } from './functions.js';
export { MAX_DEPTH, MAX_SOURCE_LENGTH } from './parser.js';
export type { ExprNode, PathSegment, BinaryOp } from './ast.js';
