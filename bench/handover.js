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
// for a 100-byte get, a getMulti(100), a 64 KiB and a 256 KiB get and a 256 KiB Buffer set (the sequential
// rows of the benchmark that have goals), and prints, for each, the floor of any client that does
// its I/O on a thread of its own: raw C + the sleeping ping-pong (for the set, + copying the
// caller's Buffer, which this client does on the JavaScript thread so that the caller may reuse
// it). From the floor follows the best ratio such a client can reach on this machine, to raw C
// and to the peer; where a goal is above it, no work on this client's JavaScript or C++ reaches
// that goal here. On a machine whose wake-ups are cheaper the same numbers show what is left.
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

const MEDIUM = 64 * 1024;
const BIG = 256 * 1024;
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
  const bigText = 'y'.repeat(BIG);
  const bigBuffer = Buffer.alloc(BIG, 'z');
  await client.set('handover', 'x'.repeat(100));
  await memjs.set('handover:memjs', 'x'.repeat(100), {});
  await client.set('handover:medium', 'y'.repeat(MEDIUM));
  await memjs.set('handover:medium:memjs', 'y'.repeat(MEDIUM), {});
  await client.set('handover:big', bigText);
  await memjs.set('handover:big:memjs', bigText, {});
  await client.setMulti(new Map(MULTI.map((k) => [k, 'x'.repeat(100)])));

  const pingPong = path.join(root, 'build/bench-handover');
  execFileSync('cc', ['-O2', '-o', pingPong, path.join(__dirname, 'handover.c'), '-lpthread']);
  // Both C programs run from shells started now (see startRawRunner: a fork of this process
  // would make its memory copy-on-write).
  const raw = startRawRunner(buildRaw(), [server.host, String(server.port), String(WINDOW_MS / 1000)]);
  const threads = startRawRunner(pingPong, ['20000']);

  const steps = {
    'addon round trip (getBehaviors)': () => perCall(() => client.getBehaviors()),
    "this client's get": () => perCall(() => client.get('handover')),
    'memjs get': () => perCall(() => memjs.get('handover:memjs')),
    "this client's getMulti(100)": () => perCall(() => client.getMulti(MULTI)),
    'memcached getMulti(100)': () => perCall(() => memcachedGetMulti(MULTI)),
    "this client's 64 KiB get": () => perCall(() => client.get('handover:medium')),
    'memjs 64 KiB get': () => perCall(() => memjs.get('handover:medium:memjs')),
    "this client's 256 KiB get": () => perCall(() => client.get('handover:big')),
    'memjs 256 KiB get': () => perCall(() => memjs.get('handover:big:memjs')),
    "this client's 256 KiB set": () => perCall(() => client.set('handover:bigset', bigBuffer)),
    'memjs 256 KiB set': () => perCall(() => memjs.set('handover:bigset:memjs', bigBuffer, {})),
    'copy of a 256 KiB Buffer': async () => copyUs(bigBuffer),
  };
  const rawSteps = { get: 'raw C get', mgetKeys: 'raw C getMulti(100)', get64KiB: 'raw C 64 KiB get', get256KiB: 'raw C 256 KiB get', set256k: 'raw C 256 KiB set' };
  const results = { 'thread ping-pong, sleeping': [], 'thread ping-pong, sleeping, one CPU': [], 'thread ping-pong, spinning': [] };
  for (const name of [...Object.keys(steps), ...Object.values(rawSteps)]) results[name] = [];
  for (const step of Object.values(steps)) await step(); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, step] of Object.entries(steps)) results[name].push(await step());
    const c = JSON.parse(await threads.run());
    results['thread ping-pong, sleeping'].push(c.sleepingUs);
    results['thread ping-pong, sleeping, one CPU'].push(c.sameCpuUs);
    results['thread ping-pong, spinning'].push(c.spinningUs);
    const rates = JSON.parse(await raw.run());
    for (const [field, name] of Object.entries(rawSteps)) results[name].push((field === 'mgetKeys' ? 100e6 : 1e6) / rates[field]);
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

  const calls = [
    { call: 'get', ours: "this client's get", peer: 'memjs get', raw: 'raw C get', extra: 0 },
    { call: 'getMulti(100)', ours: "this client's getMulti(100)", peer: 'memcached getMulti(100)', raw: 'raw C getMulti(100)', extra: 0 },
    { call: '64 KiB get', ours: "this client's 64 KiB get", peer: 'memjs 64 KiB get', raw: 'raw C 64 KiB get', extra: 0 },
    { call: '256 KiB get', ours: "this client's 256 KiB get", peer: 'memjs 256 KiB get', raw: 'raw C 256 KiB get', extra: 0 },
    { call: '256 KiB set', ours: "this client's 256 KiB set", peer: 'memjs 256 KiB set', raw: 'raw C 256 KiB set', extra: med['copy of a 256 KiB Buffer'] },
  ];
  console.log('\nThe floor of a client with an I/O thread: raw C + the sleeping ping-pong (+ the copy of the value, for the set), µs, and the best ratios it allows (rates: raw C / floor, peer / floor) against this client\'s');
  console.log('| call | raw C | peer | floor | this client | above the floor | best ratio to raw C | this client to raw C | best ratio to the peer | this client to the peer |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const { call, ours, peer, raw: rawName, extra } of calls) {
    const floor = med[rawName] + wakeUps + extra;
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
