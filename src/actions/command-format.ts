/**
 * The one way a Redis command is rendered for people: timeline summaries, Slack, the CLI, the
 * HTTP API, the postmortem, logs and dry runs all go through {@link formatCommand}. It redacts
 * every secret-bearing argument (defence in depth: plans hold `${secret:<name>}` placeholders,
 * never values — see {@link secretRef}).
 *
 * Redacted (case-insensitive command names):
 * - `AUTH [user] <password>`, `HELLO <ver> AUTH <user> <password>`
 * - `ACL SETUSER <user> … >pw <pw #hash !hash` (the rule's sign stays: `>***`)
 * - `CONFIG SET masterauth|requirepass|tls-key-file-pass|tls-client-key-file-pass <value>` (any pair)
 * - `MIGRATE … AUTH <password>`, `MIGRATE … AUTH2 <user> <password>`
 * - `SENTINEL SET <master> auth-pass <value>` (any pair), `SENTINEL CONFIG SET sentinel-pass <value>`
 *
 * A placeholder `${secret:<name>}` is not a secret (it names one) and is shown as is.
 */

/** Shown instead of a secret value. */
export const REDACTED = '***';

/** Names a configured secret inside a planned argument: `${secret:<name>}`; resolved only at send time. */
export const SECRET_REF = /\$\{secret:([A-Za-z0-9_.-]+)\}/g;

/** The placeholder for the target's secret `name` (see `secrets:` in the target config). */
export function secretRef(name: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new Error(`invalid secret name ${JSON.stringify(name)}`);
  return `\${secret:${name}}`;
}

/** The secret names an argument refers to. */
export function secretRefs(arg: string): string[] {
  return [...arg.matchAll(SECRET_REF)].map((m) => m[1] ?? '');
}

/** CONFIG SET parameters whose value is a secret. */
const SECRET_CONFIG = new Set(['masterauth', 'requirepass', 'tls-key-file-pass', 'tls-client-key-file-pass', 'primaryauth']);
/** SENTINEL SET options whose value is a secret. */
const SECRET_SENTINEL_SET = new Set(['auth-pass']);
/** SENTINEL CONFIG SET options whose value is a secret. */
const SECRET_SENTINEL_CONFIG = new Set(['sentinel-pass']);

/** A value shown in place of `arg`: the placeholder itself when it only names secrets, else `***`. */
function hide(arg: string, keepPrefix = ''): string {
  const body = arg.slice(keepPrefix.length);
  if (body.replace(SECRET_REF, '') === '' && body !== '') return arg;
  return `${keepPrefix}${REDACTED}`;
}

/** Redacts `value` positions in `name value` pairs starting at `from`, for names in `names`. */
function redactPairs(out: string[], from: number, names: ReadonlySet<string>): void {
  for (let i = from; i + 1 < out.length; i += 2) {
    if (names.has((out[i] ?? '').toLowerCase())) out[i + 1] = hide(out[i + 1] ?? '');
  }
}

/** argv with every secret argument replaced by `***` (placeholders kept). Never throws. */
export function redactArgv(argv: readonly string[]): string[] {
  const out = argv.map(String);
  const cmd = (out[0] ?? '').toLowerCase();
  const sub = (out[1] ?? '').toLowerCase();
  switch (cmd) {
    case 'auth':
      // AUTH <password> | AUTH <username> <password>
      if (out.length >= 2) out[out.length - 1] = hide(out[out.length - 1] ?? '');
      break;
    case 'hello':
      // HELLO <protover> [AUTH <username> <password>] [SETNAME <name>]
      for (let i = 1; i + 2 < out.length; i++) {
        if ((out[i] ?? '').toLowerCase() === 'auth') {
          out[i + 2] = hide(out[i + 2] ?? '');
          i += 2;
        }
      }
      break;
    case 'acl':
      if (sub === 'setuser') {
        for (let i = 3; i < out.length; i++) {
          const a = out[i] ?? '';
          if (/^[><#!]/.test(a)) out[i] = hide(a, a[0]);
        }
      }
      break;
    case 'config':
      if (sub === 'set') redactPairs(out, 2, SECRET_CONFIG);
      break;
    case 'migrate':
      for (let i = 6; i < out.length; i++) {
        const a = (out[i] ?? '').toLowerCase();
        if (a === 'keys') break;
        if (a === 'auth' && i + 1 < out.length) {
          out[i + 1] = hide(out[i + 1] ?? '');
          i += 1;
        } else if (a === 'auth2' && i + 2 < out.length) {
          out[i + 2] = hide(out[i + 2] ?? '');
          i += 2;
        }
      }
      break;
    case 'sentinel':
      if (sub === 'set') redactPairs(out, 3, SECRET_SENTINEL_SET);
      else if (sub === 'config' && (out[2] ?? '').toLowerCase() === 'set') redactPairs(out, 3, SECRET_SENTINEL_CONFIG);
      break;
    default:
      break;
  }
  return out;
}

/** One argument as a shell-like word: quoted (JSON) when empty or holding spaces, quotes or backslashes. */
function word(arg: string): string {
  return arg === '' || /[\s"'`\\]/.test(arg) ? JSON.stringify(arg) : arg;
}

/** A command as one line, secrets redacted: `ACL SETUSER app >***`. */
export function formatCommand(argv: readonly string[]): string {
  return redactArgv(argv).map(word).join(' ');
}

/** A planned or executed command as `host:port: ARGV…` (secrets redacted). */
export function formatPlanned(cmd: { node: string; argv: readonly string[] }, sep = ': '): string {
  return `${cmd.node}${sep}${formatCommand(cmd.argv)}`;
}

/**
 * Removes every given secret value from free text (error messages, replies). Values shorter than
 * 3 characters are skipped (they would shred ordinary words and are not worth hiding).
 */
export function scrubSecrets(text: string, secrets: Iterable<string | undefined>): string {
  let out = text;
  const values = [...secrets].filter((s): s is string => typeof s === 'string' && s.length >= 3).sort((a, b) => b.length - a.length);
  for (const s of values) out = out.split(s).join(REDACTED);
  return out;
}
