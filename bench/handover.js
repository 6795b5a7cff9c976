// npm run bench:handover: where the time of one awaited get goes, step by step, on this
// machine. An awaited call crosses from the JavaScript thread to an I/O thread and back; a
// pure-JavaScript client crosses no thread. This measures, in alternating windows (medians):
//
//   thread ping-pong   two C threads, woken as the addon wakes them (condition variable one
//                      way, eventfd in epoll the other), sleeping and spinning (bench/handover.c)
//   addon round trip   an awaited getBehaviors(): JavaScript to an I/O thread and back, no I/O
//                      (with the JavaScript of building its result object of 30 behaviors)
//   raw C get          memcached_get in C on the same libmemcached: the network round trip
//   this client's get  an awaited get
//   memjs get          an awaited get of a client without threads
//
// and prints the floor of any client that does its I/O on a thread of its own: raw C get + the
// sleeping ping-pong. When that floor is above a pure-JavaScript client's get, no work on this
// client's JavaScript or C++ brings its sequential get level with that client's on this
// machine; on a machine whose wake-ups are cheaper the same numbers show what is left.
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

async function main() {
  // As bench/run.js's: the raw C program also stores its large values (up to 4 MiB).
  const server = await startMemcached({ args: ['-m', '256', '-I', '8m'] });
  const { Client } = require(root);
  const client = new Client([server.spec]);
  const memjs = require('memjs').Client.create(server.spec, { logger: { log() {} } });
  await client.set('handover', 'x'.repeat(100));
  await memjs.set('handover:memjs', 'x'.repeat(100), {});

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
  };
  const results = { 'thread ping-pong, sleeping': [], 'thread ping-pong, spinning': [], 'raw C get': [] };
  for (const name of Object.keys(steps)) results[name] = [];
  for (const step of Object.values(steps)) await step(); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, step] of Object.entries(steps)) results[name].push(await step());
    const c = JSON.parse(await threads.run());
    results['thread ping-pong, sleeping'].push(c.sleepingUs);
    results['thread ping-pong, spinning'].push(c.spinningUs);
    results['raw C get'].push(1e6 / JSON.parse(await raw.run()).get);
    process.stdout.write(`round ${round + 1}/${ROUNDS}\r`);
  }
  raw.stop();
  threads.stop();
  await client.close();
  memjs.close();
  server.stop();

  const med = Object.fromEntries(Object.entries(results).map(([name, values]) => [name, median(values)]));
  console.log(`\nOne awaited call, µs (median of ${ROUNDS} windows of ${WINDOW_MS} ms each; node ${process.version})`);
  console.log('| step | µs |');
  console.log('|---|---:|');
  for (const [name, us] of Object.entries(med)) console.log(`| ${name} | ${us.toFixed(1)} |`);
  const floor = med['raw C get'] + med['thread ping-pong, sleeping'];
  console.log(`| floor: raw C get + sleeping ping-pong | ${floor.toFixed(1)} |`);
  console.log(
    `\nThis client's get takes ${(med["this client's get"] - floor).toFixed(1)} µs above the floor ` +
      `(${(med["this client's get"] / floor).toFixed(2)}×); memjs's get is ${(med['memjs get'] / floor).toFixed(2)}× the floor. ` +
      `Waking a sleeping thread twice costs ${(med['thread ping-pong, sleeping'] - med['thread ping-pong, spinning']).toFixed(1)} µs here.`,
  );
  process.exit(0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
