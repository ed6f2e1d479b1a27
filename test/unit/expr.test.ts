import { describe, expect, it } from 'vitest';
import { compileExpr, compileTemplate, ExprError, formatBytes, interpolate, MAX_DEPTH } from '../../src/engine/expr/index.js';

const scope = {
  mem: { usage: 0.9, used: 3 * 1024 ** 3, max: 4 * 1024 ** 3, fragmentationRatio: 1.23456 },
  params: { threshold: 0.85, names: ['a', 'b'] },
  replicas: {
    '127.0.0.1:6380': { role: 'replica', lag: 2, offset: 100 },
    '127.0.0.1:6381': { role: 'replica', lag: 7, offset: 100 },
    '127.0.0.1:6382': { role: 'replica', offset: 90 },
  },
  list: [{ v: 1 }, { v: 2 }, { v: 3 }],
  node: '127.0.0.1:6379',
  flags: [true, true, false],
  zero: 0,
  empty: [],
};

const ev = (src: string, s: Record<string, unknown> = scope): unknown => compileExpr(src).evaluate(s);

function parseError(src: string): ExprError {
  try {
    compileExpr(src);
  } catch (err) {
    if (err instanceof ExprError) return err;
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(src)} not to compile`);
}

describe('precedence', () => {
  it.each([
    ['1 + 2 * 3', 7],
    ['(1 + 2) * 3', 9],
    ['10 - 4 - 3', 3],
    ['2 * 3 % 4', 2],
    ['-2 * 3', -6],
    ['-(2 + 3)', -5],
    ['1 + 2 == 3', true],
    ['true or false and false', true],
    ['(true or false) and false', false],
    ['not false and false', false],
    ['not 1 == 2', true],
    ['! (1 == 1) || 2 > 1', true],
    ['1 + 1 in [2, 3]', true],
    ['1 in [1] == true', true],
    ['1 < 2 && 3 >= 3', true],
    ['2 != 2', false],
  ])('%s → %j', (src, want) => {
    expect(ev(src)).toEqual(want);
  });

  it('refuses chained comparisons', () => {
    expect(parseError('1 < 2 < 3').message).toBe("comparisons cannot be chained (use 'and') at column 7");
  });
});

describe('literals and units', () => {
  it.each([
    ['1.5', 1.5],
    ['-3', -3],
    ['100mb', 100 * 1024 ** 2],
    ['512MB', 512 * 1024 ** 2],
    ['1gb', 1024 ** 3],
    ['64kb', 64 * 1024],
    ['1.5GB', 1.5 * 1024 ** 3],
    ['30s', 30_000],
    ['5m', 300_000],
    ['5M', 300_000],
    ['1h', 3_600_000],
    ['250ms', 250],
    ['85%', 0.85],
    ['10 % 3', 1],
    ['10%3', 1],
    ['50% * 2', 1],
    ["'it\\'s'", "it's"],
    ['"a\\nb"', 'a\nb'],
    ['"\\u0041"', 'A'],
    ['true', true],
    ['false', false],
    ['null', null],
  ])('%s → %j', (src, want) => {
    expect(ev(src)).toEqual(want);
  });

  it('distinguishes m (minutes) from mb (bytes)', () => {
    expect(ev('1m')).not.toBe(ev('1mb'));
  });

  it('rejects unknown units with their column', () => {
    expect(parseError('x > 5min').message).toBe("unknown unit 'min' at column 6");
  });
});

describe('paths', () => {
  it('reads nested and indexed values', () => {
    expect(ev('mem.usage > params.threshold')).toBe(true);
    expect(ev("replicas['127.0.0.1:6380'].role")).toBe('replica');
    expect(ev('list[1].v')).toBe(2);
    expect(ev('list.2.v')).toBe(3);
    expect(ev('params.names[0]')).toBe('a');
  });

  it('supports computed indexes', () => {
    expect(ev("replicas[k].lag", { ...scope, k: '127.0.0.1:6381' })).toBe(7);
  });

  it('expands * over object values and array items', () => {
    expect(ev('replicas.*.lag')).toEqual([2, 7, null]);
    expect(ev('list.*.v')).toEqual([1, 2, 3]);
    expect(ev('list[*].v')).toEqual([1, 2, 3]);
    expect(ev('replicas.*')).toHaveLength(3);
    expect(ev('x.*', { x: { a: { b: [1, 2] }, c: { b: [3] } } })).toEqual([{ b: [1, 2] }, { b: [3] }]);
    expect(ev('x.*.b.*', { x: { a: { b: [1, 2] }, c: { b: [3] } } })).toEqual([1, 2, 3]);
    expect(ev('missing.*.v')).toBeNull();
    expect(ev('node.*')).toBeNull();
  });

  it('reports the root identifiers it reads', () => {
    expect(compileExpr('mem.usage > params.threshold and mem.x < 1').paths()).toEqual(['mem', 'params']);
    expect(compileExpr("max(replicas.*.lag) > coalesce(params.maxLag, 5) or replicas[node].x == 1").paths()).toEqual([
      'replicas',
      'params',
      'node',
    ]);
    expect(compileExpr('1 + 2').paths()).toEqual([]);
  });

  it('exposes source and ast', () => {
    const c = compileExpr('a + 1');
    expect(c.source).toBe('a + 1');
    expect(c.ast).toMatchObject({ type: 'binary', op: '+', left: { type: 'path', root: 'a' }, right: { type: 'literal', value: 1 } });
  });
});

describe('functions', () => {
  it.each([
    ['count(replicas.*.lag)', 2],
    ['count(replicas)', 3],
    ['count(missing)', 0],
    ['len(list)', 3],
    ["len('abcd')", 4],
    ['len(replicas)', 3],
    ['len(3)', null],
    ['sum(replicas.*.lag)', 9],
    ['sum(empty)', 0],
    ['sum(missing)', null],
    ["sum(['a'])", null],
    ['min(replicas.*.lag)', 2],
    ['min(5, 3, 9)', 3],
    ['max(replicas.*.lag)', 7],
    ['max(1, missing, 4)', 4],
    ['max(empty)', null],
    ['avg(list.*.v)', 2],
    ['avg(empty)', null],
    ['distinct(replicas.*.offset)', 2],
    ['distinct(list)', 3],
    ['any(flags)', true],
    ['all(flags)', false],
    ['all(list.*.v)', true],
    ['any(empty)', false],
    ['all(missing)', false],
    ['exists(mem.usage)', true],
    ['exists(mem.nope)', false],
    ['exists(zero)', true],
    ['coalesce(missing, null, 3, 4)', 3],
    ['coalesce(missing)', null],
    ['abs(-2.5)', 2.5],
    ["abs('x')", null],
    ['round(2.345, 2)', 2.35],
    ['round(2.5)', 3],
    ['round(1234, -2)', 1200],
    ["lower('MaStEr')", 'master'],
    ['lower(1)', null],
    ["startsWith(node, '127.')", true],
    ["startsWith(node, '10.')", false],
    ["contains('used_memory', 'memory')", true],
    ["contains(params.names, 'b')", true],
    ["contains(params.names, 'z')", false],
    ['bytes(1.5gb)', '1.5 GiB'],
    ['pct(0.875)', '87.5%'],
  ])('%s → %j', (src, want) => {
    expect(ev(src)).toEqual(want);
  });

  it('distinct compares structurally (JSON, key order ignored)', () => {
    expect(ev('distinct(x)', { x: [{ a: 1, b: 2 }, { b: 2, a: 1 }, { a: 2 }] })).toBe(2);
  });

  it('rejects unknown functions and wrong arity at parse time', () => {
    expect(parseError('foo(1)').message).toBe("unknown function 'foo' at column 1");
    expect(parseError('x and constructor(1)').message).toBe("unknown function 'constructor' at column 7");
    expect(parseError('count(a, b)').message).toBe('count() expects 1 argument, got 2 at column 1');
    expect(parseError('exists(1 + 1)').message).toBe('exists() expects a path at column 8');
  });
});

describe('null semantics', () => {
  it('missing paths are null and never throw', () => {
    expect(ev('nope')).toBeNull();
    expect(ev('nope.a.b[3].c')).toBeNull();
    expect(ev('node.length')).toBeNull();
    expect(ev('list[10].v')).toBeNull();
    expect(ev('list[1.5]')).toBeNull();
  });

  it('arithmetic with null is null', () => {
    expect(ev('nope + 1')).toBeNull();
    expect(ev('-nope')).toBeNull();
    expect(ev('mem.usage * nope')).toBeNull();
    expect(ev("'a' - 1")).toBeNull();
    expect(ev("'a' + 'b'")).toBe('ab');
  });

  it('division and modulo by zero are null', () => {
    expect(ev('1 / 0')).toBeNull();
    expect(ev('1 % zero')).toBeNull();
    expect(ev('mem.used / mem.max')).toBe(0.75);
  });

  it('comparisons with null are false except == / != null', () => {
    expect(ev('nope > 1')).toBe(false);
    expect(ev('nope < 1')).toBe(false);
    expect(ev('nope <= 1')).toBe(false);
    expect(ev('nope == null')).toBe(true);
    expect(ev('nope != null')).toBe(false);
    expect(ev('mem != null')).toBe(true);
    expect(ev("1 < 'a'")).toBe(false);
    expect(ev('nope in params.names')).toBe(false);
  });

  it('and / or short-circuit and return booleans', () => {
    expect(ev('1 and 2')).toBe(true);
    expect(ev("0 or ''")).toBe(false);
    expect(ev("'x' or nope")).toBe(true);
    // The right side would be null (not a boolean) if it were returned as is.
    expect(ev('false and 1 / 0')).toBe(false);
    expect(ev('true or nope.x')).toBe(true);
  });

  it('in works on arrays, strings and object keys', () => {
    expect(ev("'b' in params.names")).toBe(true);
    expect(ev("'mem' in 'used_memory'")).toBe(true);
    expect(ev("'127.0.0.1:6380' in replicas")).toBe(true);
    expect(ev("'c' not in params.names")).toBe(true);
  });

  it('test() reports truthiness', () => {
    const c = compileExpr('replicas.*.lag');
    expect(c.test(scope)).toBe(true);
    expect(c.test({})).toBe(false);
    expect(compileExpr('empty').test(scope)).toBe(false);
    expect(compileExpr('zero').test(scope)).toBe(false);
  });

  it('evaluation is total even on hostile data', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic['self'] = cyclic;
    const throwing = Object.defineProperty({}, 'boom', {
      enumerable: true,
      get() {
        throw new Error('getter called');
      },
    });
    const proxy = new Proxy({}, {
      get() {
        throw new Error('trap');
      },
      getOwnPropertyDescriptor() {
        throw new Error('trap');
      },
      ownKeys() {
        throw new Error('trap');
      },
    });
    const s = { cyclic, throwing, proxy, fn: () => 1, big: 10n };
    expect(ev('cyclic.self.self.a', s)).toBe(1);
    expect(ev('cyclic == cyclic.self', s)).toBe(true);
    expect(ev('distinct([cyclic, cyclic])', s)).toBe(1);
    expect(ev('throwing.boom', s)).toBeNull();
    expect(ev('proxy.x', s)).toBeNull();
    expect(ev('count(proxy.*)', s)).toBeNull();
    expect(ev('fn', s)).toBeNull();
    expect(ev('big + 1', s)).toBe(11);
    expect(interpolate('{cyclic}', s)).toContain('"a":1');
  });
});

describe('prototype safety', () => {
  it.each(['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty'])('never walks into %s', (key) => {
    expect(ev(`mem.${key}`)).toBeNull();
    expect(ev(`mem['${key}']`)).toBeNull();
    expect(ev(key)).toBeNull();
    expect(ev(`mem[k]`, { ...scope, k: key })).toBeNull();
  });

  it('cannot reach Function through constructor chains', () => {
    expect(ev('mem.constructor.constructor')).toBeNull();
    expect(ev('list.constructor.name')).toBeNull();
    expect(ev('node.constructor')).toBeNull();
    expect(ev('mem.__proto__.__proto__')).toBeNull();
    // Calls are parsed only on whitelisted names, never on path values.
    expect(parseError("mem.constructor('return 1')").message).toBe("unexpected '(' at column 16");
  });

  it('reads only own properties', () => {
    const inherited = Object.create({ secret: 42 }) as Record<string, unknown>;
    inherited['own'] = 1;
    expect(ev('o.own', { o: inherited })).toBe(1);
    expect(ev('o.secret', { o: inherited })).toBeNull();
    expect(ev('count(o.*)', { o: inherited })).toBe(1);
  });

  it('ignores an own __proto__ key created by JSON.parse', () => {
    const data = JSON.parse('{"__proto__": {"x": 1}, "y": 2}') as Record<string, unknown>;
    expect(ev("d['__proto__'].x", { d: data })).toBeNull();
    expect(ev('d.*', { d: data })).toEqual([2]);
  });
});

describe('errors', () => {
  it.each([
    ['(mem.usage > ))', "unexpected ')' at column 14"],
    ['mem.usage >', 'unexpected end of expression at column 12'],
    ['(1 + 2', "expected ')' but found end of expression at column 7"],
    ["'abc", 'unterminated string at column 1'],
    ['a # b', "unexpected '#' at column 3"],
    ['a = 1', "unexpected '=' at column 3"],
    ['mem.', "expected a property name after '.' but found end of expression at column 5"],
    ['f(1', "unknown function 'f' at column 1"],
    ['max(1 2)', "expected ',' or ')' but found '2' at column 7"],
    ['', 'empty expression at column 1'],
    ['a b', "unexpected 'b' at column 3"],
    ['in', "unexpected 'in' at column 1"],
  ])('%j → %s', (src, message) => {
    const err = parseError(src);
    expect(err.message).toBe(message);
    expect(err.code).toBe('expr_invalid');
    expect(err.source).toBe(src);
    expect(err.position).toBe(err.column - 1);
    expect(err).toBeInstanceOf(Error);
  });
});

describe('abuse limits', () => {
  it('rejects sources longer than 2000 characters', () => {
    expect(() => compileExpr('1'.repeat(2000))).not.toThrow();
    expect(parseError('1'.repeat(2001)).message).toMatch(/too long/);
  });

  it(`accepts depth ${MAX_DEPTH} and rejects deeper trees`, () => {
    // `not` chains build one node per level: n `not`s + the literal = depth n + 1.
    expect(compileExpr('not '.repeat(MAX_DEPTH - 1) + 'true').evaluate({})).toBe(false);
    expect(parseError('not '.repeat(MAX_DEPTH) + 'true').message).toMatch(/nested too deeply \(max depth 64\)/);
  });

  it('rejects deep left-assoc chains and deep brackets without overflowing the stack', () => {
    expect(parseError(Array(200).fill('1').join(' + ')).message).toMatch(/nested too deeply/);
    expect(parseError('('.repeat(999) + '1' + ')'.repeat(999)).message).toMatch(/nested too deeply/);
    expect(parseError('-'.repeat(1500) + '1').message).toMatch(/nested too deeply/);
    expect(compileExpr(Array(30).fill('1').join(' + ')).evaluate({})).toBe(30);
  });
});

describe('interpolation', () => {
  it('replaces {expr} with formatted values', () => {
    expect(interpolate('fragmentation {mem.fragmentationRatio} on {node}', scope)).toBe('fragmentation 1.235 on 127.0.0.1:6379');
    expect(interpolate('{mem.used} bytes = {bytes(mem.used)}, usage {pct(mem.usage)}', scope)).toBe(
      '3221225472 bytes = 3 GiB, usage 90%',
    );
    expect(interpolate('{params.names} {mem.usage > 0.5} {nope} {10 / 4}', scope)).toBe('["a","b"] true n/a 2.5');
    expect(interpolate('{replicas[\'127.0.0.1:6380\']}', scope)).toBe('{"lag":2,"offset":100,"role":"replica"}');
  });

  it('supports {{ }} escapes and braces inside strings', () => {
    expect(interpolate('{{literal}} {coalesce(nope, "}")}', scope)).toBe('{literal} }');
    expect(interpolate('no placeholders', scope)).toBe('no placeholders');
  });

  it('reports template errors with columns relative to the template', () => {
    expect(() => compileTemplate('value {mem.usage >} end')).toThrow('unexpected end of expression at column 19');
    expect(() => compileTemplate('value {mem.usage')).toThrow("unterminated '{' in template at column 7");
    expect(() => compileTemplate('x {}')).toThrow(ExprError);
    expect(() => compileTemplate('{foo(1)}')).toThrow("unknown function 'foo' at column 2");
  });

  it('interpolate never throws: a malformed template is returned verbatim', () => {
    expect(interpolate('value {mem.usage >} end', scope)).toBe('value {mem.usage >} end');
    expect(interpolate('value {mem.usage', scope)).toBe('value {mem.usage');
  });

  it('lists paths of a template', () => {
    expect(compileTemplate('{mem.usage} on {node} ({mem.max})').paths()).toEqual(['mem', 'node']);
  });
});

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [512, '512 B'],
    [1024, '1 KiB'],
    [1536, '1.5 KiB'],
    [1.5 * 1024 ** 3, '1.5 GiB'],
    [1024 ** 2 - 1, '1 MiB'],
    [-2048, '-2 KiB'],
    [5 * 1024 ** 4, '5 TiB'],
  ])('%d → %s', (n, want) => {
    expect(formatBytes(n)).toBe(want);
  });
});
