/**
 * Tracing (docs/tracing.md) against real memcached servers: one start and one asyncEnd (or
 * error) per call of every public method on `libmemcached:command`, with the documented fields;
 * the README's OpenTelemetry recipe, run with the OpenTelemetry SDK; and `libmemcached:server`
 * when a server dies and comes back.
 */
import { execFile } from 'node:child_process';
import * as diagnostics from 'node:diagnostics_channel';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, ConnectionError } from '../../lib';
import { TRACED_OPERATIONS } from '../../lib/tracing';
import { MemcachedServer, freePort, startMemcached } from '../harness/memcached';

const root = path.join(__dirname, '..', '..');

interface Event {
  kind: 'start' | 'end' | 'asyncStart' | 'asyncEnd' | 'error';
  context: Record<string, unknown>;
}

/** Subscribes to libmemcached:command for the duration of `run`; returns what was published. */
async function recorded(run: () => Promise<unknown>): Promise<Event[]> {
  const events: Event[] = [];
  const handlers = Object.fromEntries(
    (['start', 'end', 'asyncStart', 'asyncEnd', 'error'] as const).map((kind) => [kind, (context: unknown) => events.push({ kind, context: context as Record<string, unknown> })]),
  ) as unknown as diagnostics.TracingChannelSubscribers<object>;
  const channel = diagnostics.tracingChannel('libmemcached:command');
  channel.subscribe(handlers);
  try {
    await run();
  } finally {
    channel.unsubscribe(handlers);
  }
  return events;
}

let servers: MemcachedServer[];
let mc: Client;
beforeAll(async () => {
  servers = await Promise.all([startMemcached(), startMemcached(), startMemcached()]);
  mc = new Client(servers.map((s) => s.spec), { behaviors: { ketama: true } });
});
afterAll(async () => {
  await mc?.close();
  await Promise.all(servers.map((s) => s.stop()));
});

const address = (i: number) => `127.0.0.1:${servers[i].port}`;

describe('libmemcached:command', () => {
  // One call of every traced method, as a user makes it.
  const calls: Record<string, (c: Client) => Promise<unknown>> = {
    get: (c) => c.get('t:k'),
    has: (c) => c.has('t:k'),
    gets: (c) => c.gets('t:k'),
    set: (c) => c.set('t:k', 'v'),
    add: (c) => c.add('t:added', 'v'),
    replace: (c) => c.replace('t:k', 'w'),
    append: (c) => c.append('t:k', '!'),
    prepend: (c) => c.prepend('t:k', '<'),
    cas: (c) => c.cas('t:k', 'x', 1n),
    incr: (c) => c.incr('t:n'),
    decr: (c) => c.decr('t:n'),
    delete: (c) => c.delete('t:gone'),
    touch: (c) => c.touch('t:k', 60),
    hash: (c) => c.hash('t:k'),
    getMulti: (c) => c.getMulti(['t:a', 't:b', 't:c']),
    deleteMulti: (c) => c.deleteMulti(['t:a', 't:b']),
    incrMulti: (c) => c.incrMulti(['t:n', 't:n2']),
    setMulti: (c) => c.setMulti({ 't:a': 1, 't:b': 2, 't:c': 3, 't:d': 4 }),
    addMulti: (c) => c.addMulti(new Map([['t:e', 5]])),
    flushAll: (c) => c.flushAll(),
    getStats: (c) => c.getStats(),
    disconnectAll: (c) => c.disconnectAll(),
    getBehaviors: (c) => c.getBehaviors(),
    setBehaviors: (c) => c.setBehaviors({ _poll_timeout: 800 }),
    close: (c) => c.close(),
  };

  test('every public operation is traced, and has a call here', () => {
    expect(Object.keys(calls).sort()).toEqual(Object.keys(TRACED_OPERATIONS).sort());
  });

  test.each(Object.keys(TRACED_OPERATIONS))('%s: one start, end, asyncStart and asyncEnd, with the documented fields', async (operation) => {
    const client = operation === 'close' ? new Client(servers.map((s) => s.spec), { behaviors: { ketama: true } }) : mc;
    await mc.set('t:k', 'v');
    await mc.setMulti({ 't:n': 1, 't:n2': 1 });
    const events = await recorded(() => calls[operation](client));
    expect(events.map((e) => e.kind)).toEqual(['start', 'end', 'asyncStart', 'asyncEnd']);
    const context = events[0].context;
    for (const e of events) expect(e.context).toBe(context); // one object throughout
    expect(context.operation).toBe(operation);
    expect('result' in context).toBe(true);
    const shape = TRACED_OPERATIONS[operation];
    if (shape === 'key') {
      expect(typeof context.key).toBe('string');
      const index = await mc.hash(context.key as string);
      expect(context.servers).toEqual([address(index)]);
    } else if (shape === 'servers') {
      expect(context.servers).toEqual([address(0), address(1), address(2)]);
    } else {
      expect(context.keyCount).toBe({ getMulti: 3, deleteMulti: 2, incrMulti: 2, setMulti: 4, addMulti: 1 }[operation]);
      expect(Array.isArray(context.servers)).toBe(true);
    }
  });

  test("a multi-key call's servers are the servers its keys map to, in server order", async () => {
    const keys = Array.from({ length: 60 }, (_, i) => `t:spread:${i}`);
    const expected = [...new Set(await Promise.all(keys.map((k) => mc.hash(k))))].sort().map(address);
    const events = await recorded(() => mc.getMulti(keys));
    expect(events[0].context).toMatchObject({ operation: 'getMulti', keyCount: 60, servers: expected });
    // With keyPrefix, the prefixed keys are placed.
    const prefixed = await Promise.all(keys.map((k) => mc.hash(`p:${k}`)));
    const withPrefix = await recorded(() => mc.getMulti(keys, { keyPrefix: 'p:' }));
    expect(withPrefix[0].context.servers).toEqual([...new Set(prefixed)].sort().map(address));
  });

  test('has() is one operation, not a has and a get', async () => {
    const events = await recorded(() => mc.has('t:k'));
    expect(events.filter((e) => e.kind === 'start').map((e) => e.context.operation)).toEqual(['has']);
  });

  test('a failure publishes error with the error, then asyncStart and asyncEnd', async () => {
    const dead = new Client([`127.0.0.1:${await freePort()}`], { behaviors: { connect_timeout: 200 } });
    const events = await recorded(() => dead.get('t:k').catch(() => undefined));
    expect(events.map((e) => e.kind)).toEqual(['start', 'end', 'error', 'asyncStart', 'asyncEnd']);
    expect(events[2].context.error).toBeInstanceOf(ConnectionError);
    // A bad call too: the TypeError is the call's error.
    const bad = await recorded(() => mc.get('a key with spaces').catch(() => undefined));
    expect(bad.map((e) => e.kind)).toEqual(['start', 'end', 'error', 'asyncStart', 'asyncEnd']);
    expect(bad[0].context.servers).toBeUndefined();
    await dead.close();
  });

  test('keys given as an iterator are read once, counted, and all reach the operation', async () => {
    await mc.setMulti({ 't:i1': 1, 't:i2': 2 });
    function* keys() {
      yield 't:i1';
      yield 't:i2';
      yield 't:i3';
    }
    let result: unknown;
    const events = await recorded(async () => (result = await mc.getMulti(keys())));
    expect(events[0].context.keyCount).toBe(3);
    expect(result).toEqual({ 't:i1': 1, 't:i2': 2 });
    // An iterator that throws rejects the call with its error, traced as such.
    function* broken() {
      yield 't:i1';
      throw new Error('iterator broke');
    }
    const failed = await recorded(() => mc.getMulti(broken()).catch((e: Error) => e.message));
    expect(failed.map((e) => e.kind)).toEqual(['start', 'end', 'error', 'asyncStart', 'asyncEnd']);
    expect((failed[2].context.error as Error).message).toBe('iterator broke');
  });

  test('without a subscriber nothing is published', async () => {
    const seen: unknown[] = [];
    const listener = (message: unknown) => seen.push(message);
    // A plain subscriber on the channel's start event, then removed: afterwards, no events.
    diagnostics.subscribe('tracing:libmemcached:command:start', listener);
    await mc.get('t:k');
    diagnostics.unsubscribe('tracing:libmemcached:command:start', listener);
    expect(seen).toHaveLength(1);
    await mc.get('t:k');
    await mc.getMulti(['t:a']);
    expect(seen).toHaveLength(1);
  });
});

describe("the README's OpenTelemetry recipe", () => {
  test('makes a CLIENT span per operation with the database attributes', async () => {
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('\n## Tracing\n'), readme.indexOf('\n## ', readme.indexOf('\n## Tracing\n') + 1));
    const recipe = /^```js\n([\s\S]*?)^```$/m.exec(section)?.[1];
    expect(recipe).toBeDefined();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lmc-otel-'));
    try {
      fs.mkdirSync(path.join(dir, 'node_modules', '@opentelemetry'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ private: true, type: 'module' }));
      fs.symlinkSync(root, path.join(dir, 'node_modules', 'libmemcached'));
      for (const name of ['api', 'sdk-trace-base', 'core', 'resources', 'semantic-conventions']) {
        const from = path.join(root, 'node_modules', '@opentelemetry', name);
        if (fs.existsSync(from)) fs.symlinkSync(from, path.join(dir, 'node_modules', '@opentelemetry', name));
      }
      fs.writeFileSync(path.join(dir, 'recipe.mjs'), recipe as string);
      // The application: an SDK with an in-memory exporter, the recipe, then some operations.
      fs.writeFileSync(
        path.join(dir, 'app.mjs'),
        `import { trace } from '@opentelemetry/api';
        import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
        const exporter = new InMemorySpanExporter();
        trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
        await import('./recipe.mjs');
        const { Client } = await import('libmemcached');
        const mc = new Client([process.argv[2]]);
        await mc.set('otel:k', 'v');
        await mc.getMulti(['otel:k', 'otel:l']);
        const dead = new Client(['127.0.0.1:' + process.argv[3]], { behaviors: { connect_timeout: 200 } });
        await dead.get('otel:k').catch(() => {});
        await mc.close();
        await dead.close();
        console.log(JSON.stringify(exporter.getFinishedSpans().map((s) => ({ name: s.name, kind: s.kind, attributes: s.attributes, status: s.status.code }))));`,
      );
      const deadPort = await freePort();
      const stdout = await new Promise<string>((resolve, reject) =>
        execFile(process.execPath, ['app.mjs', servers[0].spec, String(deadPort)], { cwd: dir, timeout: 20_000 }, (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out))),
      );
      const spans = JSON.parse(stdout) as Array<{ name: string; kind: number; attributes: Record<string, unknown>; status: number }>;
      const target = address(0);
      expect(spans.map((s) => s.name)).toEqual([`set ${target}`, `getMulti ${target}`, `get 127.0.0.1:${deadPort}`, `close ${target}`, `close 127.0.0.1:${deadPort}`]);
      expect(spans.every((s) => s.kind === 2)).toBe(true); // SpanKind.CLIENT
      expect(spans[1].attributes).toEqual({
        'db.system.name': 'memcached',
        'db.operation.name': 'getMulti',
        'db.operation.batch.size': 2,
        'server.address': '127.0.0.1',
        'server.port': servers[0].port,
      });
      expect(spans[2].attributes['error.type']).toBe('ConnectionError');
      expect(spans[2].status).toBe(2); // SpanStatusCode.ERROR
      expect(spans[0].status).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('libmemcached:server', () => {
  /** Records libmemcached:server messages while `run` runs. */
  async function serverEvents(run: () => Promise<void>): Promise<Array<{ event: string; server: string; error?: unknown }>> {
    const seen: Array<{ event: string; server: string; error?: unknown }> = [];
    const listener = (message: unknown) => seen.push(message as { event: string; server: string });
    diagnostics.subscribe('libmemcached:server', listener);
    try {
      await run();
    } finally {
      diagnostics.unsubscribe('libmemcached:server', listener);
    }
    return seen;
  }

  test('a server that dies: failed once (not per operation); when it is back: recovered', async () => {
    const server = await startMemcached();
    const port = server.port;
    const c = new Client([server.spec], { behaviors: { connect_timeout: 200, retry_timeout: 1 } });
    let revived: MemcachedServer | undefined;
    const seen = await serverEvents(async () => {
      expect(await c.set('s:k', 'v')).toBe(true);
      await server.stop();
      for (let i = 0; i < 5; i++) await c.get('s:k').catch(() => undefined);
      revived = await startMemcached({ port });
      // Until libmemcached retries it (retry_timeout 1 s), operations keep failing.
      const until = Date.now() + 5000;
      while (Date.now() < until && !(await c.set('s:k', 'back').catch(() => false))) await new Promise((r) => setTimeout(r, 100));
    });
    expect(seen.map((m) => m.event)).toEqual(['failed', 'recovered']);
    expect(seen.every((m) => m.server === `127.0.0.1:${port}`)).toBe(true);
    expect(seen[0].error).toBeInstanceOf(ConnectionError);
    await c.close();
    await revived?.stop();
  });

  test('with failover: failed and ejected at once, recovered only after dead_timeout', async () => {
    const [a, b] = await Promise.all([startMemcached(), startMemcached()]);
    const c = new Client([a.spec, b.spec], { failover: true, behaviors: { connect_timeout: 200, dead_timeout: 2 } });
    const keys = Array.from({ length: 40 }, (_, i) => `f:${i}`);
    const onA: string[] = [];
    for (const k of keys) if ((await c.hash(k)) === 0) onA.push(k);
    let revived: MemcachedServer | undefined;
    const seen = await serverEvents(async () => {
      await a.stop();
      for (const k of onA) await c.set(k, 'v').catch(() => undefined);
      const ejectedAt = Date.now();
      // The keys served by b meanwhile say nothing about a.
      for (const k of onA) await c.set(k, 'v');
      revived = await startMemcached({ port: a.port });
      while (Date.now() - ejectedAt < 6000) {
        await Promise.all(onA.map((k) => c.set(k, 'v').catch(() => undefined)));
        if (Date.now() - ejectedAt > 3500) break;
        await new Promise((r) => setTimeout(r, 200));
      }
    });
    expect(seen.map((m) => m.event)).toEqual(['failed', 'ejected', 'recovered']);
    expect(seen.every((m) => m.server === `127.0.0.1:${a.port}`)).toBe(true);
    await c.close();
    await Promise.all([b.stop(), revived?.stop()]);
  });

  test('what was known is dropped when the last subscriber leaves: a server is reported afresh', async () => {
    const server = await startMemcached();
    const port = server.port;
    const c = new Client([server.spec], { behaviors: { connect_timeout: 200, retry_timeout: 1 } });
    expect(await c.set('s:k', 'v')).toBe(true);
    await server.stop();
    // Seen failing while subscribed...
    expect((await serverEvents(() => c.get('s:k').then(() => undefined, () => undefined))).map((m) => m.event)).toEqual(['failed']);
    // ...then unsubscribed: it fails on, comes back and is used, all unwatched.
    await c.get('s:k').catch(() => undefined);
    const revived = await startMemcached({ port });
    const until = Date.now() + 5000;
    while (Date.now() < until && !(await c.set('s:k', 'back').catch(() => false))) await new Promise((r) => setTimeout(r, 100));
    // Subscribed again: a success reports nothing (it was not known down), and a new failure is
    // reported as one.
    const after = await serverEvents(async () => {
      expect(await c.get('s:k')).toBe('back');
      await revived.stop();
      await c.get('s:k').catch(() => undefined);
    });
    expect(after.map((m) => m.event)).toEqual(['failed']);
    await c.close();
  });

  test('a UNIX socket server is named by its path', async () => {
    const socket = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lmc-sock-')), 'mc.sock');
    const server = await startMemcached({ socket });
    const c = new Client([socket], { behaviors: { connect_timeout: 200, retry_timeout: 1 } });
    expect(await c.set('u:k', 'v')).toBe(true);
    const seen = await serverEvents(async () => {
      await server.stop();
      await c.get('u:k').catch(() => undefined);
      const revived = await startMemcached({ socket });
      const until = Date.now() + 5000;
      while (Date.now() < until && !(await c.set('u:k', 'back').catch(() => false))) await new Promise((r) => setTimeout(r, 100));
      await revived.stop();
    });
    expect(seen.map((m) => [m.event, m.server])).toEqual([
      ['failed', socket],
      ['recovered', socket],
    ]);
    const traced = await recorded(() => c.get('u:k').catch(() => undefined));
    expect(traced[0].context.servers).toEqual([socket]);
    await c.close();
  });
});
