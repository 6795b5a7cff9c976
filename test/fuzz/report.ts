/**
 * Failures found by a fuzz run: each one with the seed and call index that generated it, grouped
 * into kinds (one defect each, as far as the fuzzer can tell), and printed with the shortest
 * reproduction of each kind as code.
 */
import { HELPERS } from './hostile';

export type Check =
  | 'sync-throw'
  | 'not-a-promise'
  | 'untyped-error'
  | 'invalid-resolved'
  | 'valid-rejected'
  | 'wrong-result'
  | 'after-close'
  | 'unsettled'
  | 'uncaught'
  | 'bytes-sent'
  | 'injection'
  | 'verify'
  | 'ctor-accepted-invalid'
  | 'roundtrip'
  | 'wedged';

/** The call that broke other calls, as a trial on a fresh client showed. */
export interface Culprit {
  method: string;
  feature: string;
  /** What it did to the others, in a few words. */
  summary: string;
  /** The uncaught exceptions its trial let escape, as 'Class|normalized message'. */
  uncaught?: string[];
  /** The trial as code: the culprit, then the calls it broke, with what they did. */
  repro: string;
}

export interface Failure {
  check: Check;
  protocol: string;
  seed: number;
  /** The call's index in the run (-1 for a finding about the run as a whole). */
  n: number;
  batch: number;
  phase: string;
  method: string;
  feature: string;
  /** The call as code, on a client named in `setup`. */
  code: string;
  /** How the client called was made, when it matters. */
  setup?: string;
  /** What happened. */
  detail: string;
  errorClass?: string;
  message?: string;
  /** For a followed key: what was written before, and what was special about it. */
  writer?: string;
  writerFeature?: string;
  culprit?: Culprit;
  /** The call's verdict: only valid calls can be broken by another call. */
  verdict?: string;
  /** For a client that stopped answering: the batches its culprit must be in. */
  window?: [number, number];
  /** Re-run alone on a fresh client, it failed the same way: its reproduction needs nothing else. */
  alone?: boolean;
}

/** A message without the parts that differ from call to call (keys, numbers, servers). */
export function normalize(message: string): string {
  return message
    .replace(/^\w+(?: keyPrefix)?(?:\([^)]*\))?:\s*/, '')
    .replace(/\[[^\]]*:\d+\]/g, '')
    .replace(/"[^"]*"|'[^']*'/g, '…')
    .replace(/\d+/g, 'N')
    .trim()
    .slice(0, 90);
}

interface Kind {
  key: string;
  title: string;
  /** What tells its failures apart (shown with a reproduction each). */
  variant: string;
}

function kindOf(f: Failure): Kind {
  if (f.culprit?.method === 'several') {
    return {
      key: 'collateral|unknown',
      title: `${f.culprit.summary} (the cause may be in an earlier tick: see the kinds whose trial says "a later call goes wrong too")`,
      variant: `${f.method}: ${f.check}${f.errorClass ? ` ${f.errorClass}` : ''}`,
    };
  }
  if (f.culprit) {
    return {
      key: `collateral|${f.culprit.method}|${f.culprit.feature}`,
      title: `${f.culprit.method}() with ${f.culprit.feature}: ${f.culprit.summary}`,
      variant: '',
    };
  }
  // (A culprit's kind lists how many calls it broke; its reproduction is its trial.)
  const plain = f.feature || 'plain arguments';
  switch (f.check) {
    case 'sync-throw':
      return { key: `${f.check}|${f.method}`, title: `${f.method}() throws synchronously instead of rejecting`, variant: `${plain}: ${f.errorClass}` };
    case 'not-a-promise':
      return { key: `${f.check}|${f.method}`, title: `${f.method}() returns something that is not a Promise`, variant: plain };
    case 'untyped-error':
      return {
        key: `${f.check}|${f.method}|${f.errorClass}|${f.message}`,
        title: `${f.method}${f.method.startsWith('new ') ? '' : '()'} fails with an undocumented ${f.errorClass}: "${f.message}"`,
        variant: plain,
      };
    case 'invalid-resolved':
      return { key: `${f.check}|${f.method}`, title: `${f.method}() resolves where it must reject before any I/O`, variant: plain };
    case 'valid-rejected':
      // One kind per error, whatever the method: the same defect shows through several.
      return { key: `${f.check}|${f.errorClass}|${f.message}`, title: `valid calls fail with ${f.errorClass}: "${f.message}"`, variant: `${f.method}: ${plain}` };
    case 'wrong-result':
      if (f.writer !== undefined || f.writerFeature !== undefined) {
        return {
          key: `${f.check}|followed|${f.writerFeature ?? ''}`,
          title: f.writerFeature
            ? `a followed key reads back wrong after a write with ${f.writerFeature}`
            : 'a followed key reads back wrong after plain writes (some other call changed it: see the calls that break others)',
          variant: f.method,
        };
      }
      return { key: `${f.check}|${f.method}|${f.message}`, title: `${f.method}() resolves a wrong result: ${f.message}`, variant: plain };
    case 'after-close':
      return { key: `${f.check}|${f.message}`, title: `a call on a closed client ${f.message}`, variant: f.method };
    case 'unsettled':
      return { key: `${f.check}|${f.method}`, title: `${f.method}() never settles`, variant: plain };
    case 'uncaught':
      return { key: `${f.check}|${f.errorClass}|${f.message}`, title: `an uncaught ${f.errorClass} escapes: "${f.message}"`, variant: '' };
    case 'bytes-sent':
      return { key: f.check, title: 'calls the client must refuse send bytes to the server', variant: `${f.method}: ${plain}` };
    case 'injection':
      return { key: f.check, title: 'a text-protocol command gets injected', variant: `${f.method}: ${plain}` };
    case 'verify':
      return { key: `${f.check}|${f.method}`, title: `fresh keys do not read back exactly through ${f.method}`, variant: '' };
    case 'ctor-accepted-invalid':
      return { key: `${f.check}|${f.feature.split(':')[0]}`, title: `new Client() accepts an invalid ${f.feature.split(':')[0]}`, variant: plain };
    case 'roundtrip':
      return { key: f.check, title: 'deserialize(serialize(v)) is not v', variant: plain };
    case 'wedged':
      return { key: f.check, title: 'a client stops answering for good (every later call stays pending)', variant: '' };
  }
}

export interface Variant {
  name: string;
  count: number;
  /** The shortest reproduction among its failures. */
  shortest: Failure;
}

export interface KindReport {
  key: string;
  title: string;
  /** The check that failed, or 'collateral' for a call that broke others. */
  check: Check | 'collateral';
  count: number;
  first: Failure;
  variants: Variant[];
  /** How many of its failures each check found (for a culprit: what it broke). */
  checks: Map<string, number>;
}

const ORDER: Array<Check | 'collateral'> = [
  'sync-throw',
  'not-a-promise',
  'untyped-error',
  'invalid-resolved',
  'bytes-sent',
  'injection',
  'ctor-accepted-invalid',
  'valid-rejected',
  'wrong-result',
  'roundtrip',
  'after-close',
  'verify',
  'collateral',
  'wedged',
  'unsettled',
  'uncaught',
];

export function groupFailures(failures: readonly Failure[]): KindReport[] {
  const kinds = new Map<string, KindReport>();
  for (const f of failures) {
    const { key, title, variant } = kindOf(f);
    let kind = kinds.get(key);
    if (!kind) {
      kind = { key, title, check: f.culprit ? 'collateral' : f.check, count: 0, first: f, variants: [], checks: new Map() };
      kinds.set(key, kind);
    }
    kind.count++;
    kind.checks.set(f.check, (kind.checks.get(f.check) ?? 0) + 1);
    const v = kind.variants.find((x) => x.name === variant);
    if (!v) kind.variants.push({ name: variant, count: 1, shortest: f });
    else {
      v.count++;
      // A failure shown to fail alone makes the better reproduction, even if longer.
      const better = (f.alone === true) !== (v.shortest.alone === true) ? f.alone === true : reproOf(f).length < reproOf(v.shortest).length;
      if (better) v.shortest = f;
    }
  }
  for (const kind of kinds.values()) kind.variants.sort((a, b) => b.count - a.count);
  // Defects of one call first, then calls that break others, then what they left behind.
  return [...kinds.values()].sort((a, b) => ORDER.indexOf(a.check) - ORDER.indexOf(b.check) || (a.key === 'collateral|unknown' ? 1 : 0) - (b.key === 'collateral|unknown' ? 1 : 0));
}

/** The failure as code to run: the setup, then the call (or the culprit's trial). */
export function reproOf(f: Failure): string {
  if (f.culprit) return f.culprit.repro;
  const lines: string[] = [];
  if (f.setup) lines.push(f.setup);
  if (f.writer) lines.push(`await ${f.writer};`);
  if (f.code === '') return lines.join('\n');
  const bare = f.code.includes('\n') || f.code.startsWith('//') || f.code.startsWith('await') || f.code.startsWith('const');
  lines.push(bare ? f.code : `await ${f.code};`);
  if (f.alone) lines.push('// (fails the same way alone, on a fresh client)');
  return lines.join('\n');
}

export interface RunSummary {
  protocol: string;
  seed: number;
  calls: number;
  wallMs: number;
  phases: Array<{ name: string; calls: number; ms: number }>;
  mainClient: string;
  /** Counts worth a glance: rejections by class, verdicts, suppressed checks. */
  notes: string[];
  failures: Failure[];
}

function indent(text: string, by: string): string {
  return text
    .split('\n')
    .map((line) => by + line)
    .join('\n');
}

export function replayCommand(seed: number, protocol: string, calls?: number): string {
  return `FUZZ_SEED=${seed} FUZZ_PROTOCOL=${protocol}${calls !== undefined ? ` FUZZ_CALLS=${calls}` : ''} npx jest test/integration/fuzz.test.ts`;
}

/** The run's report: what ran, then each kind of failure with its reproduction. */
export function formatReport(s: RunSummary): string {
  const out: string[] = [];
  out.push(`fuzz, ${s.protocol} protocol: seed ${s.seed}; replay with ${replayCommand(s.seed, s.protocol)}`);
  out.push(`  ${s.calls.toLocaleString('en')} calls in ${(s.wallMs / 1000).toFixed(1)} s (${s.phases.map((p) => `${p.name}: ${p.calls > 0 ? `${p.calls.toLocaleString('en')} calls, ` : ''}${(p.ms / 1000).toFixed(1)} s`).join('; ')})`);
  out.push(`  main client: ${s.mainClient}`);
  for (const note of s.notes) out.push(`  ${note}`);
  const kinds = groupFailures(s.failures);
  if (kinds.length === 0) {
    out.push('  no failures');
    return out.join('\n');
  }
  out.push(`  ${s.failures.length.toLocaleString('en')} failures of ${kinds.length} kinds:`);
  kinds.forEach((k, i) => {
    const f = k.first;
    out.push('');
    out.push(`  ${i + 1}. [${k.check}] ${k.title}`);
    const replay = f.n >= 0 ? replayCommand(f.seed, f.protocol, f.n + 1) : replayCommand(f.seed, f.protocol);
    out.push(`     ${k.count} time${k.count === 1 ? '' : 's'}; first at ${f.n >= 0 ? `call #${f.n}, ` : ''}batch ${f.batch} of the ${f.phase} phase; replay: ${replay}`);
    const shown = k.variants.slice(0, 4);
    if (k.check === 'collateral') {
      const broke = [...k.checks].map(([check, n]) => `${check} ${n}`).join(', ');
      out.push(`     in the run, calls it broke: ${broke}; for example ${k.first.code.slice(0, 200)}: ${k.first.detail}`);
    }
    for (const v of shown) {
      if (v.name !== '' || k.variants.length > 1) out.push(`     - ${v.name || 'plain arguments'} (${v.count}):`);
      if (k.check !== 'collateral') out.push(`       what happened: ${v.shortest.detail}`);
      out.push(indent(reproOf(v.shortest), '         '));
    }
    if (k.variants.length > shown.length) out.push(`     - and ${k.variants.length - shown.length} more variants: ${k.variants.slice(shown.length).map((v) => v.name).join('; ').slice(0, 400)}`);
  });
  const shownCode = kinds.flatMap((k) => k.variants.slice(0, 4).map((v) => reproOf(v.shortest))).join('\n');
  // FuzzBoom is what every helper throws: listed whenever one of them is.
  const used = HELPERS.filter((h) => shownCode.includes(`${h.name}(`) || shownCode.includes(`new ${h.name}`) || (h.name === 'FuzzBoom' && HELPERS.some((x) => x.name !== 'FuzzBoom' && shownCode.includes(`${x.name}(`))));
  if (used.length > 0) {
    out.push('');
    out.push('  helpers used above (test/fuzz/hostile.ts):');
    for (const h of used) out.push(indent(h.source, '    '));
  }
  return out.join('\n');
}
