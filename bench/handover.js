// npm run bench:handover: where the time of one awaited call goes, step by step, on this
// machine. An awaited call crosses from the JavaScript thread to an I/O thread and back; a
// pure-JavaScript client crosses no thread. This measures, in alternating windows (medians):
//
//   thread ping-pong   two C threads, woken as the addon wakes them (condition variable one
//                      way, eventfd in epoll the other), sleeping, sleeping with both pinned to
//                      one CPU, and spinning (bench/handover.c)
//   addon round trip   an awaited getBehaviors(): JavaScript to an I/O thread and back, no I/O
//                      (with the JavaScript of building its result object of 30 behaviors)
//   raw C              the same call in C on the same libmemcached (bench/raw.c): the network
//                      round trip and libmemcached's own work
//   this client        the awaited call
//   a peer             the awaited call of a client without threads: memjs (gets and sets),
//                      the memcached package (getMulti, which memjs lacks)
//
// for a 100-byte get, a getMulti(100), a 64 KiB and a 256 KiB get and a 256 KiB Buffer set (the
// sequential rows of the benchmark that have goals), and prints, for each, the floor of any
// client that does its I/O on a thread of its own: raw C + the sleeping ping-pong (for the set,
// + copying the caller's Buffer, which this client does on the JavaScript thread so that the
// caller may reuse it). From the floor follows the best ratio such a client can reach on this
// machine, to raw C and to the peer; where a goal is above it, no work on this client's
// JavaScript or C++ reaches that goal here. On a machine whose wake-ups are cheaper the same
// numbers show what is left.
//
//   node bench/handover.js [--rounds N] [--window MS]
'use strict';
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const { startMemcached } = require('../scripts/lib/memcached-server');
const { median, option } = require('./common');
const { buildRaw, startRawRunner } = require('./raw-runner');

const root = path.join(__dirname, '..');
const ROUNDS = Number(option('rounds', 7));
const WINDOW_MS = Number(option('window', 300));

/** Microseconds per awaited call of `op`, over one window. */
async function perCall(op) {
  let calls = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < WINDOW_MS) {
    await op();
    calls++;
  }
  return ((performance.now() - t0) * 1000) / calls;
}

/**
 * Microseconds to copy a 256 KiB Buffer, as this client copies a set's value (into memory used
 * before: a fresh allocation would add page faults that the addon's reused storage does not pay).
 */
function copyUs(buffer) {
  const target = Buffer.allocUnsafeSlow(buffer.length);
  const t0 = performance.now();
  let copies = 0;
  while (performance.now() - t0 < WINDOW_MS / 10) {
    buffer.copy(target);
    copies++;
  }
  return ((performance.now() - t0) * 1000) / copies;
}

const BIG = 256 * 1024;
// The large gets that have goals, by label: each is read back as the text it was stored as.
const LARGE = { '64 KiB': 64 * 1024, '256 KiB': BIG };
const largeKey = (label) => `handover:${label.replace(' ', '')}`;
const MULTI = Array.from({ length: 100 }, (_, i) => `handover:multi:${i}`);

async function main() {
  // As bench/run.js's: the raw C program also stores its large values (up to 4 MiB).
  const server = await startMemcached({ args: ['-m', '256', '-I', '8m'] });
  const { Client } = require(root);
  const client = new Client([server.spec]);
  const memjs = require('memjs').Client.create(server.spec, { logger: { log() {} } });
  const Memcached = require('memcached');
  const memcached = new Memcached(server.spec, { retries: 0, timeout: 2000, maxValue: 8 * 1024 * 1024 });
  const memcachedGetMulti = (keys) => new Promise((resolve, reject) => memcached.getMulti(keys, (e, r) => (e ? reject(e) : resolve(r))));
  const bigBuffer = Buffer.alloc(BIG, 'z');
  await client.set('handover', 'x'.repeat(100));
  await memjs.set('handover:memjs', 'x'.repeat(100), {});
  for (const [label, size] of Object.entries(LARGE)) {
    await client.set(largeKey(label), 'y'.repeat(size));
    await memjs.set(`${largeKey(label)}:memjs`, 'y'.repeat(size), {});
  }
  await client.setMulti(new Map(MULTI.map((k) => [k, 'x'.repeat(100)])));

  const pingPong = path.join(root, 'build/bench-handover');
  execFileSync('cc', ['-O2', '-o', pingPong, path.join(__dirname, 'handover.c'), '-lpthread']);
  // Both C programs run from shells started now (see startRawRunner: a fork of this process
  // would make its memory copy-on-write).
  const raw = startRawRunner(buildRaw(), [server.host, String(server.port), String(WINDOW_MS / 1000)]);
  const threads = startRawRunner(pingPong, ['20000']);

  // Each call, timed for this client, for its peer and in raw C (`raw`: the field of
  // bench/raw.c's output, a rate per second; `per`: calls per unit of that rate). `extra`: what
  // the floor adds for the call beyond raw C and the wake-ups.
  const calls = [
    { call: 'get', ours: () => client.get('handover'), peer: 'memjs', theirs: () => memjs.get('handover:memjs'), raw: 'get' },
    {
      call: 'getMulti(100)',
      ours: () => client.getMulti(MULTI),
      peer: 'memcached',
      theirs: () => memcachedGetMulti(MULTI),
      raw: 'mgetKeys',
      per: 100,
    },
    ...Object.keys(LARGE).map((label) => ({
      call: `${label} get`,
      ours: () => client.get(largeKey(label)),
      peer: 'memjs',
      theirs: () => memjs.get(`${largeKey(label)}:memjs`),
      raw: `get${label.replace(' ', '')}`,
    })),
    {
      call: '256 KiB set',
      ours: () => client.set('handover:bigset', bigBuffer),
      peer: 'memjs',
      theirs: () => memjs.set('handover:bigset:memjs', bigBuffer, {}),
      raw: 'set256k',
      extra: 'copy of a 256 KiB Buffer',
    },
  ];
  const steps = {
    'addon round trip (getBehaviors)': () => perCall(() => client.getBehaviors()),
    ...Object.fromEntries(
      calls.flatMap(({ call, ours, peer, theirs }) => [
        [`this client's ${call}`, () => perCall(ours)],
        [`${peer} ${call}`, () => perCall(theirs)],
      ]),
    ),
    'copy of a 256 KiB Buffer': async () => copyUs(bigBuffer),
  };
  const pingPongs = { sleepingUs: 'thread ping-pong, sleeping', sameCpuUs: 'thread ping-pong, sleeping, one CPU', spinningUs: 'thread ping-pong, spinning' };
  const results = {};
  for (const name of [...Object.values(pingPongs), ...Object.keys(steps), ...calls.map(({ call }) => `raw C ${call}`)]) results[name] = [];
  for (const step of Object.values(steps)) await step(); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, step] of Object.entries(steps)) results[name].push(await step());
    const c = JSON.parse(await threads.run());
    for (const [field, name] of Object.entries(pingPongs)) results[name].push(c[field]);
    const rates = JSON.parse(await raw.run());
    for (const { call, raw: field, per = 1 } of calls) results[`raw C ${call}`].push((per * 1e6) / rates[field]);
    process.stdout.write(`round ${round + 1}/${ROUNDS}\r`);
  }
  raw.stop();
  threads.stop();
  await client.close();
  memjs.close();
  memcached.end();
  server.stop();

  const med = Object.fromEntries(Object.entries(results).map(([name, values]) => [name, median(values)]));
  const wakeUps = med['thread ping-pong, sleeping'];
  console.log(`\nOne awaited call, µs (median of ${ROUNDS} windows of ${WINDOW_MS} ms each; node ${process.version})`);
  console.log('| step | µs |');
  console.log('|---|---:|');
  for (const [name, us] of Object.entries(med)) console.log(`| ${name} | ${us.toFixed(1)} |`);

  console.log('\nThe floor of a client with an I/O thread: raw C + the sleeping ping-pong (+ the copy of the value, for the set), µs, and the best ratios it allows (rates: raw C / floor, peer / floor) against this client\'s');
  console.log('| call | raw C | peer | floor | this client | above the floor | best ratio to raw C | this client to raw C | best ratio to the peer | this client to the peer |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const { call, peer: peerName, extra } of calls) {
    const [rawName, ours, peer] = [`raw C ${call}`, `this client's ${call}`, `${peerName} ${call}`];
    const floor = med[rawName] + wakeUps + (extra ? med[extra] : 0);
    console.log(
      `| ${call} | ${med[rawName].toFixed(1)} | ${med[peer].toFixed(1)} | ${floor.toFixed(1)} | ${med[ours].toFixed(1)} | ${(med[ours] - floor).toFixed(1)} | ` +
        `${(med[rawName] / floor).toFixed(2)}× | ${(med[rawName] / med[ours]).toFixed(2)}× | ${(med[peer] / floor).toFixed(2)}× | ${(med[peer] / med[ours]).toFixed(2)}× |`,
    );
  }
  console.log(`\nWaking a sleeping thread twice costs ${(wakeUps - med['thread ping-pong, spinning']).toFixed(1)} µs here, ` +
    `${(med['thread ping-pong, sleeping, one CPU'] - med['thread ping-pong, spinning']).toFixed(1)} µs when both threads share one CPU.`);
  process.exit(0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
