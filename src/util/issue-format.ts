/**
 * Validation issues of a YAML file (runbooks, rehearsals, hygiene checks), one line each:
 * `file:line: path.to[0].key: message`.
 */

/** `['remediations', 'purge', 'steps', 0]` → `remediations.purge.steps[0]` (`(root)` for the document). */
export function yamlPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out || '(root)';
}

/** Newlines out: a complex YAML key (`? - a`) or a value can carry them into a path or a message. */
export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}

/** The lines of an error listing `issues` of `file`; `lineOf(path)` gives `:N` or ''. */
export function issueLines(file: string, issues: readonly { path: readonly PropertyKey[]; message: string }[], lineOf: (path: readonly PropertyKey[]) => string): string {
  return issues.map((i) => `${file}${lineOf(i.path)}: ${oneLine(yamlPath(i.path))}: ${oneLine(i.message)}`).join('\n');
}
