/**
 * One fuzz run of one protocol against real memcached servers: a check that calls the client
 * must refuse send no bytes, a seeded stream of calls over every public method, the check that
 * every promise settles, a read-back of fresh keys, a search for injected commands, and trials
 * that find which call broke the others queued in its tick.
 */
import * as net from 'node:net';
import { isDeepStrictEqual, types } from 'node:util';
import { Client, ClientOptions, DeserializationError, ServerList } from '../../lib';
import { MemcachedServer, freePort, startMemcached } from '../harness/memcached';
import { rawGet, rawSet } from '../harness/raw';
import { Arg, HOSTILE_VALUES, Injection, Mode, arg, genClientOptions, genServers, genValue, lit, object, str, worst } from './args';
import { CallSpec, ClientCtx, TrackedModel, callCode, finish, genCall, invoke, show } from './calls';
import { allowedForValid, className, describe, isClosedError, isTyped, messageOf, shapeComplaint } from './checks';
import { deepDict, deepList, manyAppends } from './hostile';
import { Check, Culprit, Failure, RunSummary, normalize } from './report';
import { Rng } from './rng';

export interface FuzzConfig {
  seed: number;
  protocol: string;
  binary: boolean;
  /** Call budget of the main phase. */
  calls: number;
  /** Time budget of the main phase, in seconds. */
  seconds: number;
  /** Calls of the no-bytes check (all of them must be refused). */
  bytesCalls: number;
  /** A promise still pending after this long has not settled. */
  settleMs: number;
}

/** What the test's process-level handlers caught, and what the run was doing at the time. */
export interface Trapped {
  origin: 'uncaughtException' | 'unhandledRejection';
  error: unknown;
  phase: string;
  batch: number;
}

export interface Trap {
  context: { phase: string; batch: number };
  caught: Trapped[];
}

/** A client calls go to, as the report names it. */
interface Live {
  client: Client;
  name: string;
  /** How it was made, as code. */
  setup: string;
  /** Healthy server, benign options, no hooks: valid calls may meet only the documented soft errors. */
  strict: boolean;
  ctx: ClientCtx;
  closing: boolean;
  closedBatch?: number;
  /** It stopped answering: its pending calls were written off and it was replaced. */
  wedged?: boolean;
  /** The last batch after which a health probe of it still settled. */
  lastOkBatch: number;
}

/** A get issued in a tick of its own, to tell a client that stopped answering from a lost batch. */
interface Probe {
  live: Live;
  batch: number;
  t0: number;
  settled: boolean;
}

/** One call made. */
interface Rec {
  /** Unique among the run's calls, re-runs included. */
  id: number;
  /** The call's index in the run (-1 for a quiet re-run). */
  n: number;
  batch: number;
  phase: string;
  live: Live;
  spec: CallSpec;
  afterClose: boolean;
  t0: number;
  settled: boolean;
  failed: boolean;
  /** It resolved (a call that must be refused and resolved did I/O for sure). */
  resolved?: boolean;
  /** Re-runs (bisection) are not judged again. */
  quiet: boolean;
}

const HOSTILE_BYTES: Record<string, () => Buffer> = {
  'deepList(30000)': () => deepList(30000),
  'deepDict(30000)': () => deepDict(30000),
  'manyAppends(200000)': () => manyAppends(200000),
};
const hostileCache = new Map<string, Buffer>();

/** The bytes of a HOSTILE_VALUES entry, from its code (made once: the deep ones are large). */
function hostileBytes(code: string): Buffer {
  let bytes = hostileCache.get(code);
  if (bytes === undefined) {
    const known = HOSTILE_BYTES[code];
    const m = /^Buffer\.from\('(.*)'(?:, 'latin1')?\)$/s.exec(code);
    if (!known && !m) throw new Error(`no bytes for ${code}`);
    bytes = known ? known() : Buffer.from(m![1].replace(/\\x([0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))).replace(/\\n/g, '\n'), 'latin1');
    hostileCache.set(code, bytes);
  }
  return bytes;
}

/** Code on one line, cut short: for lists of suspects. */
function oneLine(code: string): string {
  const line = code.replace(/\s*\n\s*/g, ' ');
  return line.length > 240 ? `${line.slice(0, 240)}…` : line;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const TIMED_OUT = Symbol('timed out');

/** `promise`'s value, or TIMED_OUT after `ms`: the runner itself never waits unboundedly. */
async function within<T>(promise: PromiseLike<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([Promise.resolve(promise), new Promise<typeof TIMED_OUT>((resolve) => (timer = setTimeout(() => resolve(TIMED_OUT), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function';
}

/** memcached's bytes_read, read over a socket of its own (never through the client under test). */
function bytesRead(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    socket.setTimeout(5000, () => socket.destroy(new Error('stats timed out')));
    socket.on('error', reject);
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.endsWith('END\r\n')) {
        socket.end();
        const m = /STAT bytes_read (\d+)/.exec(reply);
        if (m) resolve(Number(m[1]));
        else reject(new Error(`no bytes_read in ${reply.slice(0, 200)}`));
      }
    });
    socket.write('stats\r\n');
  });
}

interface Outcome {
  state: 'resolved' | 'rejected' | 'pending';
  value?: unknown;
}

/** A promise whose outcome is recorded as soon as it settles (so its rejection is handled at once). */
interface Watched {
  outcome: Outcome;
  done: Promise<void>;
}

function watch(p: PromiseLike<unknown>): Watched {
  const w: Watched = { outcome: { state: 'pending' }, done: Promise.resolve() };
  w.done = Promise.resolve(p).then(
    (value) => void (w.outcome = { state: 'resolved', value }),
    (value: unknown) => void (w.outcome = { state: 'rejected', value }),
  );
  return w;
}

/** The outcomes of `watched` once all settled, or after `ms` (pending ones say so). */
async function watchedWithin(watched: readonly Watched[], ms: number): Promise<Outcome[]> {
  await within(Promise.all(watched.map((w) => w.done)), ms);
  return watched.map((w) => w.outcome);
}

function describeOutcome(o: Outcome): string {
  if (o.state === 'pending') return 'never settles';
  if (o.state === 'resolved') return `resolves ${show(o.value)}`;
  return `rejects with ${className(o.value)}: ${messageOf(o.value)}`;
}

/** The value deserialize(serialize(v)) must give back, by the README's table. */
function roundTripped(value: unknown): unknown {
  // util.types, not instanceof: a Buffer's Uint8Array is not jest's sandbox's.
  if (types.isUint8Array(value)) return Buffer.from(value);
  if (value !== null && typeof value === 'object') return JSON.parse(JSON.stringify(value)) as unknown;
  return value;
}

export class FuzzRun {
  readonly #cfg: FuzzConfig;
  readonly #trap: Trap;
  readonly failures: Failure[] = [];
  readonly #notes: string[] = [];
  readonly #phases: Array<{ name: string; calls: number; ms: number }> = [];
  #calls = 0;
  #ids = 0;
  readonly #pending = new Map<number, Rec>();
  #wakers: Array<() => void> = [];
  // Non-valid calls of each batch, by `${phase}:${batch}`: the suspects when a valid call of
  // that batch goes wrong.
  readonly #suspects = new Map<string, Rec[]>();
  readonly #model = new TrackedModel();
  // Followed keys: calls in flight on each, and from which call on its checks are void.
  readonly #trackedPending = new Map<string, Set<Rec>>();
  readonly #poisonedAt = new Map<string, number>();
  readonly #resetAt = new Map<string, number>();
  #suppressed = 0;
  readonly #injections = new Map<string, Rec | undefined>();
  #injectionNext = 1;
  #injectionsAsked: string[] = [];
  readonly #rejections = new Map<string, number>();
  readonly #verdicts = new Map<string, number>();
  #server!: MemcachedServer;
  #flushServer!: MemcachedServer;
  #dead = '';
  #main!: Live;
  #flush!: Live;
  #second: Live | undefined;
  #mainOptions!: Arg;
  readonly #lives: Live[] = [];
  /** The calls whose trials broke others, by method and feature. */
  readonly #culprits = new Map<string, Culprit>();
  /** The call behind each failure, for the trials. */
  readonly #recOf = new Map<Failure, Rec>();
  #probes: Probe[] = [];
  #lastBatch: number | undefined;
  #lastProbe = 0;

  constructor(cfg: FuzzConfig, trap: Trap) {
    this.#cfg = cfg;
    this.#trap = trap;
  }

  async run(): Promise<RunSummary> {
    const start = Date.now();
    const { binary } = this.#cfg;
    // -I 4m: values of 1 to 6 MB are both stored and refused. -m 1024: the few stored ones
    // never evict the small followed keys.
    this.#server = await startMemcached({ args: ['-m', '1024', '-I', '4m'] });
    this.#flushServer = await startMemcached();
    this.#dead = `127.0.0.1:${await freePort()}`;
    try {
      const r = Rng.derive(this.#cfg.seed, this.#cfg.protocol, 'main client');
      const options = genClientOptions(r, binary, 'main');
      this.#mainOptions = options.arg;
      this.#main = this.#live(new Client([this.#server.spec], options.arg.make() as ClientOptions), 'mc', `const mc = new Client([server], ${options.arg.code});`, true, Buffer.byteLength(options.namespace));
      this.#flush = this.#live(new Client([this.#flushServer.spec], { binary }), 'mcFlush', `const mcFlush = new Client([flushServer], { binary: ${binary} });`, true, 0);
      this.#flush.ctx.mayFlush = true;
      for (const h of HOSTILE_VALUES) {
        const bytes = hostileBytes(h.code);
        await rawSet(this.#server.port, h.key, h.flags, bytes);
        if (options.namespace) await rawSet(this.#server.port, options.namespace + h.key, h.flags, bytes);
      }

      await this.#phase('no-bytes check', () => this.#bytesPhase());
      await this.#phase('main', () => this.#mainPhase());
      await this.#confirmHealth();
      // The read-back and the injection check run while the last calls get their time to settle.
      await this.#phase('read-back', () => this.#verify());
      await this.#phase('injection check', () => this.#injectionCheck());
      await this.#phase('settle', () => this.#drain(this.#cfg.settleMs));
      this.#reportUnsettled();
      this.#reportTrapped();
      await this.#phase('attribution', () => this.#attribute());
      await this.#phase('close', () => this.#closeAll());
      this.#reportTrapped();
    } finally {
      await this.#server.stop();
      await this.#flushServer.stop();
    }
    const verdicts = [...this.#verdicts].map(([k, v]) => `${k} ${v}`).join(', ');
    const rejections = [...this.#rejections].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
    this.#notes.unshift(`calls by verdict: ${verdicts}`, `rejections by class: ${rejections}`);
    if (this.#suppressed > 0) this.#notes.push(`followed-key checks skipped after an earlier failure on the key: ${this.#suppressed}`);
    return {
      protocol: this.#cfg.protocol,
      seed: this.#cfg.seed,
      calls: this.#calls,
      wallMs: Date.now() - start,
      phases: this.#phases,
      mainClient: `new Client([server], ${this.#mainOptions.code})`,
      notes: this.#notes,
      failures: this.failures,
    };
  }

  async #phase(name: string, body: () => Promise<void>): Promise<void> {
    const t0 = Date.now();
    const c0 = this.#calls;
    this.#trap.context = { phase: name, batch: -1 };
    if (process.env.FUZZ_DEBUG) process.stderr.write(`fuzz ${this.#cfg.protocol}: ${name} (${this.#calls} calls so far)\n`);
    await body();
    this.#phases.push({ name, calls: this.#calls - c0, ms: Date.now() - t0 });
  }

  #live(client: Client, name: string, setup: string, strict: boolean, ns: number): Live {
    const live: Live = {
      client,
      name,
      setup,
      strict,
      closing: false,
      lastOkBatch: -1,
      ctx: {
        binary: client.binary,
        ns,
        servers: client.servers.length,
        mayFlush: false,
        nextInjection: () => this.#nextInjection(),
      },
    };
    this.#lives.push(live);
    return live;
  }

  #nextInjection(): Injection | undefined {
    if (this.#injectionNext > 48) return undefined;
    const key = `INJ~${this.#injectionNext++}`;
    this.#injectionsAsked.push(key);
    return { key };
  }

  // Issuing and judging ----------------------------------------------------------------------

  #fail(rec: Rec | undefined, check: Check, detail: string, extra: Partial<Failure> = {}): void {
    if (rec?.quiet) return;
    if (rec) rec.failed = true;
    const failure: Failure = {
      check,
      protocol: this.#cfg.protocol,
      seed: this.#cfg.seed,
      n: rec?.n ?? -1,
      batch: rec?.batch ?? -1,
      phase: rec?.phase ?? this.#trap.context.phase,
      method: rec?.spec.method ?? '',
      feature: rec?.spec.feature ?? '',
      code: rec ? callCode(rec.spec, rec.live.name) : '',
      setup: rec ? this.#setupFor(rec) : undefined,
      verdict: rec?.spec.verdict,
      detail,
      ...extra,
    };
    this.failures.push(failure);
    if (rec) this.#recOf.set(failure, rec);
  }

  #setupFor(rec: Rec): string | undefined {
    if (rec.spec.method === 'new Client') return undefined;
    const lines = [rec.live.setup];
    // A read of a value written raw before the run: how it was written.
    const code = callCode(rec.spec, rec.live.name);
    const ns = (rec.live.client.options.namespace as string | undefined) ?? '';
    for (const h of HOSTILE_VALUES) {
      if (code.includes(`'${h.key}'`)) lines.push(`await rawSet(port, ${str(ns + h.key)}, ${h.flags}, ${h.code}); // test/harness/raw.ts: as another client would write it`);
    }
    if (rec.afterClose) lines.push(`await ${rec.live.name}.close();`);
    return lines.join('\n');
  }

  #rec(live: Live, spec: CallSpec, batch: number, phase: string, quiet: boolean): Rec {
    const rec: Rec = {
      id: this.#ids++,
      n: quiet ? -1 : this.#calls++,
      batch,
      phase,
      live,
      spec,
      afterClose: live.closing && spec.method !== 'close' && spec.method !== 'asyncDispose',
      t0: Date.now(),
      settled: false,
      failed: false,
      quiet,
    };
    if (!quiet) {
      this.#verdicts.set(spec.verdict, (this.#verdicts.get(spec.verdict) ?? 0) + 1);
      if (spec.verdict !== 'valid') {
        const key = `${phase}:${batch}`;
        const list = this.#suspects.get(key) ?? [];
        list.push(rec);
        this.#suspects.set(key, list);
      }
      for (const key of this.#injectionsAsked) this.#injections.set(key, rec);
    }
    this.#injectionsAsked = [];
    return rec;
  }

  /** Calls an asynchronous method and judges what it does. */
  #issue(live: Live, spec: CallSpec, batch: number, phase: string, quiet = false): Rec {
    const rec = this.#rec(live, spec, batch, phase, quiet);
    let out: unknown;
    try {
      out = invoke(spec, live.client);
    } catch (error) {
      rec.settled = true;
      this.#fail(rec, 'sync-throw', `threw ${className(error)}: ${messageOf(error)}`, { errorClass: className(error), message: normalize(messageOf(error)) });
      return rec;
    }
    if (!isThenable(out)) {
      rec.settled = true;
      this.#fail(rec, 'not-a-promise', `returned ${describe(out)}`);
      return rec;
    }
    this.#pending.set(rec.id, rec);
    for (const key of spec.tracked ?? []) {
      const set = this.#trackedPending.get(key) ?? new Set<Rec>();
      set.add(rec);
      this.#trackedPending.set(key, set);
    }
    out.then(
      (value) => this.#settle(rec, true, value),
      (error: unknown) => this.#settle(rec, false, error),
    );
    return rec;
  }

  #settle(rec: Rec, ok: boolean, value: unknown): void {
    rec.settled = true;
    rec.resolved = ok;
    this.#pending.delete(rec.id);
    const wakers = this.#wakers;
    this.#wakers = [];
    for (const wake of wakers) wake();
    const { spec } = rec;
    const tracked = spec.tracked ?? [];
    // A followed key's check is void if an earlier call on it is still pending or failed. One
    // pending for over a second was lost with a broken batch: the model counted a call that
    // never happened, so the key is unknown until a later set or delete does what it should.
    let checkable = spec.expect !== undefined;
    const now = Date.now();
    for (const key of tracked) {
      const set = this.#trackedPending.get(key);
      set?.delete(rec);
      for (const other of set ?? []) {
        if (other.n >= rec.n) continue;
        if (now - other.t0 > 1000) {
          set?.delete(other);
          this.#poisonedAt.set(key, Math.max(other.n, this.#poisonedAt.get(key) ?? -1));
          this.#resetAt.delete(key);
        } else {
          checkable = false;
        }
      }
      const poisoned = this.#poisonedAt.get(key);
      if (poisoned !== undefined && !(rec.n > (this.#resetAt.get(key) ?? Infinity))) checkable = false;
    }
    if (rec.quiet) return;
    if (!ok) this.#rejections.set(className(value), (this.#rejections.get(className(value)) ?? 0) + 1);
    const failuresBefore = this.failures.length;
    this.#judge(rec, ok, value, checkable);
    if (tracked.length > 0) {
      if (this.failures.length > failuresBefore || !ok) {
        for (const key of tracked) {
          this.#poisonedAt.set(key, Math.max(rec.n, this.#poisonedAt.get(key) ?? -1));
          this.#resetAt.delete(key);
        }
      } else if (spec.method === 'set' || spec.method === 'delete') {
        // A write that did what it should: the key's state is known again from here on.
        for (const key of tracked) {
          if ((this.#poisonedAt.get(key) ?? Infinity) < rec.n) this.#resetAt.set(key, Math.max(rec.n, this.#resetAt.get(key) ?? -1));
        }
      }
      if (spec.expect !== undefined && !checkable) this.#suppressed++;
    }
  }

  #judge(rec: Rec, ok: boolean, value: unknown, checkable: boolean): void {
    const { spec } = rec;
    const cls = className(value);
    const err = { errorClass: cls, message: normalize(messageOf(value)) };
    if (!ok) {
      if (!isTyped(value)) return this.#fail(rec, 'untyped-error', `rejected with ${cls}: ${messageOf(value)}`, err);
      if (rec.afterClose) {
        if (spec.verdict === 'valid' && !isClosedError(value)) {
          this.#fail(rec, 'after-close', `rejected with ${cls} instead of ClientClosedError: ${messageOf(value)}`, { ...err, message: `rejects with ${cls} instead of ClientClosedError` });
        }
        return;
      }
      if (spec.verdict === 'valid' && rec.live.strict && !allowedForValid(spec.method, value)) {
        this.#fail(rec, 'valid-rejected', `rejected with ${cls}: ${messageOf(value)}`, err);
      }
      return;
    }
    if (rec.afterClose) return this.#fail(rec, 'after-close', `resolved ${describe(value)} after close()`, { message: 'resolves instead of rejecting with ClientClosedError' });
    if (spec.verdict === 'invalid') {
      // A client's own serialize hook may well take a value the default serializer refuses.
      const hooked = typeof rec.live.client.options.serialize === 'function';
      if (hooked && (worst(spec.args)?.feature ?? spec.feature ?? '').startsWith('value')) return;
      return this.#fail(rec, 'invalid-resolved', `resolved ${describe(value)}`);
    }
    const shape = shapeComplaint(spec.method, value, rec.live.ctx.servers);
    if (shape) return this.#fail(rec, 'wrong-result', shape, { message: normalize(shape) });
    if (checkable && spec.expect) {
      const complaint = spec.expect(value);
      if (complaint) {
        this.#fail(rec, 'wrong-result', spec.writer ? `${complaint} (after: ${oneLine(spec.writer)})` : complaint, {
          message: normalize(complaint),
          writer: spec.writer,
          writerFeature: spec.writerFeature ?? '',
        });
      }
    }
  }

  /** A synchronous call (constructor, clone, serialize, deserialize) that threw. */
  #judgeThrow(rec: Rec, error: unknown): void {
    const cls = className(error);
    const err = { errorClass: cls, message: normalize(messageOf(error)) };
    this.#rejections.set(cls, (this.#rejections.get(cls) ?? 0) + 1);
    if (!isTyped(error)) return this.#fail(rec, 'untyped-error', `threw ${cls}: ${messageOf(error)}`, err);
    if (rec.spec.verdict === 'valid') this.#fail(rec, 'valid-rejected', `threw ${cls}: ${messageOf(error)}`, err);
  }

  /** Lets the event loop run, and waits while too many calls made in the last 250 ms are in flight. */
  async #pace(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    for (;;) {
      const now = Date.now();
      let fresh = 0;
      // Calls lost with a broken batch never settle; counting them for long would stall the run.
      for (const rec of this.#pending.values()) if (now - rec.t0 < 250) fresh++;
      if (fresh < 800) return;
      await this.#progress(20);
    }
  }

  #progress(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wakers.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Waits until every call settled, or every one still pending has been so for `ms`. */
  async #drain(ms: number): Promise<void> {
    const hardStop = Date.now() + ms + 1000;
    while (this.#pending.size > 0 && Date.now() < hardStop) {
      const now = Date.now();
      let young = false;
      for (const rec of this.#pending.values()) if (now - rec.t0 < ms) young = true;
      if (!young) return;
      await this.#progress(100);
    }
  }

  /** Waits until `recs` settled, or nothing settled for `idleMs`. */
  async #drainRecs(recs: readonly Rec[], idleMs: number): Promise<void> {
    let last = Date.now();
    let open = recs.filter((rec) => !rec.settled).length;
    while (open > 0 && Date.now() - last < idleMs) {
      await this.#progress(20);
      const now = recs.filter((rec) => !rec.settled).length;
      if (now < open) last = Date.now();
      open = now;
    }
  }

  #reportUnsettled(): void {
    const now = Date.now();
    for (const rec of this.#pending.values()) {
      if (rec.quiet) continue;
      this.#fail(rec, 'unsettled', `still pending after ${now - rec.t0} ms`);
    }
  }

  #reportTrapped(): void {
    for (const t of this.#trap.caught.splice(0)) {
      // What the trials' own clients do later is theirs, not the run's.
      if (t.phase === 'trial' || t.phase === 'attribution') continue;
      this.failures.push({
        check: 'uncaught',
        protocol: this.#cfg.protocol,
        seed: this.#cfg.seed,
        n: -1,
        batch: t.batch,
        phase: t.phase,
        method: t.origin,
        feature: '',
        code: this.#suspectListing(t.phase, t.batch, `// process '${t.origin}' during ${t.phase}${t.batch >= 0 ? `, batch ${t.batch}` : ''}`),
        detail: `${className(t.error)}: ${messageOf(t.error)}`,
        errorClass: className(t.error),
        message: normalize(messageOf(t.error)),
      });
    }
  }

  /** The calls that are not valid of a batch and the one before it, as code: the suspects. */
  #suspectListing(phase: string, batch: number, last: string): string {
    const suspects = [...(this.#suspects.get(`${phase}:${batch - 1}`) ?? []), ...(this.#suspects.get(`${phase}:${batch}`) ?? [])];
    if (suspects.length === 0) return last;
    return [
      `// the calls that are not valid in batches ${batch - 1}-${batch} (one of them, or an earlier one, is the cause):`,
      ...suspects.slice(-8).map((rec) => `${oneLine(callCode(rec.spec, rec.live.name))};`),
      last,
    ].join('\n');
  }

  // Phases -------------------------------------------------------------------------------------

  /**
   * Calls that must all be refused, on the main client, with nothing else talking to its
   * server: memcached's bytes_read must grow by exactly what the two stats requests cost.
   */
  async #bytesPhase(): Promise<void> {
    const port = this.#server.port;
    await within(this.#main.client.get('k0').catch(() => undefined), 2000);
    const first = await bytesRead(port);
    const second = await bytesRead(port);
    const cost = second - first;
    const recs: Rec[] = [];
    const stop = Date.now() + 4000;
    for (let batch = 0; recs.length < this.#cfg.bytesCalls && Date.now() < stop; batch++) {
      this.#trap.context = { phase: 'no-bytes check', batch };
      const r = Rng.derive(this.#cfg.seed, this.#cfg.protocol, 'bytes', batch);
      const size = r.int(1, 40);
      for (let i = 0; i < size; i++) recs.push(this.#issue(this.#main, genCall(r, this.#main.ctx, 'invalid'), batch, 'no-bytes check'));
      await this.#pace();
    }
    // Refused calls reject at once; calls a broken batch lost never settle: do not wait for them.
    await this.#drainRecs(recs, 300);
    await sleep(50);
    const sent = (await bytesRead(port)) - second - cost;
    this.#notes.push(`no-bytes check: ${recs.length} calls that must be refused; the server read ${sent} bytes beyond the stats requests`);
    if (sent === 0) return;
    // Bisect for the calls that sent something, replaying them quietly.
    const measure = async (subset: Rec[]): Promise<number> => {
      const before = await bytesRead(port);
      const reruns: Rec[] = [];
      for (let i = 0; i < subset.length; i += 40) {
        for (const rec of subset.slice(i, i + 40)) reruns.push(this.#issue(this.#main, rec.spec, rec.batch, 'bisection', true));
        await this.#pace();
      }
      // Calls that a broken batch left pending never settle: do not wait for them.
      await this.#drainRecs(reruns, 60);
      await sleep(20);
      return (await bytesRead(port)) - before - cost;
    };
    const culprits: Array<[Rec, number]> = [];
    const deadline = Date.now() + 1500;
    const search = async (subset: Rec[], bytes: number): Promise<void> => {
      if (culprits.length >= 6 || Date.now() > deadline) return;
      if (subset.length === 1) {
        culprits.push([subset[0], bytes]);
        return;
      }
      const half = subset.length >> 1;
      for (const part of [subset.slice(0, half), subset.slice(half)]) {
        const b = await measure(part);
        if (b > 0) await search(part, b);
      }
    };
    // The calls that resolved did I/O for sure: measured first, then the others (a lost batch
    // can send part of itself).
    const resolved = recs.filter((rec) => rec.resolved);
    const rest = recs.filter((rec) => !rec.resolved);
    let left = sent;
    for (const part of [resolved, rest]) {
      if (left <= 0 || part.length === 0) continue;
      const b = await measure(part);
      if (b > 0) {
        await search(part, b);
        left -= b;
      }
    }
    for (const [rec, bytes] of culprits) {
      this.#fail({ ...rec, quiet: false }, 'bytes-sent', `the server read ${bytes} bytes for this call, which must be refused before any I/O`);
    }
    if (culprits.length === 0) {
      this.#fail(undefined, 'bytes-sent', `${recs.length} calls that must be refused made the server read ${sent} bytes; no single call does it alone`, { method: 'several', code: '// see the log' });
    }
  }

  async #mainPhase(): Promise<void> {
    const stop = Date.now() + this.#cfg.seconds * 1000;
    // The budget counts every call of the run, so that FUZZ_CALLS=n+1 replays up to call #n.
    for (let batch = 0; this.#calls < this.#cfg.calls && Date.now() < stop; batch++) {
      this.#trap.context = { phase: 'main', batch };
      this.#lastBatch = batch;
      this.#batch(Rng.derive(this.#cfg.seed, this.#cfg.protocol, 'batch', batch), batch);
      await this.#pace();
      // The probes get a tick of their own: no hostile call may share their batch.
      if (this.#checkHealth(batch)) await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /**
   * Every 200 ms, a few gets on the long-lived clients, each in a tick of their own (so no
   * hostile call shares their batch). One pending for 2 s means the client stopped answering:
   * that is reported, its pending calls are written off, and it is replaced, so that the rest
   * of the run still tests something.
   */
  #checkHealth(batch: number): boolean {
    const now = Date.now();
    const lives = [this.#main, this.#flush, ...(this.#second && !this.#second.closing && !this.#second.wedged ? [this.#second] : [])];
    for (const live of lives) {
      // Stuck, and no probe made after it answered either.
      const stuck = this.#probes.find((p) => p.live === live && !p.settled && now - p.t0 > 2000 && p.batch > live.lastOkBatch);
      if (stuck) this.#wedged(live, stuck.batch);
    }
    this.#probes = this.#probes.filter((p) => !p.settled && !p.live.wedged);
    if (now - this.#lastProbe < 200) return false;
    this.#lastProbe = now;
    for (const live of lives) {
      // Eight keys: with several I/O threads per server, one of them may be the stuck one.
      for (let i = 0; i < 8; i++) {
        const probe: Probe = { live, batch, t0: now, settled: false };
        this.#probes.push(probe);
        live.client.get(`fz~probe${i}`).then(
          () => {
            probe.settled = true;
            live.lastOkBatch = Math.max(live.lastOkBatch, probe.batch);
          },
          () => {
            probe.settled = true;
          },
        );
      }
    }
    return true;
  }

  /**
   * After the main phase: a client that stopped answering in its last 2 s was not caught by
   * the probes yet. Asked once more, and replaced if it is silent, before the read-back.
   */
  async #confirmHealth(): Promise<void> {
    const lastBatch = Math.max(this.#main.lastOkBatch, this.#flush.lastOkBatch, 0);
    for (const live of [this.#main, this.#flush]) {
      const answer = await within(live.client.get('fz~probe0').then(() => true, () => true), 2000);
      if (answer === TIMED_OUT) this.#wedged(live, this.#lastBatch ?? lastBatch);
    }
  }

  #wedged(live: Live, batch: number): void {
    live.wedged = true;
    const abandoned = [...this.#pending.values()].filter((rec) => rec.live === live);
    for (const rec of abandoned) {
      this.#pending.delete(rec.id);
      for (const key of rec.spec.tracked ?? []) {
        this.#trackedPending.get(key)?.delete(rec);
        this.#poisonedAt.set(key, Math.max(this.#calls, this.#poisonedAt.get(key) ?? -1));
        this.#resetAt.delete(key);
      }
    }
    const from = Math.max(0, live.lastOkBatch);
    const suspects = [];
    for (let b = from; b <= batch; b++) for (const rec of this.#suspects.get(`main:${b}`) ?? []) if (rec.live === live) suspects.push(rec);
    this.failures.push({
      check: 'wedged',
      protocol: this.#cfg.protocol,
      seed: this.#cfg.seed,
      n: -1,
      batch,
      phase: 'main',
      method: live.name,
      feature: '',
      code: '',
      detail: `a get issued after batch ${batch} in a tick of its own was still pending after 2 s (the last answered probe followed batch ${live.lastOkBatch}); ${abandoned.length} calls pending on it were written off; suspects: ${suspects.length} non-valid calls in batches ${from}-${batch}, e.g. ${suspects.slice(-3).map((rec) => oneLine(callCode(rec.spec, live.name))).join(' | ')}`,
      window: [from, batch],
    });
    this.#notes.push(`${live.name} stopped answering after batch ${batch} and was ${live === this.#second ? 'dropped' : 'replaced by a new client with the same options (the read-back uses that one)'}`);
    // Its close() would wait for the calls it will never finish: not awaited.
    live.client.close().catch(() => undefined);
    if (live === this.#second) {
      // Kept, so that the calls generated next stay the same (a replay must not depend on
      // when a client stopped answering); calls meant for it are no longer made.
      return;
    }
    const fresh = live === this.#main ? new Client([this.#server.spec], this.#mainOptions.make() as ClientOptions) : new Client([this.#flushServer.spec], { binary: this.#cfg.binary });
    const replacement = this.#live(fresh, live.name, live.setup, live.strict, live.ctx.ns);
    replacement.ctx.mayFlush = live.ctx.mayFlush;
    if (live === this.#main) this.#main = replacement;
    else this.#flush = replacement;
  }

  /** One batch: calls made in one tick, so that they travel to the addon together. */
  #batch(r: Rng, batch: number): void {
    const phase = 'main';
    if (this.#second?.closedBatch !== undefined && batch - this.#second.closedBatch >= 2) this.#second = undefined;
    if (!this.#second && r.chance(0.2)) this.#second = this.#makeSecond(r, batch);
    const size = r.weighted([
      [3, r.int(1, 4)],
      [4, r.int(5, 24)],
      [3, r.int(25, 80)],
    ] as const);
    const closeAt = this.#second && !this.#second.closing && r.chance(0.12) ? r.int(0, size - 1) : -1;
    for (let i = 0; i < size; i++) {
      const second = this.#second;
      if (i === closeAt && second) {
        const close = finish(r.chance(0.7) ? 'close' : 'asyncDispose', []);
        if (!second.wedged) this.#issue(second, close, batch, phase);
        second.closing = true;
        second.closedBatch = batch;
      }
      const mode = r.weighted<Mode>([
        [50, 'valid'],
        [22, 'invalid'],
        [28, 'any'],
      ]);
      const target = r.weighted([
        [55, 'main'],
        [14, 'tracked'],
        [second ? 15 : 0, 'second'],
        [5, 'flush'],
        [1.5, 'ctor'],
        [5, 'pure'],
        [0.8, 'clone'],
        [0.4, 'mutate'],
      ] as const);
      switch (target) {
        case 'main':
          this.#issue(this.#main, genCall(r, this.#main.ctx, mode), batch, phase);
          break;
        case 'tracked':
          this.#issue(this.#main, this.#model.gen(r, this.#main.ctx.binary), batch, phase);
          break;
        case 'second':
          if (second) {
            const spec = genCall(r, second.ctx, mode);
            if (!second.wedged) this.#issue(second, spec, batch, phase);
          }
          break;
        case 'flush':
          this.#issue(this.#flush, genCall(r, this.#flush.ctx, mode), batch, phase);
          break;
        case 'ctor':
          this.#constructorCall(r, batch, mode);
          break;
        case 'pure':
          this.#pureCall(r, batch);
          break;
        case 'mutate':
          this.#mutatedKeyCall(r, batch);
          break;
        default:
          this.#cloneCall(r, batch);
      }
    }
  }

  /** A second client on the main server, closed at some point while calls go on. */
  #makeSecond(r: Rng, batch: number): Live | undefined {
    const viaClone = r.chance(0.3);
    const options = viaClone ? undefined : genClientOptions(r, this.#cfg.binary, 'main');
    const code = viaClone ? 'mc.clone()' : `new Client([server], ${options!.arg.code})`;
    const spec = finish(viaClone ? 'clone' : 'new Client', options ? [lit('[server]', [this.#server.spec]), options.arg] : []);
    const rec = this.#rec(this.#main, spec, batch, 'main', false);
    let client: Client;
    try {
      client = viaClone ? this.#main.client.clone() : new Client([this.#server.spec], options!.arg.make() as ClientOptions);
    } catch (error) {
      rec.settled = true;
      this.#judgeThrow(rec, error);
      return undefined;
    }
    const ns = viaClone ? this.#main.ctx.ns : Buffer.byteLength(options!.namespace);
    return this.#live(client, 'mc2', viaClone ? `${this.#main.setup}\nconst mc2 = mc.clone();` : `const mc2 = ${code};`, true, ns);
  }

  /** new Client() with generated servers and options; then a few calls, close(), and calls after it. */
  #constructorCall(r: Rng, batch: number, mode: Mode): void {
    const phase = 'main';
    const badServers = mode === 'invalid' && r.chance(0.4);
    const servers = genServers(r, { binary: this.#cfg.binary, main: this.#server.spec, flush: this.#flushServer.spec, dead: this.#dead }, badServers ? 'invalid' : mode === 'invalid' ? 'valid' : mode);
    const options = genClientOptions(r, this.#cfg.binary, mode === 'invalid' && badServers ? 'valid' : mode, servers.udp);
    const spec = finish('new Client', [servers.arg, options.arg]);
    const code = `new Client(${servers.arg.code}, ${options.arg.code})`;
    const holder: Live = { client: this.#main.client, name: 'c', setup: '', strict: false, closing: false, ctx: this.#main.ctx, lastOkBatch: -1 };
    const rec = this.#rec(holder, spec, batch, phase, false);
    rec.settled = true;
    let client: Client;
    try {
      client = new Client(servers.arg.make() as ServerList, options.arg.make() as ClientOptions);
    } catch (error) {
      this.#judgeThrow(rec, error);
      return;
    }
    if (spec.verdict === 'invalid') {
      const w = worst(spec.args);
      this.#fail(rec, 'ctor-accepted-invalid', `constructed a ${client.binary ? 'binary' : 'text'}-protocol client with ${client.servers.length} server(s)`, { feature: w?.feature ?? spec.feature, code: `const c = ${code};` });
    } else if (spec.verdict === 'valid' && client.binary !== options.binary) {
      this.#fail(rec, 'wrong-result', `client.binary is ${client.binary}, options ask for ${options.binary}`, { code: `const c = ${code};`, message: 'client.binary differs from the options' });
    }
    const ns = typeof client.options.namespace === 'string' ? Buffer.byteLength(client.options.namespace) : 0;
    const live = this.#live(client, 'c', `const c = ${code};`, false, ns);
    if (servers.quick && spec.verdict !== 'invalid') {
      for (let i = r.int(0, 3); i > 0; i--) this.#issue(live, genCall(r, live.ctx, 'any'), batch, phase);
    }
    this.#issue(live, finish(r.chance(0.7) ? 'close' : 'asyncDispose', []), batch, phase);
    live.closing = true;
    if (servers.quick) {
      for (let i = r.int(0, 2); i > 0; i--) this.#issue(live, genCall(r, live.ctx, r.chance(0.5) ? 'valid' : 'any'), batch, phase);
    }
  }

  /**
   * A Buffer key overwritten after the call returned, while the call waits for an earlier
   * write's value to be compressed off-thread: the key was checked when the call was made, and
   * is read again when it is finally sent. (Overwriting a Buffer one has handed over is the
   * caller's mistake, but the client promises that no key can inject a command.)
   */
  #mutatedKeyCall(r: Rng, batch: number): void {
    const size = r.int(20_000, 40_000);
    const gateKey = `k${r.int(0, 63)}`;
    this.#issue(this.#main, finish('set', [lit(str(gateKey), gateKey), lit(`'z'.repeat(${size})`, 'z'.repeat(size)), object([['minCompressLen', lit('1', 1)], ['compressLevel', lit('6', 6)]])]), batch, 'main');
    const injection = this.#cfg.binary ? undefined : this.#nextInjection();
    const payload = injection ? `\r\nset ${injection.key} 0 0 1\r\nX\r\n` : 'a b\r\n';
    const first = 'q'.repeat(Buffer.byteLength(payload));
    let made: Buffer | undefined;
    const key = arg('key', () => (made = Buffer.from(first)), 'maybe', 'a Buffer key overwritten after the call returned');
    const method = r.pick(['delete', 'get', 'touch', 'deleteMulti'] as const);
    const spec = finish(method, method === 'touch' ? [key, lit('100', 100)] : method === 'deleteMulti' ? [arg('[key]', () => [key.make()], 'maybe', key.feature)] : [key]);
    spec.scenario = [
      `mc.set(${str(gateKey)}, 'z'.repeat(${size}), { minCompressLen: 1, compressLevel: 6 }); // compressed off-thread: calls made after it wait`,
      `const key = Buffer.from(${str(first)});`,
      `${callCode({ ...spec, scenario: undefined }, 'mc')}; // the key is checked now, and sent once the compression is done`,
      `key.write(${str(payload)});`,
    ].join('\n');
    this.#issue(this.#main, spec, batch, 'main');
    made?.write(payload);
  }

  /** clone() of the main client, a couple of valid calls on the copy, and its close(). */
  #cloneCall(r: Rng, batch: number): void {
    const rec = this.#rec(this.#main, finish('clone', []), batch, 'main', false);
    rec.settled = true;
    let copy: Client;
    try {
      copy = this.#main.client.clone();
    } catch (error) {
      this.#judgeThrow(rec, error);
      return;
    }
    const live = this.#live(copy, 'copy', `${this.#main.setup}\nconst copy = mc.clone();`, true, this.#main.ctx.ns);
    for (let i = r.int(0, 2); i > 0; i--) this.#issue(live, genCall(r, live.ctx, 'valid'), batch, 'main');
    this.#issue(live, finish(r.chance(0.5) ? 'close' : 'asyncDispose', []), batch, 'main');
    live.closing = true;
  }

  /** serialize() and deserialize(): synchronous, so they may throw, but only typed errors. */
  #pureCall(r: Rng, batch: number): void {
    const mc = this.#main.client;
    if (r.chance(0.5)) {
      const v = genValue(r, 'any', false);
      const spec = finish('serialize', [v]);
      const rec = this.#rec(this.#main, spec, batch, 'main', false);
      rec.settled = true;
      let out: unknown;
      const value = v.make();
      try {
        out = mc.serialize(value);
      } catch (error) {
        this.#judgeThrow(rec, error);
        return;
      }
      if (spec.verdict === 'invalid') {
        this.#fail(rec, 'invalid-resolved', `returned ${show(out)}`);
        return;
      }
      if (spec.verdict !== 'valid') return;
      const pair = out as [unknown, unknown];
      if (!Array.isArray(pair) || pair.length !== 2 || !types.isUint8Array(pair[0]) || !Number.isInteger(pair[1])) {
        this.#fail(rec, 'wrong-result', `returned ${show(out)}, not [bytes, flags]`, { message: 'not [bytes, flags]' });
        return;
      }
      let back: unknown;
      try {
        back = mc.deserialize(Buffer.from(pair[0] as Uint8Array), pair[1] as number);
      } catch (error) {
        this.#fail(rec, 'roundtrip', `deserialize threw ${className(error)}: ${messageOf(error)}`, { code: `mc.deserialize(...mc.serialize(${v.code}))` });
        return;
      }
      const want = roundTripped(value);
      if (!isDeepStrictEqual(back, want)) {
        this.#fail(rec, 'roundtrip', `read back ${show(back)}, expected ${show(want)}`, { code: `mc.deserialize(...mc.serialize(${v.code}))` });
      }
      return;
    }
    // deserialize(bytes, flags): a Buffer and integer flags must give a value or a DeserializationError.
    const bytes = r.weighted<() => Arg>([
      [4, () => {
        const n = r.int(0, 24);
        const data = Buffer.from(Array.from({ length: n }, () => r.int(0, 255)));
        return lit(`Buffer.from('${data.toString('hex')}', 'hex')`, data);
      }],
      [2, () => r.pick([lit("Buffer.from('12')", Buffer.from('12')), lit("Buffer.from('{\"a\":1}')", Buffer.from('{"a":1}')), lit("Buffer.from(' 9 ')", Buffer.from(' 9 '))])],
      [0.5, () => {
        const h = r.pick(HOSTILE_VALUES);
        return { ...lit(h.code, hostileBytes(h.code)), feature: `bytes: ${h.label}` };
      }],
      [1, () => r.pick([lit("'12'", '12', 'maybe', 'bytes: a string'), lit('null', null, 'maybe', 'bytes: null'), lit('new Uint8Array([49])', new Uint8Array([49]), 'maybe', 'bytes: a Uint8Array')])],
    ])();
    const flags = r.weighted<() => Arg>([
      [6, () => {
        const f = r.pick([0, 1, 2, 4, 8, 16, 32, 64, 2 | 64, 4 | 64, 1 | 8, 16 | 8, 3, 5, 17, r.u32()]);
        return lit(String(f), f);
      }],
      [1, () => r.pick([lit('NaN', NaN, 'maybe', 'flags: NaN'), lit('-1', -1, 'maybe', 'flags: -1'), lit("'1'", '1', 'maybe', "flags: '1'"), lit('null', null, 'maybe', 'flags: null')])],
    ])();
    const spec = finish('deserialize', [bytes, flags]);
    const rec = this.#rec(this.#main, spec, batch, 'main', false);
    rec.settled = true;
    try {
      mc.deserialize(bytes.make() as Buffer, flags.make() as number);
    } catch (error) {
      const cls = className(error);
      if (!isTyped(error)) this.#fail(rec, 'untyped-error', `threw ${cls}: ${messageOf(error)}`, { errorClass: cls, message: normalize(messageOf(error)) });
      else if (spec.verdict === 'valid' && !(error instanceof DeserializationError)) {
        this.#fail(rec, 'valid-rejected', `threw ${cls} instead of DeserializationError: ${messageOf(error)}`, { errorClass: cls, message: normalize(messageOf(error)) });
      }
      this.#rejections.set(cls, (this.#rejections.get(cls) ?? 0) + 1);
    }
  }

  /**
   * 1,000 fresh keys written through a fresh client and through the fuzzed one, read back
   * through both: after everything the fuzzer did, they must come back exactly.
   */
  async #verify(): Promise<void> {
    const seed = this.#cfg.seed;
    const ns = (this.#main.client.options.namespace as string | undefined) ?? '';
    const fresh = new Client([this.#server.spec], { binary: this.#cfg.binary, namespace: ns || undefined });
    const value = (i: number): unknown => [`v${i}-${seed}`, i * 7, Buffer.from(`b${i}`), { i, s: 'é' }][i % 4];
    const keys = Array.from({ length: 1000 }, (_, i) => `V~${seed}~${i}`);
    const wrote: string[] = [];
    try {
      const firstHalf = Object.fromEntries(keys.slice(0, 500).map((k, i) => [k, value(i)]));
      const notStored = await within(fresh.setMulti(firstHalf).catch((e: unknown) => e), 3000);
      if (!Array.isArray(notStored) || notStored.length > 0) wrote.push(`fresh setMulti resolved ${show(notStored === TIMED_OUT ? 'nothing within 3 s' : notStored)}`);
      const sets = await within(Promise.all(keys.slice(500).map((k, i) => this.#main.client.set(k, value(i + 500)).catch((e: unknown) => e))), 3000);
      if (sets === TIMED_OUT) wrote.push('500 sets through the fuzzed client did not all settle within 3 s');
      else {
        const unset = sets.filter((x) => x !== true).length;
        if (unset > 0) wrote.push(`${unset} sets through the fuzzed client did not resolve true (first: ${show(sets.find((x) => x !== true))})`);
      }
      for (const [name, client] of [
        ['a fresh client', fresh],
        ['the fuzzed client', this.#main.client],
      ] as const) {
        const got = await within(client.getMulti(keys).catch((e: unknown) => e), 3000);
        if (got === TIMED_OUT || got instanceof Error || got === null || typeof got !== 'object') {
          this.#fail(undefined, 'verify', `getMulti of the 1,000 keys through ${name} ${got === TIMED_OUT ? 'did not settle within 3 s' : `failed: ${messageOf(got)}`}`, { method: name, code: 'await client.getMulti(keys)' });
          continue;
        }
        const wrong = keys.filter((k, i) => !isDeepStrictEqual((got as Record<string, unknown>)[k], value(i)));
        const settled = await within(Promise.all(keys.filter((_, i) => i % 10 === 3).map((k) => client.get(k).catch((e: unknown) => e))), 3000);
        const singles = settled === TIMED_OUT ? [] : settled;
        if (settled === TIMED_OUT) wrote.push(`100 gets through ${name} did not all settle within 3 s`);
        const wrongSingles = settled === TIMED_OUT ? [] : keys.filter((_, i) => i % 10 === 3).filter((k, j) => !isDeepStrictEqual(singles[j], value(keys.indexOf(k))));
        if (wrong.length > 0 || wrongSingles.length > 0 || wrote.length > 0) {
          const first = wrong[0] ?? wrongSingles[0];
          this.#fail(undefined, 'verify', `${wrong.length} of 1,000 keys wrong through getMulti, ${wrongSingles.length} of 100 through get${first ? `; first: ${first} → ${show((got as Record<string, unknown>)[first])}, expected ${show(value(keys.indexOf(first)))}` : ''}${wrote.length ? `; ${wrote.join('; ')}` : ''}`, { method: name, code: '// write 1,000 keys (500 with setMulti through a fresh client, 500 with set through the fuzzed one), read them back' });
        }
      }
    } finally {
      await Promise.race([fresh.close(), sleep(2000)]);
    }
  }

  /** No INJ~ key handed to an injection probe may exist: if one does, the command got through. */
  async #injectionCheck(): Promise<void> {
    const keys = ['INJ~0', ...this.#injections.keys()];
    for (const port of [this.#server.port, this.#flushServer.port]) {
      for (const key of keys) {
        const item = await rawGet(port, key).catch(() => undefined);
        if (!item) continue;
        const rec = this.#injections.get(key);
        if (rec) {
          this.#fail({ ...rec, quiet: false }, 'injection', `the key ${key} exists on the server: the command in the second read of the key was sent`);
        } else {
          this.#fail(undefined, 'injection', `the key ${key} exists on the server: a key with CR LF was sent`, { feature: 'a key with an injected command', method: 'any', code: `// a call with the key 'x\\r\\nset INJ~0 0 0 1\\r\\nX'` });
        }
      }
    }
    this.#notes.push(`injection probes: ${this.#injections.size} (text protocol only)`);
  }

  /**
   * For calls that never settled, valid calls that failed or read wrong, and uncaught
   * exceptions: the suspects are the non-valid calls of the same batch. Each kind of suspect
   * (method and feature) is tried alone on a fresh client, followed in the same tick by
   * sentinel calls; a kind that breaks the sentinels is a culprit. Kinds found in many failing
   * batches and few others are tried first.
   */
  async #attribute(): Promise<void> {
    const groups = new Map<string, Failure[]>();
    // A wedged client's culprit may be in any batch since its last answered probe.
    const windows = new Map<string, Rec[]>();
    for (const f of this.failures) {
      if (f.batch < 0) continue;
      const broken = f.check === 'unsettled' || f.check === 'uncaught' || f.check === 'wedged' || (f.verdict === 'valid' && ['valid-rejected', 'wrong-result', 'after-close', 'untyped-error'].includes(f.check));
      if (!broken) continue;
      const key = f.check === 'wedged' ? `wedged:${f.batch}` : `${f.phase}:${f.batch}`;
      const list = groups.get(key) ?? [];
      list.push(f);
      groups.set(key, list);
      if (f.window) {
        const recs: Rec[] = [];
        for (let b = f.window[0]; b <= f.window[1]; b++) recs.push(...(this.#suspects.get(`main:${b}`) ?? []).filter((rec) => rec.live.name === f.method));
        windows.set(key, recs);
      }
    }
    // A broken batch can spoil the next tick too, and a call waiting for compression is sent
    // in a later tick: the previous batch's calls are suspects as well.
    const previous = (key: string): string => key.replace(/:(\d+)$/, (_, b: string) => `:${Number(b) - 1}`);
    const suspectsOf = (key: string): Rec[] => windows.get(key) ?? [...(this.#suspects.get(key) ?? []), ...(this.#suspects.get(previous(key)) ?? [])];
    const idOf = (rec: Rec): string | undefined =>
      ['new Client', 'serialize', 'deserialize', 'clone'].includes(rec.spec.method) ? undefined : `${rec.spec.method}|${rec.spec.feature}`;
    const inFailing = new Map<string, number>();
    const overall = new Map<string, number>();
    const example = new Map<string, Rec>();
    for (const [key, list] of [...this.#suspects, ...windows]) {
      const ids = new Set(list.map(idOf).filter((id): id is string => id !== undefined));
      for (const id of ids) {
        overall.set(id, (overall.get(id) ?? 0) + 1);
        if (groups.has(key)) inFailing.set(id, (inFailing.get(id) ?? 0) + 1);
      }
      for (const rec of list) {
        const id = idOf(rec);
        if (id !== undefined && !example.has(id)) example.set(id, rec);
      }
    }
    // How much more often a kind of call was in a failing batch than chance would put it there.
    const rate = groups.size / Math.max(1, this.#suspects.size);
    const score = (id: string): number => (inFailing.get(id) ?? 0) - (overall.get(id) ?? 0) * rate;
    const order = [...inFailing.keys()].sort((a, b) => score(b) - score(a));
    const culprits = this.#culprits;
    const explained = (key: string): boolean => suspectsOf(key).some((rec) => culprits.has(idOf(rec) ?? ''));
    const stop = Date.now() + 3000;
    let trials = 0;
    const tried = new Set<string>();
    while (Date.now() < stop && trials < 120) {
      // The next suspects worth a trial: in some failing batch that is still unexplained.
      const next = order.filter((id) => !tried.has(id) && [...groups.keys()].some((key) => !explained(key) && suspectsOf(key).some((rec) => idOf(rec) === id))).slice(0, 12);
      if (next.length === 0) break;
      for (const id of next) tried.add(id);
      trials += next.length;
      const found = await this.#trials(next.map((id) => (example.get(id) as Rec).spec));
      next.forEach((id, i) => {
        if (process.env.FUZZ_DEBUG) process.stderr.write(`trial ${id} (${inFailing.get(id)}/${overall.get(id)}): ${found[i] ? found[i]!.summary : 'innocent'}\n`);
        if (found[i]) culprits.set(id, found[i]!);
      });
    }
    for (const [key, failures] of groups) {
      const rec = suspectsOf(key).find((r) => culprits.has(idOf(r) ?? ''));
      if (rec) for (const f of failures) f.culprit = culprits.get(idOf(rec) as string);
    }
    const solo = await this.#soloTrials();
    this.#correlateUncaught();
    this.#notes.push(`attribution: ${groups.size} batches with broken calls, ${trials} trials, ${culprits.size} culprits; ${solo}`);
  }

  /**
   * An uncaught exception no trial explained: the kinds of calls most often found in the batch it
   * escaped in (or the one before), over all its occurrences, as the place to start looking.
   */
  #correlateUncaught(): void {
    const byMessage = new Map<string, Failure[]>();
    for (const f of this.failures) {
      if (f.check !== 'uncaught' || f.culprit || f.batch < 0) continue;
      const key = `${f.errorClass}|${f.message}`;
      byMessage.set(key, [...(byMessage.get(key) ?? []), f]);
    }
    // How often each kind of call is in a batch at all: the base rate it is measured against.
    const batches = new Map<string, number>();
    for (const list of this.#suspects.values()) {
      for (const id of new Set(list.map((rec) => `${rec.spec.method}|${rec.spec.feature}`))) batches.set(id, (batches.get(id) ?? 0) + 1);
    }
    const rate = (id: string): number => Math.min(1, (2 * (batches.get(id) ?? 0)) / Math.max(1, this.#suspects.size));
    for (const [key, list] of byMessage) {
      const makers = [...this.#culprits.values()].filter((c) => c.uncaught?.includes(key));
      const seen = new Map<string, { count: number; example: Rec }>();
      for (const f of list) {
        const near = [...(this.#suspects.get(`${f.phase}:${f.batch - 1}`) ?? []), ...(this.#suspects.get(`${f.phase}:${f.batch}`) ?? [])];
        for (const id of new Set(near.map((rec) => `${rec.spec.method}|${rec.spec.feature}`))) {
          const rec = near.find((x) => `${x.spec.method}|${x.spec.feature}` === id) as Rec;
          seen.set(id, { count: (seen.get(id)?.count ?? 0) + 1, example: seen.get(id)?.example ?? rec });
        }
      }
      const idOf = (rec: Rec): string => `${rec.spec.method}|${rec.spec.feature}`;
      const excess = (t: { count: number; example: Rec }): number => t.count - list.length * rate(idOf(t.example));
      const top = [...seen.values()].sort((a, b) => excess(b) - excess(a)).slice(0, 4);
      const lines = [
        ...(makers.length > 0
          ? [`// the trials of these calls let it escape too: ${makers.map((c) => `${c.method}() with ${c.feature}`).join('; ')}`]
          : []),
        `// escaped ${list.length} times; the kinds of call found next to it more often than elsewhere (its batch or the one before):`,
        ...top.map((t) => `${oneLine(callCode(t.example.spec, t.example.live.name))}; // ${t.example.spec.feature || 'plain arguments'}: near ${t.count} of ${list.length}`),
      ];
      for (const f of list) f.code = lines.join('\n');
    }
  }

  /**
   * Failures no culprit explains: each kind's call once more, alone, on a fresh client. A kind
   * that fails alone too is the call's own defect; one that does not was broken by the calls
   * around it, and is grouped as such (with its batch's suspects) instead of as a kind of its own.
   */
  async #soloTrials(): Promise<string> {
    const open = this.failures.filter(
      (f) => !f.culprit && this.#recOf.has(f) && (f.check === 'unsettled' || (f.verdict === 'valid' && ['valid-rejected', 'wrong-result', 'untyped-error'].includes(f.check) && f.writer === undefined && f.writerFeature === undefined)),
    );
    const byKind = new Map<string, Failure[]>();
    for (const f of open) {
      const key = `${f.check}|${f.method}|${f.errorClass ?? ''}|${f.message ?? ''}|${f.feature}`;
      const list = byKind.get(key) ?? [];
      list.push(f);
      byKind.set(key, list);
    }
    // Up to four of each kind are re-run, each alone on a fresh client; the rest of a kind go
    // with them if they all agree, and count as broken by other calls if they do not.
    interface Solo {
      f: Failure;
      kind: Failure[];
      c: Client;
      w?: Watched;
      threw?: unknown;
    }
    const runs: Solo[] = [];
    for (const list of byKind.values()) {
      for (const f of list.slice(0, 4)) {
        if (runs.length >= 150) break;
        const rec = this.#recOf.get(f) as Rec;
        if (['new Client', 'clone', 'serialize', 'deserialize', 'close', 'asyncDispose'].includes(rec.spec.method)) continue;
        let c: Client;
        try {
          c = this.#main.client.clone();
        } catch {
          continue;
        }
        const run: Solo = { f, kind: list, c };
        try {
          const out = invoke(rec.spec, c);
          if (isThenable(out)) run.w = watch(out);
        } catch (error) {
          run.threw = error;
        }
        runs.push(run);
        // Each alone in its tick.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    await watchedWithin(runs.flatMap((r) => (r.w ? [r.w] : [])), 300);
    let alone = 0;
    let broken = 0;
    const verdictOfKind = new Map<Failure[], boolean>();
    const brokenBy = (run: Solo): Culprit => {
      const rec = this.#recOf.get(run.f) as Rec;
      const o = run.w?.outcome;
      const suspects = [...(this.#suspects.get(`${rec.phase}:${rec.batch}`) ?? []), ...(this.#suspects.get(`${rec.phase}:${rec.batch - 1}`) ?? [])].filter((x) => x.live === rec.live);
      return {
        method: 'several',
        feature: 'unknown',
        summary: 'valid calls fail only next to other calls: no single call of their batch broke them in a trial',
        repro: [
          rec.live.setup,
          `// batches ${rec.batch - 1}-${rec.batch} of the ${rec.phase} phase also had these calls that are not valid:`,
          ...suspects.slice(0, 6).map((x) => `${oneLine(callCode(x.spec, x.live.name))};`),
          `${callCode(rec.spec, rec.live.name)}; // ${run.f.detail.slice(0, 300)}`,
          `// alone, on a fresh client: ${run.threw !== undefined ? `throws ${className(run.threw)}` : o ? describeOutcome(o) : 'returns no promise'}`,
        ].join('\n'),
      };
    };
    const lastBroken = new Map<Failure[], Culprit>();
    for (const run of runs) {
      run.c.close().catch(() => undefined);
      const f = run.f;
      const rec = this.#recOf.get(f) as Rec;
      const o = run.w?.outcome;
      const again =
        f.check === 'unsettled'
          ? o?.state === 'pending'
          : f.check === 'wrong-result'
            ? o?.state === 'resolved' && shapeComplaint(rec.spec.method, o.value, 1) !== undefined
            : run.threw !== undefined || (o?.state === 'rejected' && className(o.value) === f.errorClass);
      verdictOfKind.set(run.kind, (verdictOfKind.get(run.kind) ?? true) && again);
      if (again) {
        alone++;
        f.alone = true;
        continue;
      }
      broken++;
      const culprit = brokenBy(run);
      f.culprit = culprit;
      lastBroken.set(run.kind, culprit);
    }
    // The members not re-run follow their kind's sample.
    for (const [kind, allAlone] of verdictOfKind) {
      if (allAlone) continue;
      const culprit = lastBroken.get(kind) as Culprit;
      for (const f of kind) if (!f.culprit) f.culprit = culprit;
    }
    return `${runs.length} failures re-run alone: ${alone} fail alone too, ${broken} only next to other calls`;
  }

  /**
   * Trials of suspects, each on a fresh copy of the main client: the suspect and sentinel calls
   * in one tick of their own, then one more call in a later tick. Run side by side (each with
   * keys of its own); uncaught exceptions are told apart by the tick they come from. A culprit
   * record for each suspect that broke anything.
   */
  async #trials(specs: readonly CallSpec[]): Promise<Array<Culprit | undefined>> {
    interface Trial {
      spec: CallSpec;
      c: Client;
      key: string;
      own?: Watched;
      ownThrow?: string;
      sentinels: Array<{ code: string; p: Watched; ok: (v: unknown) => boolean }>;
      uncaught: Trapped[];
      /** The suspect once more, alone in a tick on another fresh client, and what escaped then. */
      alone?: Watched;
      aloneThrow?: string;
      aloneUncaught: Trapped[];
      /** ...and behind a write whose value is compressed off-thread, which delays its sending. */
      gatedUncaught: Trapped[];
    }
    const trials: Trial[] = [];
    for (const spec of specs) {
      try {
        trials.push({ spec, c: this.#main.client.clone(), key: `fz~s${trials.length}`, sentinels: [], uncaught: [], aloneUncaught: [], gatedUncaught: [] });
      } catch {
        // A main client that cannot be cloned is a failure of its own, found elsewhere.
      }
    }
    await Promise.all(trials.map((t) => within(t.c.set(t.key, 'sentinel').catch(() => undefined), 2000)));
    for (const t of trials) {
      const caught = this.#trap.caught.length;
      this.#trap.context = { phase: 'trial', batch: -1 };
      try {
        const out = invoke(t.spec, t.c);
        if (isThenable(out)) t.own = watch(out);
      } catch (error) {
        t.ownThrow = `throws ${className(error)}: ${messageOf(error)}`;
      }
      const k = t.key;
      t.sentinels = [
        { code: `mc.get('${k}')`, p: watch(t.c.get(k)), ok: (v) => v === 'sentinel' },
        { code: "mc.set('fz~t', 'x')", p: watch(t.c.set('fz~t', 'x')), ok: (v) => v === true },
        { code: `mc.getMulti(['${k}'])`, p: watch(t.c.getMulti([k])), ok: (v) => isDeepStrictEqual({ ...(v as object) }, { [k]: 'sentinel' }) },
        { code: "mc.delete('fz~none')", p: watch(t.c.delete('fz~none')), ok: (v) => v === false },
      ];
      // The tick's batch is handed over (and anything it throws reported) before setImmediate.
      await new Promise<void>((resolve) => setImmediate(resolve));
      t.uncaught = this.#trap.caught.splice(caught).filter((x) => x.phase === 'trial');
      this.#trap.context = { phase: 'attribution', batch: -1 };
    }
    // A local memcached answers in a millisecond or two: 300 ms is long.
    const all = await watchedWithin(trials.flatMap((t) => [...(t.own ? [t.own] : []), ...t.sentinels.map((x) => x.p)]), 250);
    // A later tick: does each client still answer at all?
    const later = await watchedWithin(trials.map((t) => watch(t.c.get(t.key))), 250);
    // Alone in a tick: with no call after it, a broken batch ends early, which fails otherwise.
    const alone: Client[] = [];
    for (const t of trials) {
      let c: Client;
      try {
        c = this.#main.client.clone();
      } catch {
        continue;
      }
      alone.push(c);
      const caught = this.#trap.caught.length;
      this.#trap.context = { phase: 'trial', batch: -1 };
      try {
        const out = invoke(t.spec, c);
        if (isThenable(out)) t.alone = watch(out);
      } catch (error) {
        t.aloneThrow = `throws ${className(error)}: ${messageOf(error)}`;
      }
      await new Promise<void>((resolve) => setImmediate(resolve));
      t.aloneUncaught = this.#trap.caught.splice(caught).filter((x) => x.phase === 'trial');
      // Behind a compressed write: sent in the tick the compression ends, not in its own.
      let g: Client;
      try {
        g = this.#main.client.clone();
      } catch {
        continue;
      }
      alone.push(g);
      const gate = watch(g.set('fz~gate', 'z'.repeat(40_000), { minCompressLen: 1, compressLevel: 6 }));
      try {
        const out = invoke(t.spec, g);
        if (isThenable(out)) watch(out);
      } catch {
        // Thrown at once: the alone step above has it.
      }
      // The set is sent with the suspect (they wait for the same compression), so it may be lost
      // with it: wait for the compression (well under a millisecond of zlib), not for the set.
      await within(gate.done, 40);
      await new Promise<void>((resolve) => setImmediate(resolve));
      t.gatedUncaught = this.#trap.caught.splice(caught).filter((x) => x.phase === 'trial');
      this.#trap.context = { phase: 'attribution', batch: -1 };
    }
    await watchedWithin(trials.flatMap((t) => (t.alone ? [t.alone] : [])), 100);
    // Not waited for: a broken client's close() may never settle (that is reported elsewhere).
    for (const c of [...trials.map((t) => t.c), ...alone]) c.close().catch(() => undefined);
    let at = 0;
    const byTrial = trials.map((t, i) => {
      const own = t.own ? all[at++] : undefined;
      const outcomes = t.sentinels.map(() => all[at++]);
      const right = (j: number): boolean => outcomes[j].state === 'resolved' && t.sentinels[j].ok(outcomes[j].value);
      const laterRight = later[i].state === 'resolved' && later[i].value === 'sentinel';
      const symptoms: string[] = [];
      if (outcomes.some((o) => o.state === 'pending')) symptoms.push('calls queued in the same tick never settle');
      if (t.sentinels.some((_, j) => outcomes[j].state !== 'pending' && !right(j))) symptoms.push('calls queued in the same tick get wrong results or errors');
      if (!laterRight) symptoms.push(later[i].state === 'pending' ? 'the client never answers again' : 'a later call goes wrong too');
      if (t.uncaught.length > 0) symptoms.push(`an uncaught ${className(t.uncaught[0].error)} escapes`);
      if (t.aloneUncaught.length > 0) symptoms.push(`alone in its tick, an uncaught ${className(t.aloneUncaught[0].error)} escapes`);
      if (t.gatedUncaught.length > 0) symptoms.push(`behind a compressed write, an uncaught ${className(t.gatedUncaught[0].error)} escapes`);
      if (symptoms.length === 0) return { spec: t.spec, culprit: undefined };
      const ownOutcome = t.ownThrow ?? (own ? describeOutcome(own) : 'returns no promise');
      const lines = [
        this.#main.setup,
        `await mc.set('${t.key}', 'sentinel');`,
        '// all in one tick:',
        `${callCode(t.spec, 'mc')}; // ${ownOutcome}`,
        ...t.sentinels.map((x, j) => `${x.code}; // ${describeOutcome(outcomes[j])}${right(j) ? ' (right)' : ''}`),
        '// a later tick:',
        `await mc.get('${t.key}'); // ${describeOutcome(later[i])}${laterRight ? ' (right)' : ''}`,
        ...t.uncaught.map((x) => `// process '${x.origin}': ${className(x.error)}: ${messageOf(x.error)}`),
        ...(t.aloneUncaught.length > 0
          ? [
              '// alone in a tick, on another fresh client:',
              `${callCode(t.spec, 'mc')}; // ${t.aloneThrow ?? (t.alone ? describeOutcome(t.alone.outcome) : 'returns no promise')}`,
              ...t.aloneUncaught.map((x) => `// process '${x.origin}': ${className(x.error)}: ${messageOf(x.error)}`),
            ]
          : []),
        ...(t.gatedUncaught.length > 0
          ? [
              '// behind a write whose value is compressed off-thread, on another fresh client:',
              "mc.set('fz~gate', 'z'.repeat(40000), { minCompressLen: 1, compressLevel: 6 });",
              `${callCode(t.spec, 'mc')};`,
              ...t.gatedUncaught.map((x) => `// process '${x.origin}': ${className(x.error)}: ${messageOf(x.error)}`),
            ]
          : []),
      ];
      const culprit: Culprit = {
        method: t.spec.method,
        feature: t.spec.feature || 'plain arguments',
        summary: symptoms.join('; '),
        repro: lines.join('\n'),
        uncaught: [...t.uncaught, ...t.aloneUncaught, ...t.gatedUncaught].map((x) => `${className(x.error)}|${normalize(messageOf(x.error))}`),
      };
      return { spec: t.spec, culprit };
    });
    return specs.map((spec) => byTrial.find((x) => x.spec === spec)?.culprit);
  }

  /** close() of every client still open: each must settle too. */
  async #closeAll(): Promise<void> {
    const closes: Rec[] = [];
    for (const live of this.#lives) {
      if (live.closing || live.wedged) continue;
      closes.push(this.#issue(live, finish('close', []), -1, 'close'));
      live.closing = true;
    }
    await this.#drainRecs(closes, 2000);
    for (const rec of closes) if (!rec.settled) this.#fail(rec, 'unsettled', `close() still pending after ${Date.now() - rec.t0} ms`);
  }
}

