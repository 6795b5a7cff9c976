// npm run bench: this client against memjs, memcached and memcache-client on one local
// memcached, in one run, plus a C program on the same static libmemcached as the ceiling.
//
// The machine is shared and noisy, so every workload runs in short windows that alternate
// between the clients (in a rotating order), several rounds over; each client's figure is the
// median of its windows, and ratios are taken between medians of the same run.
//
//   node bench/run.js [--rounds N] [--window MS] [--only CLIENT,CLIENT] [--workloads TEXT] [--json FILE]
//   (--workloads keeps the workloads whose name contains TEXT, or one of TEXT|TEXT...; --tls no leaves out the TLS
//   table, --tls only runs nothing else; --heap no leaves out the large-heap table, which a --workloads
//   filter also leaves out unless it names heap; --trace on subscribes to libmemcached:command)
//
// MEMCACHED_SERVERS=host:port uses that server instead of starting a private one.
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { monitorEventLoopDelay } = require('node:perf_hooks');
const { freePort, startMemcached, waitForPort } = require('../scripts/lib/memcached-server');
const { createTlsCertificates } = require('../scripts/lib/tls-certificates');
const { median, option } = require('./common');
const { buildRaw, startRawRunner } = require('./raw-runner');

const root = path.join(__dirname, '..');
const ROUNDS = Number(option('rounds', 7));
// --trace on: a subscriber that does nothing on libmemcached:command, to measure what tracing
// costs an operation (docs/tracing.md); off (the default) measures the cost of its absence.
if (option('trace', 'off') === 'on') {
  const noop = () => {};
  require('node:diagnostics_channel').tracingChannel('libmemcached:command').subscribe({ start: noop, end: noop, asyncStart: noop, asyncEnd: noop, error: noop });
}
const WINDOW_MS = Number(option('window', 300));
const ONLY = option('only', '').split(',').filter(Boolean);
const WORKLOAD_FILTER = option('workloads', '');

const VALUE = 'x'.repeat(100);
// Large values, stored as strings (as a page or a JSON document would be), each client under
// keys of its own: each reads back what it wrote, as it reads text (memjs as a Buffer, which
// it never decodes). (With shared keys every client would read the last writer's flags.)
const LARGE = { '64 KiB': 64 * 1024, '256 KiB': 256 * 1024, '1 MiB': 1024 * 1024, '4 MiB': 4 * 1024 * 1024 };
const largeKey = (label, client) => `bench:large:${client.replace(/ /g, '-')}:${label.replace(' ', '')}`;
/** The length of what a client's get returned, in bytes (undefined for a miss). */
const lengthOf = (value) => (value === undefined || value === null ? undefined : Buffer.byteLength(value));
const largeValue = (label) => 'y'.repeat(LARGE[label]);
const BIG = largeValue('256 KiB');
// A Buffer, not a string: this client copies a Buffer value when the call is made (so that the
// caller may reuse it at once), and this row shows what that costs.
const BIG_BUFFER = Buffer.alloc(256 * 1024, 'z');
const KEYS = Array.from({ length: 1000 }, (_, i) => `bench:${i}`);
// For the big batches: getMulti of 1,000 and of 10,000 keys.
const MANY_KEYS = Array.from({ length: 10000 }, (_, i) => `bench:many:${i}`);

// ---------------------------------------------------------------------------------------------
// Servers

/** A server that accepts connections and never answers (in its own process). */
async function startBlackhole() {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ['-e', `require('net').createServer((s) => { s.pause(); }).listen(${port}, '127.0.0.1')`],
    { stdio: 'ignore' },
  );
  await waitForPort(port);
  return { host: '127.0.0.1', port, stop: () => child.kill() };
}

// ---------------------------------------------------------------------------------------------
// Clients, each behind the same small adapter

const promisify = (fn) => new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));

const CLIENTS = {
  libmemcached(spec) {
    const { Client } = require(root);
    const c = new Client([spec], process.env.LMC_CONNECTIONS ? { connections: Number(process.env.LMC_CONNECTIONS) } : {});
    return {
      get: (k) => c.get(k),
      set: (k, v) => c.set(k, v),
      getMulti: (keys) => c.getMulti(keys),
      setMulti: (entries) => c.setMulti(Object.fromEntries(entries)),
      close: () => c.close(),
    };
  },
  memjs(spec) {
    const memjs = require('memjs');
    const c = memjs.Client.create(spec, { logger: { log() {} } });
    return {
      get: (k) => c.get(k).then((r) => r.value),
      set: (k, v) => c.set(k, v, {}),
      // memjs has no multi-get (memjs#105): the closest it offers is pipelined single gets.
      getMulti: (keys) => Promise.all(keys.map((k) => c.get(k))),
      setMulti: (entries) => Promise.all(entries.map(([k, v]) => c.set(k, v, {}))),
      close: () => c.close(),
    };
  },
  memcached(spec) {
    const Memcached = require('memcached');
    // maxValue: its own limit on a value's size (1 MiB by default), raised for the 4 MiB row.
    const c = new Memcached(spec, { retries: 0, timeout: 2000, maxValue: 8 * 1024 * 1024 });
    return {
      get: (k) => promisify((cb) => c.get(k, cb)),
      set: (k, v) => promisify((cb) => c.set(k, v, 0, cb)),
      getMulti: (keys) => promisify((cb) => c.getMulti(keys, cb)),
      setMulti: (entries) => Promise.all(entries.map(([k, v]) => promisify((cb) => c.set(k, v, 0, cb)))),
      close: () => c.end(),
    };
  },
  'memcache-client'(spec) {
    const { MemcacheClient } = require('memcache-client');
    const c = new MemcacheClient({ server: spec, ignoreNotStored: true });
    return {
      get: (k) => c.get(k).then((r) => r && r.value),
      set: (k, v) => c.set(k, v),
      getMulti: (keys) => c.get(keys),
      setMulti: (entries) => Promise.all(entries.map(([k, v]) => c.set(k, v))),
      close: () => c.shutdown(),
    };
  },
};

// ---------------------------------------------------------------------------------------------
// Workloads: each runs for `ms` and returns operations (or keys) per second

async function inFlight(n, ms, op) {
  let done = 0;
  const deadline = performance.now() + ms;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: n }, async (_, w) => {
      let i = w;
      while (performance.now() < deadline) {
        await op(i);
        i += n;
        done++;
      }
    }),
  );
  return done / ((performance.now() - t0) / 1000);
}

const MULTI = Array.from({ length: 10 }, (_, b) => KEYS.slice(b * 100, b * 100 + 100));
const MULTI_ENTRIES = MULTI.map((keys) => keys.map((k) => [k, VALUE]));

const WORKLOADS = [
  { name: 'get, sequential (awaited)', unit: 'ops/s', raw: 'get', run: (c, ms) => inFlight(1, ms, (i) => c.get(KEYS[i % 1000])) },
  { name: 'get, 64 in flight', unit: 'ops/s', raw: 'get', run: (c, ms) => inFlight(64, ms, (i) => c.get(KEYS[i % 1000])) },
  { name: 'set 100 B, 64 in flight', unit: 'ops/s', raw: 'set', run: (c, ms) => inFlight(64, ms, (i) => c.set(KEYS[i % 1000], VALUE)) },
  {
    name: 'getMulti(100)',
    unit: 'keys/s',
    raw: 'mgetKeys',
    run: async (c, ms) => 100 * (await inFlight(1, ms, (i) => c.getMulti(MULTI[i % 10]))),
  },
  {
    name: 'setMulti(100)',
    unit: 'keys/s',
    raw: 'set',
    run: async (c, ms) => 100 * (await inFlight(1, ms, (i) => c.setMulti(MULTI_ENTRIES[i % 10]))),
  },
  {
    name: 'getMulti(1000)',
    unit: 'keys/s',
    raw: 'mget1000Keys',
    run: async (c, ms) => 1000 * (await inFlight(1, ms, (i) => c.getMulti(MANY_KEYS.slice((i % 10) * 1000, (i % 10) * 1000 + 1000)))),
  },
  { name: 'getMulti(10000)', unit: 'keys/s', raw: 'mget10000Keys', run: async (c, ms) => 10000 * (await inFlight(1, ms, () => c.getMulti(MANY_KEYS))) },
  ...Object.keys(LARGE).map((label) => ({
    name: `get ${label}, sequential`,
    unit: 'ops/s',
    raw: `get${label.replace(' ', '')}`,
    // A window counts only when a get after it still reads the whole value (memcache-client
    // read misses for every size once in a full run, at ten times its usual rate).
    run: async (c, ms) => {
      const rate = await inFlight(1, ms, () => c.get(largeKey(label, c.name)));
      return lengthOf(await c.get(largeKey(label, c.name)).catch(() => undefined)) === LARGE[label] ? rate : NaN;
    },
  })),
  {
    name: 'set 256 KiB Buffer, sequential',
    unit: 'ops/s',
    raw: 'set256k',
    run: (c, ms) => inFlight(1, ms, () => c.set('bench:bigset', BIG_BUFFER)),
  },
];

// ---------------------------------------------------------------------------------------------

async function eventLoopDelay(spec, blackholeSpec) {
  const { Client } = require(root);
  const client = new Client([spec]);
  const hung = new Client([blackholeSpec]);
  let stop = false;
  const load = Promise.all(
    Array.from({ length: 64 }, async (_, w) => {
      for (let i = w; !stop; i += 64) await client.get(KEYS[i % 1000]);
    }),
  );
  // After its first timeout the hung server is backed off (retry_timeout) and its operations
  // fail at once, one waiting out the timeout again at each retry: these callers pause 1 ms
  // between attempts so as not to spin on the fast failures.
  const hungErrors = {};
  const hanging = Promise.all(
    Array.from({ length: 8 }, async () => {
      while (!stop) {
        await hung.get('anything').catch((e) => (hungErrors[e.name] = (hungErrors[e.name] ?? 0) + 1));
        await new Promise((r) => setTimeout(r, 1));
      }
    }),
  );
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  await new Promise((r) => setTimeout(r, 3000));
  histogram.disable();
  stop = true;
  await load;
  await hanging;
  await client.close();
  await hung.close();
  return { p50: histogram.percentile(50) / 1e6, p99: histogram.percentile(99) / 1e6, max: histogram.max / 1e6, hungErrors };
}

/** bench/fault-proxy.js in front of memcached `target`, controlled through its stdin. */
async function startFaultProxy(target) {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(__dirname, 'fault-proxy.js'), String(port), String(target.port)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = require('node:readline').createInterface({ input: child.stdout });
  const waiters = [];
  lines.on('line', () => waiters.shift()?.());
  const next = () => new Promise((resolve) => waiters.push(resolve));
  await next(); // ready
  return {
    spec: `127.0.0.1:${port}`,
    async mode(line) {
      const done = next();
      child.stdin.write(`${line}\n`);
      await done;
    },
    stop: () => child.kill(),
  };
}

function percentile(sorted, p) {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * Three servers, one behind bench/fault-proxy.js: 64 callers read keys of the two healthy servers
 * while 8 read keys of the third, in windows that alternate between the proxy passing traffic
 * through and the fault (`latency 200` or `hang`). Reports the healthy keys' throughput with the
 * fault as a ratio to without it (medians over the windows) and their latency percentiles
 * during the fault windows.
 */
async function faultIsolation(fault, rounds, windowMs) {
  const { Client } = require(root);
  const healthy = [await startMemcached({ args: ['-m', '64'] }), await startMemcached({ args: ['-m', '64'] })];
  const third = await startMemcached({ args: ['-m', '64'] });
  const proxy = await startFaultProxy(third);
  const client = new Client([healthy[0].spec, healthy[1].spec, proxy.spec]);
  const good = [];
  const slow = [];
  for (let i = 0; good.length < 500 || slow.length < 100; i++) {
    const key = `fault:${i}`;
    ((await client.hash(key)) === 2 ? slow : good).push(key);
  }
  for (const key of good) await client.set(key, VALUE);
  const window = async (latencies) => {
    let stop = false;
    let done = 0;
    const start = performance.now();
    const load = Promise.all(
      Array.from({ length: 64 }, async (_, w) => {
        for (let i = w; !stop; i += 64) {
          const t = performance.now();
          await client.get(good[i % good.length]);
          latencies?.push(performance.now() - t);
          done++;
        }
      }),
    );
    const slowLoad = Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        for (let i = w; !stop; i += 8) {
          await client.get(slow[i % slow.length]).catch(() => undefined);
          await new Promise((r) => setTimeout(r, 1)); // a failed server's keys fail fast: no spin
        }
      }),
    );
    await new Promise((r) => setTimeout(r, windowMs));
    stop = true;
    const elapsed = (performance.now() - start) / 1000;
    await Promise.all([load, slowLoad]);
    return done / elapsed;
  };
  const without = [];
  const withFault = [];
  const latencies = [];
  for (let round = 0; round < rounds; round++) {
    await proxy.mode('pass');
    await new Promise((r) => setTimeout(r, 1100)); // past the backoff of a server that hung
    without.push(await window());
    await proxy.mode(fault);
    withFault.push(await window(latencies));
  }
  await proxy.mode('pass');
  await client.close();
  proxy.stop();
  for (const server of [...healthy, third]) server.stop();
  latencies.sort((a, b) => a - b);
  return {
    without: median(without),
    with: median(withFault),
    ratio: median(withFault) / median(without),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies[latencies.length - 1],
  };
}

// ---------------------------------------------------------------------------------------------
// Large values in a process with a large heap: an application keeps far more live objects than
// this benchmark does, and what frees a large value can cost a collection of all of them
// (docs/performance.md#large-values-and-a-large-heap).

// 800 arrays of 4,096 small objects: some 230 MB of V8 heap.
const LIVE_ARRAYS = 800;

async function largeHeap(spec, names, rounds) {
  // Small live objects, as a server's caches and sessions would be.
  let live = Array.from({ length: LIVE_ARRAYS }, () => Array.from({ length: 4096 }, (_, j) => ({ j, s: `x${j}` })));
  const heapMb = process.memoryUsage().heapUsed / 1e6;
  const clients = Object.fromEntries(names.map((n) => [n, { ...CLIENTS[n](spec), name: n }]));
  const workloads = [
    { name: 'get 256 KiB Buffer, sequential', key: (n) => `bench:heap:bytes:${n.replace(/ /g, '-')}`, value: BIG_BUFFER },
    { name: 'get 256 KiB text, sequential', key: (n) => `bench:heap:text:${n.replace(/ /g, '-')}`, value: BIG },
  ];
  for (const w of workloads) for (const n of names) await clients[n].set(w.key(n), w.value);
  const run = async (w, n) => {
    const c = clients[n];
    const rate = await inFlight(1, WINDOW_MS, () => c.get(w.key(n)));
    return lengthOf(await c.get(w.key(n)).catch(() => undefined)) === w.value.length ? rate : NaN;
  };
  // One workload's rounds after the other's, Buffers first: the text this client leaves behind
  // is external memory that only a full collection frees, and those collections would land in
  // the Buffer windows that follow, whichever client's they are.
  const results = {};
  for (const w of workloads) {
    for (const n of names) await run(w, n);
    for (let round = 0; round < rounds; round++) {
      const order = names.slice(round % names.length).concat(names.slice(0, round % names.length));
      for (const n of order) ((results[w.name] ??= {})[n] ??= []).push(await run(w, n));
    }
  }
  for (const c of Object.values(clients)) await c.close();
  live = null; // dropped only now: held through every window
  return { heapMb, rows: workloads.map((w) => ({ workload: w.name, med: Object.fromEntries(names.map((n) => [n, median(results[w.name][n])])) })) };
}

// ---------------------------------------------------------------------------------------------
// TLS: this client over TLS against its own plaintext figures (and memcache-client, the one peer
// with TLS, over both), on one memcached >= 1.6.39 built for the tests
// (scripts/lib/memcached-tls.sh; Debian 12's hangs pipelined sets over TLS).

const TLS_WORKLOADS = WORKLOADS.filter((w) => ['get, 64 in flight', 'getMulti(100)', 'get 256 KiB, sequential'].includes(w.name));

async function tlsComparison(rounds) {
  const executable = execFileSync('bash', [path.join(root, 'scripts/lib/memcached-tls.sh')], { encoding: 'utf8' }).trim().split('\n').pop();
  const certs = createTlsCertificates();
  // -R: memcached up to 1.6.45 also stalls a TLS connection that reaches its per-event request
  // limit with decrypted bytes pending (docs/testing-tls.md); plaintext gets the same setting.
  const common = ['-m', '256', '-c', '4096', '-R', '1000000'];
  const [plain, secure] = await Promise.all([
    startMemcached({ executable, args: common }),
    startMemcached({ executable, args: ['-Z', '-o', `ssl_chain_cert=${certs.server.certPath},ssl_key=${certs.server.keyPath}`, ...common] }),
  ]);
  const { Client } = require(root);
  const { MemcacheClient } = require('memcache-client');
  const lib = (spec, tls) => {
    const c = new Client([spec], tls ? { tls: { ca: certs.ca.cert } } : {});
    return { get: (k) => c.get(k), set: (k, v) => c.set(k, v), getMulti: (keys) => c.getMulti(keys), close: () => c.close() };
  };
  const mcc = (spec, tls) => {
    const c = new MemcacheClient({ server: spec, ignoreNotStored: true, ...(tls ? { tls: { ca: certs.ca.cert } } : {}) });
    return { get: (k) => c.get(k).then((r) => r && r.value), set: (k, v) => c.set(k, v), getMulti: (keys) => c.get(keys), close: () => c.shutdown() };
  };
  const clients = {
    'libmemcached plaintext': lib(`127.0.0.1:${plain.port}`, false),
    'libmemcached TLS': lib(`127.0.0.1:${secure.port}`, true),
    'memcache-client plaintext': mcc(`127.0.0.1:${plain.port}`, false),
    'memcache-client TLS': mcc(`127.0.0.1:${secure.port}`, true),
  };
  const names = Object.keys(clients);
  for (const n of names) clients[n].name = n;
  for (const c of [clients['libmemcached plaintext'], clients['libmemcached TLS']]) {
    for (const k of KEYS) await c.set(k, VALUE);
  }
  for (const [n, c] of Object.entries(clients)) await c.set(largeKey('256 KiB', n), BIG);
  const results = {};
  for (let round = 0; round < rounds; round++) {
    for (const w of TLS_WORKLOADS) {
      const order = names.slice(round % names.length).concat(names.slice(0, round % names.length));
      for (const n of order) ((results[w.name] ??= {})[n] ??= []).push(await w.run(clients[n], WINDOW_MS));
    }
  }
  for (const c of Object.values(clients)) await c.close();
  plain.stop();
  secure.stop();
  certs.remove();
  return TLS_WORKLOADS.map((w) => ({ workload: w.name, unit: w.unit, med: Object.fromEntries(names.map((n) => [n, median(results[w.name][n])])) }));
}

async function main() {
  // -I 8m: items up to 8 MiB (the 4 MiB row); the default is 1 MiB.
  const own = process.env.MEMCACHED_SERVERS ? undefined : await startMemcached({ args: ['-m', '512', '-c', '4096', '-I', '8m'] });
  const spec = process.env.MEMCACHED_SERVERS ? process.env.MEMCACHED_SERVERS.split(',')[0] : `${own.host}:${own.port}`;
  const [host, port] = spec.split(':');
  // --tls only: just the TLS table (for comparing TLS changes in alternating runs).
  const tlsOnly = option('tls', 'yes') === 'only';
  const names = Object.keys(CLIENTS).filter((n) => !tlsOnly || n === 'libmemcached').filter((n) => ONLY.length === 0 || ONLY.includes(n));
  const clients = Object.fromEntries(names.map((n) => [n, { ...CLIENTS[n](spec), name: n }]));
  const lib = require(root);
  console.log(
    `libmemcached ${lib.libmemcachedVersion} (${lib.linkage}), node ${process.version}, memcached at ${spec}; ` +
      `${ROUNDS} rounds of ${WINDOW_MS} ms windows per client and workload, medians`,
  );

  // A client that cannot store or read back a large value of some size (memcache-client
  // stores nothing over 1 MiB and reads a miss) gets no figure for that row.
  const cannot = new Set();
  for (const c of Object.values(clients)) {
    for (const k of KEYS) await c.set(k, VALUE);
    for (const label of Object.keys(LARGE)) {
      await c.set(largeKey(label, c.name), largeValue(label)).catch(() => undefined);
      const got = lengthOf(await c.get(largeKey(label, c.name)).catch(() => undefined));
      if (got !== LARGE[label]) {
        cannot.add(`get ${label}, sequential/${c.name}`);
        console.log(`(${c.name}: a ${label} value read back as ${got === undefined ? 'a miss' : `${got} bytes`}; no figure)`);
      }
    }
  }
  // Each client sets the same values: one set of the 10,000 keys (pipelined) will do.
  {
    const { Client } = require(root);
    const c = new Client([spec]);
    await c.setMulti(Object.fromEntries(MANY_KEYS.map((k) => [k, VALUE])));
    await c.close();
  }

  let rawBinary;
  try {
    rawBinary = buildRaw();
  } catch (error) {
    console.log(`(raw C ceiling skipped: ${error.message.split('\n')[0]})`);
  }

  const workloads = tlsOnly ? [] : WORKLOADS.filter((w) => WORKLOAD_FILTER.split('|').some((part) => w.name.includes(part)));
  if (tlsOnly) rawBinary = undefined;
  const rawRunner = rawBinary && startRawRunner(rawBinary, [host, port, String(WINDOW_MS / 1000)]);
  const results = {};
  const raw = [];
  // One window per client and workload first, not counted: each client's first pass pays for
  // its code being compiled and its buffers or pools being filled (this client's large-value
  // pool, src/core/value_pool.h), which a long-running server pays once.
  for (const w of workloads) for (const n of names) if (!cannot.has(`${w.name}/${n}`)) await w.run(clients[n], WINDOW_MS);
  for (let round = 0; round < ROUNDS; round++) {
    for (const w of workloads) {
      const order = names.slice(round % names.length).concat(names.slice(0, round % names.length));
      for (const n of order) {
        const v = cannot.has(`${w.name}/${n}`) ? NaN : await w.run(clients[n], WINDOW_MS);
        ((results[w.name] ??= {})[n] ??= []).push(v);
      }
    }
    if (rawRunner) raw.push(JSON.parse(await rawRunner.run()));
    process.stdout.write(`round ${round + 1}/${ROUNDS}\r`);
  }

  rawRunner?.stop();
  const peers = names.filter((n) => n !== 'libmemcached');
  const rows = [];
  for (const w of workloads) {
    const med = Object.fromEntries(names.map((n) => [n, cannot.has(`${w.name}/${n}`) ? undefined : median(results[w.name][n])]));
    const measured = peers.filter((p) => med[p] !== undefined);
    const bestPeer = measured.length ? measured.reduce((a, b) => (med[a] >= med[b] ? a : b)) : undefined;
    const rawMed = raw.length ? median(raw.map((r) => r[w.raw])) : undefined;
    rows.push({ workload: w.name, unit: w.unit, med, bestPeer, raw: rawMed });
    for (const n of names) {
      const wrong = (results[w.name][n] ?? []).filter((v) => Number.isNaN(v)).length;
      if (wrong > 0 && !cannot.has(`${w.name}/${n}`)) console.log(`(${w.name}: ${n} read wrong values in ${wrong} of ${ROUNDS} windows, left out)`);
    }
  }

  const fmt = (v) => (v === undefined ? '—' : Math.round(v).toLocaleString('en-US'));
  console.log('\n| workload | unit | ' + names.join(' | ') + ' | ratio to best peer | raw C (1 thread) |');
  console.log('|---|---|' + names.map(() => '---:').join('|') + '|---:|---:|');
  for (const r of rows) {
    const ratio = r.bestPeer && r.med.libmemcached ? `${(r.med.libmemcached / r.med[r.bestPeer]).toFixed(2)}× (${r.bestPeer})` : '—';
    console.log(`| ${r.workload} | ${r.unit} | ${names.map((n) => fmt(r.med[n])).join(' | ')} | ${ratio} | ${fmt(r.raw)} |`);
  }
  console.log(
    '\nNotes: memjs has no multi-get, so its getMulti is Promise.all of 100 pipelined gets; the peers\' setMulti is ' +
      'Promise.all of 100 sets (each pipelines its writes). raw C is one thread on one connection; its "set" is a ' +
      'blocking memcached_set loop, the same for the set and setMulti rows.',
  );

  for (const c of Object.values(clients)) await c.close();

  if (names.includes('libmemcached') && !tlsOnly) {
    const blackhole = await startBlackhole();
    const d = await eventLoopDelay(spec, `${blackhole.host}:${blackhole.port}`);
    blackhole.stop();
    console.log(
      `\nEvent loop delay (monitorEventLoopDelay, 3 s) under 64 gets in flight plus 8 callers on a server that ` +
        `accepts and never answers: p50 ${d.p50.toFixed(2)} ms, p99 ${d.p99.toFixed(2)} ms, max ${d.max.toFixed(2)} ms ` +
        `(hung-server operations, all rejected: ${Object.entries(d.hungErrors).map(([k, n]) => `${k} ${n}`).join(', ')})`,
    );
    rows.push({ eventLoopDelay: d });

    // One slow or hung server among three must hold up only its own keys (each server has I/O
    // threads of its own).
    const rounds = Math.max(3, Math.min(ROUNDS, 5));
    for (const [label, fault] of [
      ['200 ms slower', 'latency 200'],
      ['hung (accepts, never answers)', 'hang'],
    ]) {
      const f = await faultIsolation(fault, rounds, 1000);
      console.log(
        `One server of three ${label}, 64 gets in flight on the two healthy servers' keys and 8 on its own ` +
          `(${rounds} alternating 1 s windows): healthy keys ${fmt(f.with)} ops/s with the fault vs ${fmt(f.without)} ` +
          `without (${f.ratio.toFixed(2)}×); their latency with the fault p50 ${f.p50.toFixed(2)} ms, ` +
          `p99 ${f.p99.toFixed(2)} ms, max ${f.max.toFixed(1)} ms`,
      );
      rows.push({ fault: label, ...f });
    }
  }
  if (names.includes('libmemcached') && option('tls', 'yes') !== 'no') {
    const tlsRows = await tlsComparison(ROUNDS);
    console.log(
      `\nTLS (memcached 1.6.45 built for the tests, TLS 1.3, ${ROUNDS} rounds, medians): each client over TLS against ` +
        'itself in plaintext on the same binary, and this client against memcache-client (the only peer with TLS).',
    );
    console.log('| workload | unit | libmemcached plaintext | libmemcached TLS | TLS / plaintext | memcache-client plaintext | memcache-client TLS | TLS ratio to memcache-client |');
    console.log('|---|---|---:|---:|---:|---:|---:|---:|');
    for (const r of tlsRows) {
      const m = r.med;
      console.log(
        `| ${r.workload} | ${r.unit} | ${fmt(m['libmemcached plaintext'])} | ${fmt(m['libmemcached TLS'])} | ` +
          `${(m['libmemcached TLS'] / m['libmemcached plaintext']).toFixed(2)}× | ${fmt(m['memcache-client plaintext'])} | ` +
          `${fmt(m['memcache-client TLS'])} | ${(m['libmemcached TLS'] / m['memcache-client TLS']).toFixed(2)}× |`,
      );
      rows.push({ tls: r.workload, unit: r.unit, ...r.med });
    }
  }
  if (names.includes('libmemcached') && !tlsOnly && option('heap', 'yes') !== 'no' && (WORKLOAD_FILTER === '' || WORKLOAD_FILTER.includes('heap'))) {
    // Last: what the large heap leaves behind is garbage for the next full collection.
    const heapRounds = Math.max(3, Math.min(ROUNDS, 5));
    const h = await largeHeap(spec, names, heapRounds);
    console.log(
      `\nLarge values with ${Math.round(h.heapMb)} MB of live JavaScript objects in the process (${heapRounds} rounds, ` +
        'medians, ops/s; each client reads a value it stored, memjs always as a Buffer):',
    );
    console.log('| workload | ' + names.join(' | ') + ' | ratio to best peer |');
    console.log('|---|' + names.map(() => '---:').join('|') + '|---:|');
    for (const r of h.rows) {
      const measured = names.filter((n) => n !== 'libmemcached' && r.med[n] !== undefined);
      const best = measured.length ? measured.reduce((a, b) => (r.med[a] >= r.med[b] ? a : b)) : undefined;
      const ratio = best && r.med.libmemcached ? `${(r.med.libmemcached / r.med[best]).toFixed(2)}× (${best})` : '—';
      console.log(`| ${r.workload} | ${names.map((n) => fmt(r.med[n])).join(' | ')} | ${ratio} |`);
      rows.push({ largeHeap: r.workload, heapMb: h.heapMb, ...r.med });
    }
  }
  const json = option('json');
  if (json) fs.writeFileSync(json, JSON.stringify(rows, null, 2));
  if (own) own.stop();
  // memcache-client and memcached keep timers alive after shutdown.
  process.exit(0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
