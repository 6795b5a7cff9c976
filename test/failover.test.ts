/**
 * Failover against real servers: three memcached under a steady load of sets and gets, one
 * killed (SIGKILL, as a crash) and later started again on its port. The `failover` option must
 * bound the failed operations, move the dead server's keys to the living ones, never let an
 * operation hang, and give the server its keys back after dead_timeout.
 */
import { Client, FAILOVER_BEHAVIORS } from '../lib';
import { MemcachedServer, startMemcached } from './harness/memcached';
import { rawGet } from './harness/raw';

jest.setTimeout(60_000);

const DEAD_TIMEOUT = 2; // s; the option's default is 10, shortened to keep the test quick
const POLL_TIMEOUT = 1000; // ms, the client's default
const WORKERS = 16;
// A multiple of WORKERS, so that each key belongs to one worker (no other writer races it).
const KEYS = Array.from({ length: 640 }, (_, i) => `failover:${i}`);

interface Outcome {
  at: number; // ms since the load began
  ms: number; // how long the operation took
  error?: string; // the error class, for a rejection
  // A get right after this worker's own set returned a miss, or something else entirely.
  wrong?: 'miss' | 'other';
}

/** Sets and gets from WORKERS concurrent callers until stopped; every outcome is recorded. */
function load(mc: Client) {
  const outcomes: Outcome[] = [];
  const start = performance.now();
  let stopped = false;
  let serial = 0;
  const time = async <T>(op: () => Promise<T>): Promise<[T | undefined, Outcome]> => {
    const began = performance.now();
    const outcome: Outcome = { at: began - start, ms: 0 };
    let value: T | undefined;
    try {
      value = await op();
    } catch (error) {
      outcome.error = (error as Error).name;
    }
    outcome.ms = performance.now() - began;
    outcomes.push(outcome);
    return [value, outcome];
  };
  const done = Promise.all(
    Array.from({ length: WORKERS }, async (_, w) => {
      for (let i = w; !stopped; i += WORKERS) {
        const key = KEYS[i % KEYS.length];
        const value = `${key}:${serial++}`;
        const [stored] = await time(() => mc.set(key, value));
        const [read, outcome] = await time(() => mc.get(key));
        // Only when the set went through: then the get must see it (keys map to one place).
        if (stored === true && outcome.error === undefined && read !== value) outcome.wrong = read === undefined ? 'miss' : 'other';
      }
    }),
  );
  return {
    outcomes,
    now: () => performance.now() - start,
    stop: async () => {
      stopped = true;
      await done;
    },
  };
}

const between = (outcomes: Outcome[], from: number, to: number) => outcomes.filter((o) => o.at >= from && o.at < to);
const failures = (outcomes: Outcome[]) => outcomes.filter((o) => o.error !== undefined);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let servers: MemcachedServer[];
beforeAll(async () => {
  servers = await Promise.all([startMemcached(), startMemcached(), startMemcached()]);
});
afterAll(() => Promise.all(servers.map((s) => s.stop())));

test('the option sets ketama and the ejection behaviors, explicit behaviors winning', async () => {
  const mc = new Client(servers.map((s) => s.spec), { failover: true, behaviors: { dead_timeout: 30 } });
  const behaviors = await mc.getBehaviors();
  expect(behaviors).toMatchObject({
    ketama: 1,
    distribution: 'consistent ketama',
    remove_failed: 1,
    failure_limit: FAILOVER_BEHAVIORS.failure_limit,
    retry_timeout: FAILOVER_BEHAVIORS.retry_timeout,
    dead_timeout: 30,
  });
  // Keys land where pylibmc's ketama puts them, hence on the same server as a ketama client.
  const ketama = new Client(servers.map((s) => s.spec), { behaviors: { ketama: true } });
  const keys = KEYS.slice(0, 200);
  expect(await Promise.all(keys.map((k) => mc.hash(k)))).toEqual(await Promise.all(keys.map((k) => ketama.hash(k))));
  const clone = mc.clone();
  expect(await clone.getBehaviors()).toEqual(behaviors);
  await Promise.all([mc.close(), ketama.close(), clone.close()]);
});

test('the option refuses what cannot fail over', () => {
  const specs = servers.map((s) => s.spec);
  expect(() => new Client(specs, { failover: true, behaviors: { distribution: 'modula' } })).toThrow(/consistent distribution/);
  expect(() => new Client(specs, { failover: true, behaviors: { ketama: false } })).toThrow(/consistent distribution/);
  expect(() => new Client(specs, { failover: true, behaviors: { remove_failed: 0 } })).toThrow(/remove_failed/);
  expect(() => new Client(specs, { failover: true, behaviors: { dead_timeout: 0 } })).toThrow(/dead_timeout/);
  expect(() => new Client(specs, { failover: 'yes' as never })).toThrow(TypeError);
  // A consistent distribution of one's own is kept.
  const weighted = new Client(specs, { failover: true, behaviors: { ketama_weighted: true } });
  return weighted.getBehaviors().then(async (b) => {
    expect(b.ketama_weighted).toBe(1);
    await weighted.close();
  });
});

test('a killed server: bounded failures, its keys move to the others, and come back after dead_timeout', async () => {
  const specs = servers.map((s) => s.spec);
  const mc = new Client(specs, { failover: true, behaviors: { dead_timeout: DEAD_TIMEOUT } });
  const victim = servers[1];
  const home = await Promise.all(KEYS.map((k) => mc.hash(k)));
  const victimKeys = KEYS.filter((_, i) => home[i] === 1);
  expect(victimKeys.length).toBeGreaterThan(100); // a third of them, give or take

  const run = load(mc);
  await sleep(1000);
  const killedAt = run.now();
  await victim.kill();
  // Long enough for the ejection, and for one retry after dead_timeout while still dead.
  await sleep(DEAD_TIMEOUT * 1000 + 2000);
  const restartedAt = run.now();
  servers[1] = await startMemcached({ port: victim.port });
  // A retry comes within dead_timeout (+1 s: libmemcached counts whole seconds).
  await sleep(DEAD_TIMEOUT * 1000 + 1500);
  const backAt = run.now();
  await sleep(1000);
  await run.stop();
  const end = run.now();

  const before = between(run.outcomes, 0, killedAt);
  const dead = between(run.outcomes, killedAt, restartedAt);
  const returning = between(run.outcomes, restartedAt, backAt);
  const back = between(run.outcomes, backAt, end);
  const slowest = run.outcomes.reduce((max, o) => Math.max(max, o.ms), 0);
  const kinds = (list: Outcome[]) =>
    Object.entries(
      failures(list).reduce<Record<string, number>>((acc, o) => ({ ...acc, [o.error as string]: (acc[o.error as string] ?? 0) + 1 }), {}),
    )
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
  // The figures the README quotes.
  console.log(
    [
      `failover with ${WORKERS} workers (set then get), 3 servers, dead_timeout ${DEAD_TIMEOUT} s:`,
      `  before the kill: ${before.length} operations, ${failures(before).length} failed`,
      `  server dead (${((restartedAt - killedAt) / 1000).toFixed(1)} s): ${dead.length} operations, ${failures(dead).length} failed (${kinds(dead)})`,
      `    failures at ${failures(dead).map((o) => (o.at - killedAt).toFixed(0)).join(', ')} ms after the kill`,
      `  restarted, until dead_timeout has passed: ${returning.length} operations, ${failures(returning).length} failed (${kinds(returning)})`,
      `  afterwards: ${back.length} operations, ${failures(back).length} failed`,
      `  slowest operation: ${slowest.toFixed(0)} ms; reads missing the value just set: ${run.outcomes.filter((o) => o.wrong === 'miss').length}` +
        `, reading another value: ${run.outcomes.filter((o) => o.wrong === 'other').length}`,
    ].join('\n'),
  );

  expect(failures(before)).toEqual([]);
  // The crash is noticed, and costs few operations: those in flight to it, then one per
  // I/O thread to find it refused and one to eject it; the same again at each retry while it
  // stays dead (once here).
  expect(failures(dead).length).toBeGreaterThan(0);
  expect(failures(dead).length).toBeLessThanOrEqual(2 * WORKERS);
  // Once ejected, everything works: the last second of the dead period has no failure, and
  // the sets and gets of the dead server's keys went to the living servers.
  expect(failures(between(run.outcomes, restartedAt - 1000, restartedAt))).toEqual([]);
  expect(failures(back)).toEqual([]);
  // A key moves when the ring changes: a set just before the server rejoins and a get just
  // after it go to different servers, so the get misses (the restarted server is empty). At
  // most one such read per worker and per change; never another value.
  expect(run.outcomes.filter((o) => o.wrong === 'other')).toEqual([]);
  expect(run.outcomes.filter((o) => o.wrong === 'miss').length).toBeLessThanOrEqual(2 * WORKERS);
  // Nothing hangs: no operation took longer than the poll timeout (with room for a busy machine).
  expect(slowest).toBeLessThan(POLL_TIMEOUT + 500);

  // Back after dead_timeout: a write of one of its keys lands on it again (seen on the server).
  const probe = victimKeys.slice(0, 20);
  expect(await Promise.all(probe.map((k) => mc.set(k, `again:${k}`)))).toEqual(probe.map(() => true));
  for (const key of probe) {
    expect((await rawGet(servers[1].port, key))?.bytes.toString()).toBe(`again:${key}`);
    expect(await mc.get(key)).toBe(`again:${key}`);
  }
  await mc.close();
});

test('while a server is dead, its keys are stored on the living servers', async () => {
  const specs = servers.map((s) => s.spec);
  const mc = new Client(specs, { failover: true, behaviors: { dead_timeout: 60 } });
  const home = await Promise.all(KEYS.map((k) => mc.hash(k)));
  const victimKeys = KEYS.filter((_, i) => home[i] === 2).slice(0, 30);
  await servers[2].kill();
  // The first writes find it refused, then eject it.
  const first = await Promise.allSettled(victimKeys.map((k) => mc.set(k, `moved:${k}`)));
  const rejected = first.filter((r) => r.status === 'rejected').length;
  expect(rejected).toBeLessThanOrEqual(2);
  expect(await Promise.all(victimKeys.map((k) => mc.set(k, `moved:${k}`)))).toEqual(victimKeys.map(() => true));
  for (const key of victimKeys) {
    const onLiving = await Promise.all([rawGet(servers[0].port, key), rawGet(servers[1].port, key)]);
    expect(onLiving.filter((item) => item?.bytes.toString() === `moved:${key}`)).toHaveLength(1);
    expect(await mc.get(key)).toBe(`moved:${key}`);
  }
  // getMulti reads them too (the ejected server is no longer asked).
  expect(Object.keys(await mc.getMulti(victimKeys)).sort()).toEqual([...victimKeys].sort());
  await mc.close();
  servers[2] = await startMemcached({ port: servers[2].port });
});
