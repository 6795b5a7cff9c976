/**
 * Faults against real memcached servers under a steady concurrent load: a server at its
 * connection limit, one stopped with SIGSTOP, one behind a proxy adding latency, resetting
 * connections or holding every byte; reads of stored keys must never miss, writes never lie,
 * errors must be typed, nothing may hang, healthy servers must not wait for a slow one, and the
 * client must work again once the fault is gone.
 */
import * as net from 'node:net';
import { Client, MemcachedError } from '../../lib';
import { MemcachedServer, PROTOCOLS, startMemcached } from '../harness/memcached';
import { Proxy, startProxy } from '../harness/proxy';
import { rawGet } from '../harness/raw';
import { scaled } from '../harness/timing';

// Each test stays within 10 s; the file takes 43–50 s here, about 8 s of it ts-jest compiling.
jest.setTimeout(scaled(30_000));

// Timeouts and injected delays grow with the build's slowness (see harness/timing.ts); the
// bounds below are derived from them.
const POLL = scaled(1000); // ms: _poll_timeout, the client's default (1000), set explicitly
const HUNG_POLL = scaled(300); // ms: _poll_timeout with a hung server
const LATENCY = scaled(200); // ms added to every chunk from the slow server
// libmemcached's retry_timeout default (2 s): a failed server's operations reject at once for
// that long, then it is tried again. Recovery must come within that, plus a timeout, plus room.
const RECOVERY = 2000 + POLL + 2000;
// Every operation settles within the poll timeout (or the connect timeout, which is the same),
// plus room for a busy 2-core machine; after the load stops, whatever is in flight within that.
const SETTLE = POLL + 1000;
const WORKERS = 16;
// ms: an event-loop pause this long is counted as a stall of the test process (see startLoad).
const STALL = 50;
const MULTI_CALLERS = 2;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Whether `promise` settled within `ms` (its timer cleared either way, so no handle is left behind). */
function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const settled = promise.then(
    () => true,
    () => true,
  );
  return Promise.race([settled, late]).finally(() => clearTimeout(timer));
}

// Load ------------------------------------------------------------------------------------------

type Op = 'set' | 'get' | 'gets' | 'getMulti';
type Wrong =
  | 'miss' // a read of a stored key resolved as a miss
  | 'stale' // a read returned a value older than one whose set had resolved true
  | 'other' // a read returned something never written to that key
  | 'false'; // a set resolved false (a set of an existing key always stores)

interface Outcome {
  op: Op;
  key: string; // '*' for getMulti
  server: number; // index of the key's server; -1 for getMulti
  at: number; // ms since the load began
  ms: number;
  done: boolean;
  error?: string; // the class name of a rejection
  errorServer?: string; // the server the rejection names, when it is not the key's own
  untyped?: string; // a rejection that is not a typed MemcachedError subclass
  wrong?: Wrong;
  // For wrong === 'false': what a direct read of the server found (was the value stored?).
  storedAnyway?: boolean;
}

interface Plan {
  /** Each caller's own keys, cycled: set then read (get and gets in turn). */
  workers: string[][];
  /** Keys of every server, never written during the load, read by the getMulti callers. */
  multiKeys: string[];
  /** Key → index of its server. */
  home: Map<string, number>;
  /** Server index → the real memcached's port, for reads that bypass any proxy. */
  direct: number[];
  /** Pause after a rejection, so that callers failing at once do not spin. */
  pauseAfterError?: number;
}

/** The value a key holds: written values are `${key}#n`, numbered per key in write order. */
interface KeyState {
  next: number; // the number of the next value written
  confirmed: number; // the last number whose set resolved true (0: the value stored beforehand)
}

const STATIC = 'static';
const valueOf = (key: string, n: number | typeof STATIC) => `${key}#${n}`;

function isTyped(error: unknown): boolean {
  // A subclass: the base class itself means an unmapped return code.
  return error instanceof MemcachedError && Object.getPrototypeOf(error) !== MemcachedError.prototype;
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.constructor.name}: ${error.message}` : String(error);
}

/**
 * Runs WORKERS set-then-read callers on their own keys and MULTI_CALLERS getMulti callers on
 * the static keys until stopped; every operation's outcome is recorded with its timing, and
 * each read is checked against what its key may hold.
 */
function startLoad(mc: Client, plan: Plan, states: Map<string, KeyState>) {
  const outcomes: Outcome[] = [];
  const start = performance.now();
  let stopped = false;
  // Event-loop stalls (GC, another test file's compilation in this worker, the machine): every
  // operation in flight during one looks slow for reasons that are not the client's.
  const stalls: Array<[from: number, to: number]> = [];
  let tick = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    if (now - tick > STALL) stalls.push([tick - start, now - start]);
    tick = now;
  }, 5);

  const timed = async <T>(op: Op, key: string, fn: () => Promise<T>): Promise<{ outcome: Outcome; value?: T; ok: boolean }> => {
    const began = performance.now();
    const outcome: Outcome = { op, key, server: plan.home.get(key) ?? -1, at: began - start, ms: 0, done: false };
    outcomes.push(outcome);
    try {
      const value = await fn();
      return { outcome, value, ok: true };
    } catch (error) {
      outcome.error = error instanceof Error ? error.name : typeof error;
      const named = error instanceof MemcachedError ? error.server : undefined;
      if (op !== 'getMulti' && named !== undefined && named !== mc.servers[outcome.server]) outcome.errorServer = named;
      if (!isTyped(error)) outcome.untyped = describeError(error);
      // getMulti carries what the answering servers returned: it must be right too.
      const partial = error instanceof MemcachedError ? error.partial : undefined;
      if (op === 'getMulti' && partial !== undefined) {
        for (const [k, v] of Object.entries(partial)) if (v !== valueOf(k, STATIC)) outcome.wrong = 'other';
      }
      return { outcome, ok: false };
    } finally {
      outcome.ms = performance.now() - began;
      outcome.done = true;
    }
  };

  /** What a read of `key` returned, judged against the values it may hold. */
  const judge = (key: string, read: unknown): Wrong | undefined => {
    const state = states.get(key) as KeyState;
    if (read === undefined) return 'miss';
    if (typeof read !== 'string' || !read.startsWith(`${key}#`)) return 'other';
    const n = Number(read.slice(key.length + 1));
    // Any value from the last confirmed one on: a set that rejected may still have been applied.
    if (!Number.isInteger(n) || n >= state.next) return 'other';
    return n < state.confirmed ? 'stale' : undefined;
  };

  const worker = async (own: string[]) => {
    for (let i = 0; !stopped; i++) {
      const key = own[i % own.length];
      const state = states.get(key) as KeyState;
      const n = state.next++;
      const set = await timed('set', key, () => mc.set(key, valueOf(key, n)));
      if (set.ok && set.value === true) state.confirmed = n;
      else if (set.ok) {
        set.outcome.wrong = 'false';
        // Was it stored after all? Read it from the server itself (bounded by rawGet's 5 s).
        set.outcome.storedAnyway = await rawGet(plan.direct[set.outcome.server], key).then(
          (item) => item?.bytes.toString() === valueOf(key, n),
          () => undefined,
        );
      }
      const useGets = i % 2 === 1;
      const read = useGets ? await timed('gets', key, () => mc.gets(key)) : await timed('get', key, () => mc.get(key));
      if (read.ok) {
        const value = useGets ? (read.value as [unknown, unknown])[0] : read.value;
        read.outcome.wrong = judge(key, value);
        if (useGets && value !== undefined && typeof (read.value as [unknown, unknown])[1] !== 'bigint') read.outcome.wrong = 'other';
      }
      if (!set.ok || !read.ok) await sleep(plan.pauseAfterError ?? 1);
    }
  };

  const multiCaller = async () => {
    while (!stopped) {
      const got = await timed('getMulti', '*', () => mc.getMulti(plan.multiKeys));
      if (got.ok) {
        const values = got.value as Record<string, unknown>;
        for (const key of plan.multiKeys) {
          if (!(key in values)) got.outcome.wrong = 'miss';
          else if (values[key] !== valueOf(key, STATIC)) got.outcome.wrong = 'other';
        }
      } else {
        await sleep(plan.pauseAfterError ?? 1);
      }
    }
  };

  const done = Promise.all([...plan.workers.map(worker), ...Array.from({ length: MULTI_CALLERS }, multiCaller)]);
  return {
    outcomes,
    now: () => performance.now() - start,
    /** Stops the callers and waits up to `bound` ms for what is in flight; returns the run's length. */
    stop: async (bound: number): Promise<{ duration: number; pending: Outcome[]; stalls: Array<[number, number]> }> => {
      stopped = true;
      const duration = performance.now() - start;
      await within(done, bound);
      clearInterval(ticker);
      return { duration, pending: outcomes.filter((o) => !o.done), stalls };
    },
  };
}

// Checks and figures ----------------------------------------------------------------------------

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function latency(outcomes: Outcome[]) {
  const ms = outcomes.map((o) => o.ms).sort((a, b) => a - b);
  return { p50: percentile(ms, 50), p99: percentile(ms, 99), max: ms.length > 0 ? ms[ms.length - 1] : NaN };
}

function countBy<T>(items: T[], key: (item: T) => string | undefined): string {
  const counts = new Map<string, number>();
  for (const item of items) {
    const k = key(item);
    if (k !== undefined) counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return [...counts].map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
}

/** One line of figures for a run: the report quotes them. */
function summary(label: string, outcomes: Outcome[], duration: number): string {
  const failed = outcomes.filter((o) => o.error !== undefined);
  const { p50, p99, max } = latency(outcomes);
  return (
    `${label}: ${outcomes.length} operations in ${(duration / 1000).toFixed(1)} s, ${failed.length} rejected (error@server: ${countBy(failed, (o) => `${o.error}@${o.server}`)}); ` +
    `naming another server than the key's: ${countBy(failed, (o) => o.errorServer && `${o.error} ${o.op}@${o.server}`)}; ` +
    `wrong (kind op@server): ${countBy(outcomes, (o) => o.wrong && `${o.wrong}${o.wrong === 'false' ? (o.storedAnyway ? '(stored)' : '(not stored)') : ''} ${o.op}@${o.server}`)}; ` +
    `untyped errors: ${outcomes.filter((o) => o.untyped).length}; ` +
    `latency p50 ${p50.toFixed(1)} / p99 ${p99.toFixed(1)} / max ${max.toFixed(0)} ms`
  );
}

/** The properties every scenario must keep, whatever the fault. */
function expectSound(outcomes: Outcome[], pending: Outcome[], bound: number): void {
  const show = (list: Outcome[]) => list.slice(0, 5).map((o) => ({ ...o }));
  // Every operation settled within the bound after the load stopped.
  expect(show(pending)).toEqual([]);
  // No read of a stored key missed, no read returned a value that its key could not hold.
  expect(show(outcomes.filter((o) => o.wrong === 'miss'))).toEqual([]);
  expect(show(outcomes.filter((o) => o.wrong === 'other'))).toEqual([]);
  expect(show(outcomes.filter((o) => o.wrong === 'stale'))).toEqual([]);
  // No set resolved false: memcached always stores a set of an existing small value, so false
  // would be an error reported as an answer (storedAnyway tells whether it was a lie).
  expect(show(outcomes.filter((o) => o.wrong === 'false'))).toEqual([]);
  // Every rejection is a typed MemcachedError.
  expect(outcomes.filter((o) => o.untyped !== undefined).map((o) => o.untyped)).toEqual([]);
  // Nothing waited longer than the bound.
  expect(outcomes.reduce((max, o) => Math.max(max, o.ms), 0)).toBeLessThan(bound);
}

// Set-up ----------------------------------------------------------------------------------------

/** `perServer` keys with `prefix` for each of the client's servers, found with `hash()`. */
async function keysByServer(mc: Client, prefix: string, perServer: number): Promise<string[][]> {
  const buckets: string[][] = mc.servers.map(() => []);
  for (let i = 0; buckets.some((b) => b.length < perServer); i++) {
    if (i > 100_000) throw new Error('hash() never picked some server');
    const key = `${prefix}:${i}`;
    const bucket = buckets[await mc.hash(key)];
    if (bucket.length < perServer) bucket.push(key);
  }
  return buckets;
}

interface Layout {
  plan: Plan;
  states: Map<string, KeyState>;
}

/**
 * Picks the keys of a run and stores them beforehand (through a client of its own, which is
 * closed afterwards), checking on each server itself that they are there: a later read of any
 * of them must find it. `workerServers` are the servers whose keys the WORKERS callers use;
 * `extra` more callers each work on keys of `extraServers`.
 */
async function prepare(
  specs: string[],
  direct: number[],
  binary: boolean,
  prefix: string,
  workerServers: number[],
  extra = 0,
  extraServers: number[] = [],
): Promise<Layout> {
  const setup = new Client(specs, { binary });
  try {
    const callers = WORKERS + extra;
    const perCaller = 4;
    const byServer = await keysByServer(setup, `${prefix}:w`, callers * perCaller);
    const statics = await keysByServer(setup, `${prefix}:s`, 8);
    const home = new Map<string, number>();
    byServer.forEach((keys, s) => keys.forEach((k) => home.set(k, s)));
    statics.forEach((keys, s) => keys.forEach((k) => home.set(k, s)));
    // Caller c takes keys of its servers in turn, so each caller's keys are its own.
    const workers = Array.from({ length: callers }, (_, c) => {
      const servers = c < WORKERS ? workerServers : extraServers;
      return Array.from({ length: perCaller }, (_, j) => byServer[servers[(c + j) % servers.length]][c * perCaller + j]);
    });
    const states = new Map<string, KeyState>();
    const stored: Record<string, string> = {};
    for (const key of workers.flat()) {
      states.set(key, { next: 1, confirmed: 0 });
      stored[key] = valueOf(key, 0);
    }
    const multiKeys = statics.flat();
    for (const key of multiKeys) stored[key] = valueOf(key, STATIC);
    expect(await setup.setMulti(stored)).toEqual([]);
    for (const key of Object.keys(stored)) {
      expect((await rawGet(direct[home.get(key) as number], key))?.bytes.toString()).toBe(stored[key]);
    }
    return { plan: { workers, multiKeys, home, direct }, states };
  } finally {
    await setup.close();
  }
}

/**
 * With the fault gone, the client works again for every server: within RECOVERY it reads a
 * stored key and writes and reads one, and from then on 20 more rounds of that all succeed (a
 * server that answers once and then rejects again has not recovered). Then every key reads as a
 * value it may hold. Returns, per server, how long recovery took.
 */
async function expectRecovered(mc: Client, layout: Layout): Promise<string> {
  const { plan, states } = layout;
  const took: string[] = [];
  for (let s = 0; s < mc.servers.length; s++) {
    const probe = plan.multiKeys.find((k) => plan.home.get(k) === s) as string;
    const began = performance.now();
    const round = async (i: number): Promise<unknown> => {
      try {
        const read = await mc.get(probe);
        if (read !== valueOf(probe, STATIC)) return { read };
        if (!(await mc.set(`${probe}:after`, `back${i}`))) return 'set false';
        const back = await mc.get(`${probe}:after`);
        return back === `back${i}` ? 'ok' : { back };
      } catch (error) {
        return describeError(error);
      }
    };
    let last: unknown;
    for (let i = 0; ; i++) {
      last = await round(i);
      if (last === 'ok' || performance.now() - began > RECOVERY) break;
      await sleep(50);
    }
    expect([mc.servers[s], last]).toEqual([mc.servers[s], 'ok']);
    took.push(`${(performance.now() - began).toFixed(0)} ms`);
    const after: unknown[] = [];
    for (let i = 0; i < 20; i++) after.push(await round(i));
    expect([mc.servers[s], after.filter((r) => r !== 'ok')]).toEqual([mc.servers[s], []]);
  }
  const keys = [...plan.multiKeys, ...plan.workers.flat()];
  const all = await mc.getMulti(keys);
  const wrong = keys.filter((key) => {
    const value = all[key];
    if (plan.multiKeys.includes(key)) return value !== valueOf(key, STATIC);
    const state = states.get(key) as KeyState;
    const n = typeof value === 'string' && value.startsWith(`${key}#`) ? Number(value.slice(key.length + 1)) : NaN;
    return !(n >= state.confirmed && n < state.next);
  });
  expect(wrong.map((key) => [key, all[key]])).toEqual([]);
  return took.join(', ');
}

/** close() waits for what is in flight; bounded, so that a hung operation fails the test rather than stalls it. */
async function closeWithin(mc: Client, ms: number): Promise<void> {
  const closed = await within(mc.close(), ms);
  expect(closed).toBe(true);
}

// Servers ----------------------------------------------------------------------------------------

const started: MemcachedServer[] = [];
const proxies: Proxy[] = [];
const clients: Client[] = [];
/** A client closed after the test even when an assertion failed first (one with work in flight keeps the process alive). */
function client(specs: string[], binary: boolean, poll: number): Client {
  const mc = new Client(specs, { binary, behaviors: { _poll_timeout: poll } });
  clients.push(mc);
  return mc;
}
async function servers(n: number, args: string[][] = []): Promise<MemcachedServer[]> {
  const list = await Promise.all(Array.from({ length: n }, (_, i) => startMemcached({ args: args[i] ?? [] })));
  started.push(...list);
  return list;
}
async function proxy(to: MemcachedServer): Promise<Proxy> {
  const p = await startProxy({ port: to.port });
  proxies.push(p);
  return p;
}
afterEach(async () => {
  await Promise.all(clients.splice(0).map((mc) => within(mc.close(), 3000)));
  await Promise.all(proxies.splice(0).map((p) => p.close()));
  // A server left stopped by a failed test must be continued, or SIGTERM waits for SIGKILL.
  for (const s of started) {
    try {
      process.kill(s.pid, 'SIGCONT');
    } catch {
      // already gone
    }
  }
  await Promise.all(started.splice(0).map((s) => s.stop()));
});

// The proxy itself -------------------------------------------------------------------------------

/** One raw `version` exchange through `port`: the reply, or the socket error's code. */
function version(port: number, waitMs = 2000): Promise<{ reply: string; ms: number; error?: string }> {
  return new Promise((resolve) => {
    const began = performance.now();
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    const finish = (error?: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ reply, ms: performance.now() - began, error });
    };
    const timer = setTimeout(() => finish('no reply'), waitMs);
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.endsWith('\r\n')) finish();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => finish(error.code));
    socket.on('close', () => finish('closed'));
    socket.write('version\r\n');
  });
}

test('the proxy forwards, delays in order, resets, holds and refuses as the scenarios need', async () => {
  const [server] = await servers(1);
  const p = await proxy(server);
  expect(await version(p.port)).toMatchObject({ reply: expect.stringMatching(/^VERSION /), error: undefined });

  p.setMode({ kind: 'latency', toClientMs: LATENCY });
  const slow = await version(p.port);
  expect(slow.reply).toMatch(/^VERSION /);
  expect(slow.ms).toBeGreaterThanOrEqual(LATENCY - 5);
  // Order is kept across a switch back to pass-through mid-stream: two requests on one
  // connection, the second sent after the switch, while the first one's reply is still held.
  const ordered = await new Promise<string>((resolve, reject) => {
    const socket = net.connect(p.port, '127.0.0.1');
    let reply = '';
    socket.on('error', reject);
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.split('\r\n').length > 3) {
        socket.destroy();
        resolve(reply);
      }
    });
    socket.write('set proxy:a 0 0 1\r\nA\r\n');
    setTimeout(() => {
      p.setMode({ kind: 'pass' });
      socket.write('get proxy:a\r\n');
    }, 50);
  });
  expect(ordered).toBe('STORED\r\nVALUE proxy:a 0 1\r\nA\r\nEND\r\n');

  p.setMode({ kind: 'pause' });
  expect(await version(p.port, 300)).toMatchObject({ reply: '', error: 'no reply' });
  p.setMode({ kind: 'pass' });

  // Both directions count: the 9-byte request passes, the reply is cut after 5 bytes ("VERSI"),
  // then the connection is reset.
  p.setMode({ kind: 'reset', afterBytes: 14 });
  expect(await version(p.port)).toMatchObject({ reply: 'VERSI', error: 'ECONNRESET' });
  p.setMode({ kind: 'reset', everyMs: 100 });
  const held = net.connect(p.port, '127.0.0.1');
  const resetAfter = await new Promise<string>((resolve) => held.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? '')));
  expect(resetAfter).toBe('ECONNRESET');
  expect(p.stats.resets).toBeGreaterThanOrEqual(2);

  p.setMode({ kind: 'pass' });
  // Not accepting: connects are refused, a connection already open goes on working.
  const open = net.connect(p.port, '127.0.0.1');
  await new Promise((resolve) => open.once('connect', resolve));
  await p.setAccepting(false);
  expect(await version(p.port)).toMatchObject({ error: 'ECONNREFUSED' });
  const answer = new Promise<string>((resolve) => open.once('data', (chunk) => resolve(chunk.toString())));
  open.write('version\r\n');
  expect(await answer).toMatch(/^VERSION /);
  open.destroy();
  await p.setAccepting(true);
  expect(await version(p.port)).toMatchObject({ reply: expect.stringMatching(/^VERSION /) });
  await p.close();
  expect(p.open).toBe(0);
});

// a. A server at its connection limit ------------------------------------------------------------

/**
 * Takes every free connection slot of the memcached on `port` with raw sockets that each got an
 * answer to `version`; returns them and the exact bytes the first refused connection received.
 */
async function occupy(port: number): Promise<{ holders: net.Socket[]; refusal: string }> {
  const holders: net.Socket[] = [];
  for (let i = 0; i < 64; i++) {
    const socket = net.connect(port, '127.0.0.1');
    // An answer to `version` keeps the slot; anything else is read until memcached closes.
    const reply = await new Promise<string>((resolve) => {
      let text = '';
      const timer = setTimeout(() => resolve(`${text}(nothing more within 0.5 s)`), 500);
      socket.on('data', (chunk) => {
        text += chunk.toString();
        if (text.startsWith('VERSION ') && text.endsWith('\r\n')) {
          clearTimeout(timer);
          resolve(text);
        }
      });
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(`${text}(closed)`);
      });
      socket.on('error', () => undefined);
      socket.write('version\r\n');
    });
    if (reply.startsWith('VERSION ')) {
      holders.push(socket);
      continue;
    }
    socket.destroy();
    return { holders, refusal: reply };
  }
  throw new Error('memcached never refused a connection');
}

describe.each(PROTOCOLS)('%s protocol', (protocol, binary) => {
  // memcached sets its RLIMIT_NOFILE to -c, and its own descriptors count: with the harness's
  // 2 threads it holds 16 at start (stdio, the listener, eventfds and libevent's pipes), so -c
  // 16 refuses every connection, below that it does not start, and -c 20 leaves 4 slots. Past
  // the limit it accepts, writes "ERROR Too many open connections\r\n" and closes (its
  // maxconns_fast default: 'refuses'). With -o no_maxconns_fast it runs into EMFILE one
  // connection later and stops accepting until a slot frees ('holds'): the kernel completes a
  // connection or two and the rest wait; nothing is answered. The slots are counted out by
  // occupy() rather than assumed. 'holds' sends nothing a protocol could misread, so it runs in
  // the text protocol only.
  const limits: Array<'refuses' | 'holds'> = binary ? ['refuses'] : ['refuses', 'holds'];
  test.each(limits)('a. a server at its connection limit (%s) among two normal ones: its keys reject, never miss; the others carry on', async (limit) => {
    const list = await servers(3, [['-c', '20', ...(limit === 'holds' ? ['-o', 'no_maxconns_fast'] : [])]]);
    const specs = list.map((s) => s.spec);
    const layout = await prepare(specs, list.map((s) => s.port), binary, `a:${limit}:${protocol}`, [0, 1, 2]);
    const { holders, refusal } = await occupy(list[0].port);
    try {
      // What memcached does with a connection over its limit, exactly.
      expect(refusal).toBe(limit === 'refuses' ? 'ERROR Too many open connections\r\n(closed)' : '(nothing more within 0.5 s)');
      expect(holders.length).toBeGreaterThan(0);
      // A client that cannot get a connection to server 0 from its first operation on.
      const mc = client(specs, binary, POLL);
      const run = startLoad(mc, layout.plan, layout.states);
      await sleep(1500);
      const { duration, pending } = await run.stop(SETTLE);
      console.log(summary(`a. connection limit, ${limit} (${holders.length} slots held), ${protocol}`, run.outcomes, duration));
      expectSound(run.outcomes, pending, SETTLE);
      // The fault was real: nothing on the full server's keys succeeded, and every getMulti
      // (which asks all three servers) rejected; the other servers' keys all worked.
      const onFull = run.outcomes.filter((o) => o.server === 0);
      expect(onFull.length).toBeGreaterThan(0);
      expect(onFull.filter((o) => o.error === undefined)).toHaveLength(0);
      expect(run.outcomes.filter((o) => o.op === 'getMulti' && o.error === undefined)).toHaveLength(0);
      const onOthers = run.outcomes.filter((o) => o.server > 0);
      expect(onOthers.length).toBeGreaterThan(100);
      expect(countBy(onOthers, (o) => o.error && `${o.error} ${o.op}@${o.server}`)).toBe('none');
      for (const socket of holders) socket.destroy();
      console.log(`a. ${limit}, ${protocol}: recovered (per server) in ${await expectRecovered(mc, layout)}`);
      await closeWithin(mc, 5000);
    } finally {
      for (const socket of holders) socket.destroy();
    }
  });

  // b. A server stopped for 1.5 s (at scale 1) -------------------------------------------------------

  // Half a poll timeout longer than one: operations on its keys time out while it is stopped.
  const STOPPED = scaled(1500);

  test('b. one server of three stopped (SIGSTOP) for 1.5 s, then continued', async () => {
    const list = await servers(3);
    const specs = list.map((s) => s.spec);
    const layout = await prepare(specs, list.map((s) => s.port), binary, `b:${protocol}`, [0, 1, 2]);
    const mc = client(specs, binary, POLL);
    const run = startLoad(mc, layout.plan, layout.states);
    await sleep(300);
    const stoppedAt = run.now();
    process.kill(list[1].pid, 'SIGSTOP');
    try {
      await sleep(STOPPED);
    } finally {
      process.kill(list[1].pid, 'SIGCONT');
    }
    const continuedAt = run.now();
    await sleep(600);
    const { duration, pending } = await run.stop(SETTLE);
    const failedOnIt = run.outcomes.filter((o) => o.server === 1 && o.error !== undefined);
    const firstFailure = failedOnIt.reduce((min, o) => Math.min(min, o.at + o.ms), Infinity) - stoppedAt;
    console.log(
      summary(`b. SIGSTOP ${STOPPED} ms, ${protocol}`, run.outcomes, duration) +
        `; first failure on its keys ${firstFailure.toFixed(0)} ms after SIGSTOP, SIGCONT at ${(continuedAt - stoppedAt).toFixed(0)} ms`,
    );
    expectSound(run.outcomes, pending, SETTLE);
    // The fault was real: operations on its keys failed, all of them after it was stopped.
    expect(failedOnIt.length).toBeGreaterThan(0);
    expect(firstFailure).toBeGreaterThanOrEqual(0);
    // The other servers' keys were not affected (getMulti, which asks all three, may reject).
    expect(countBy(run.outcomes.filter((o) => o.server === 0 || o.server === 2), (o) => o.error && `${o.error} ${o.op}@${o.server}`)).toBe('none');
    console.log(`b. ${protocol}: recovered (per server) in ${await expectRecovered(mc, layout)}`);
    await closeWithin(mc, 5000);
  });

  // c. Slow-server isolation --------------------------------------------------------------------

  /**
   * Healthy-key figures of a run: operations (set, get, gets) on keys of `healthy` servers,
   * issued by the WORKERS callers (getMulti asks every server, so it is not counted). The
   * latencies leave out operations in flight during a stall of the test process's event loop
   * (their time is the stall's, not the client's); a design that makes healthy keys wait for the
   * slow server blocks the I/O thread, not the event loop, so nothing of it is left out.
   */
  function healthyFigures(outcomes: Outcome[], healthy: Set<number>, duration: number, stalls: Array<[number, number]>) {
    const ops = outcomes.filter((o) => o.op !== 'getMulti' && healthy.has(o.server) && o.done);
    const timed = ops.filter((o) => !stalls.some(([from, to]) => o.at < to && o.at + o.ms > from));
    const slowest = timed.reduce<Outcome | undefined>((a, o) => (a === undefined || o.ms > a.ms ? o : a), undefined);
    const failed = ops.filter((o) => o.error);
    return {
      count: ops.length,
      perSecond: ops.length / (duration / 1000),
      failed: failed.length,
      errors: countBy(failed, (o) => `${o.error} ${o.op}`),
      slowestAt: slowest?.at ?? NaN,
      leftOut: ops.length - timed.length,
      longestStall: stalls.reduce((max, [from, to]) => Math.max(max, to - from), 0),
      ...latency(timed),
    };
  }
  const fmt = (f: ReturnType<typeof healthyFigures>) =>
    `${f.perSecond.toFixed(0)} ops/s, p50 ${f.p50.toFixed(1)} ms, p99 ${f.p99.toFixed(1)} ms, max ${f.max.toFixed(0)} ms (at ${f.slowestAt.toFixed(0)} ms), ` +
    `${f.failed} failed (${f.errors}), event-loop stalls up to ${f.longestStall.toFixed(0)} ms (${f.leftOut} operations left out)`;

  /**
   * The isolation test shared by the slow and the hung server: the same load (16 callers on the
   * healthy servers' keys, 4 on the slow server's, getMulti over all) first without the fault,
   * then with it; the healthy keys must keep their pace. (In the first phase the slow server's
   * keys go through the proxy at full speed, which takes some of the event loop the healthy
   * figures are measured on: if anything, that lowers the baseline they are compared with.)
   */
  async function isolation(kind: 'latency' | 'hung', poll: number): Promise<void> {
    const list = await servers(3);
    const p = await proxy(list[2]);
    const specs = [list[0].spec, list[1].spec, p.spec];
    const layout = await prepare(specs, list.map((s) => s.port), binary, `c:${kind}:${protocol}`, [0, 1], 4, [2]);
    const mc = client(specs, binary, poll);
    const healthy = new Set([0, 1]);
    const plan: Plan = { ...layout.plan, pauseAfterError: 5 };

    const settle = poll + 1000;
    const quiet = startLoad(mc, plan, layout.states);
    await sleep(800);
    const before = await quiet.stop(settle);
    const base = healthyFigures(quiet.outcomes, healthy, before.duration, before.stalls);

    p.setMode(kind === 'latency' ? { kind: 'latency', toClientMs: LATENCY } : { kind: 'pause' });
    const faulty = startLoad(mc, plan, layout.states);
    await sleep(1000);
    const during = await faulty.stop(settle);
    const hit = healthyFigures(faulty.outcomes, healthy, during.duration, during.stalls);
    p.setMode({ kind: 'pass' });

    const injected = kind === 'latency' ? LATENCY : poll;
    const what = kind === 'latency' ? `${LATENCY} ms latency` : `hung (paused proxy), _poll_timeout ${poll} ms`;
    console.log(
      `c. isolation, ${what}, ${protocol}: healthy keys without fault ${fmt(base)}; with fault ${fmt(hit)}; ` +
        `throughput ratio ${(hit.perSecond / base.perSecond).toFixed(2)}; slow server's keys: ${summary('', faulty.outcomes.filter((o) => o.server === 2), during.duration).slice(2)}`,
    );
    // The fault was real: the slow server's operations took the injected latency, or failed.
    const onSlow = faulty.outcomes.filter((o) => o.server === 2);
    if (kind === 'latency') expect(latency(onSlow).p50).toBeGreaterThanOrEqual(LATENCY - 5);
    else expect(onSlow.filter((o) => o.error === undefined)).toHaveLength(0);
    // The baseline counted enough operations for the pace ratio below to mean something (about
    // 25,000 in a plain build; 496 once in CI under the sanitizer build, hence the floor of 200).
    expect(base.count).toBeGreaterThan(200);
    // Isolation: no healthy-key operation waited anything like the injected delay, and the
    // healthy keys kept at least a quarter of their pace, without failing. A design in which a
    // batch waits for its slowest server fails the first two (healthy operations queue behind the
    // slow server's batches); with the hung server and retry_timeout's back-off, only the first
    // (the batches around each timeout wait it out). Asserted before the soundness checks below,
    // because isolation is what this test is about.
    expect(hit.max).toBeLessThan(injected / 2);
    expect(hit.perSecond).toBeGreaterThan(0.25 * base.perSecond);
    expect(hit.errors).toBe('none');
    expectSound([...quiet.outcomes, ...faulty.outcomes], [...before.pending, ...during.pending], settle);
    // The short timeout served the fault; recovery is checked with the default one. The proxy
    // forwards on this process's event loop, which under the sanitizer build on a busy 2-core
    // machine stalls for up to ~350 ms: with 300 ms the recovered server then "timed out" again.
    await mc.setBehaviors({ _poll_timeout: 1000 });
    console.log(`c. ${kind}, ${protocol}: recovered (per server) in ${await expectRecovered(mc, layout)}`);
    await closeWithin(mc, 5000);
  }

  test(`c. one server of three ${LATENCY} ms slower (proxy): the healthy servers' keys keep their pace`, () => isolation('latency', POLL));

  test('c. one server of three hung (proxy holding every byte), _poll_timeout 300: the healthy servers\' keys keep their pace', () =>
    isolation('hung', HUNG_POLL));

  // d. Connections reset ----------------------------------------------------------------------------

  test('d. one server of three behind a proxy resetting its connections every 300 ms and after 4 KiB', async () => {
    const list = await servers(3);
    const p = await proxy(list[2]);
    const specs = [list[0].spec, list[1].spec, p.spec];
    const layout = await prepare(specs, list.map((s) => s.port), binary, `d:${protocol}`, [0, 1, 2]);
    const mc = client(specs, binary, POLL);
    const run = startLoad(mc, layout.plan, layout.states);
    await sleep(200);
    p.setMode({ kind: 'reset', everyMs: 300, afterBytes: 4096 });
    // At least a second of resets, and on until four connections were reset: a plain build gets
    // there from the byte budget within the second, but under the sanitizer build on a busy CI
    // machine the load is slow enough that only the timer resets, three times a second.
    await sleep(1000);
    for (const end = Date.now() + 4000; p.stats.resets < 4 && Date.now() < end; ) await sleep(50);
    p.setMode({ kind: 'pass' });
    await sleep(200);
    const { duration, pending } = await run.stop(SETTLE);
    console.log(summary(`d. resets (${p.stats.resets} connections reset, ${p.stats.accepted} accepted), ${protocol}`, run.outcomes, duration));
    expectSound(run.outcomes, pending, SETTLE);
    // The fault was real: connections the client used were reset and it had to reconnect.
    expect(p.stats.resets).toBeGreaterThan(3);
    expect(p.stats.accepted).toBeGreaterThan(3);
    // The other servers' keys were not affected (getMulti, which asks all three, may reject).
    expect(countBy(run.outcomes.filter((o) => o.server === 0 || o.server === 1), (o) => o.error && `${o.error} ${o.op}@${o.server}`)).toBe('none');
    console.log(`d. ${protocol}: recovered (per server) in ${await expectRecovered(mc, layout)}`);
    await closeWithin(mc, 5000);
  });
});
