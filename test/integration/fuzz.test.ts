/**
 * A seeded fuzz test of the whole public API, in both protocols, against real memcached servers:
 * every method and the constructor get valid, invalid and hostile arguments, and every call must
 * settle with a documented outcome (see test/fuzz/runner.ts for the checks).
 *
 *   FUZZ_SEED=<n>          replay a run (the seed is printed at the start and in every report)
 *   FUZZ_PROTOCOL=text     run one protocol only
 *   FUZZ_CALLS=<n>         call budget per protocol (default 22,000)
 *   FUZZ_SECONDS=<s>       time budget of the main phase per protocol (default 11)
 *   FUZZ_SETTLE_MS=<ms>    how long a call may stay pending before it counts as unsettled (3,000)
 *   FUZZ_LOG=<path>        where to write the failure log (default: the temporary folder)
 *   FUZZ_DEBUG=1           print the phases and the attribution trials on stderr as they run
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vm from 'node:vm';
import { PROTOCOLS } from '../harness/memcached';
import { formatReport, reproOf } from '../fuzz/report';
import { randomSeed } from '../fuzz/rng';
import { FuzzRun, Trap } from '../fuzz/runner';

function numberFromEnv(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number, got ${text}`);
  return value;
}

const seed = numberFromEnv('FUZZ_SEED', randomSeed()) >>> 0;
const calls = numberFromEnv('FUZZ_CALLS', 22_000);
// The main phase ends after FUZZ_CALLS calls or FUZZ_SECONDS, whichever comes first. 22,000
// calls take 6 to 9 s per protocol on a 2-core machine; the budget leaves a slower machine room,
// and bounds the sanitizer build (2 to 3 times slower), which stops on time with fewer calls.
const seconds = numberFromEnv('FUZZ_SECONDS', 20);
/** The least a run must make, unless it was told otherwise or runs under the sanitizers. */
const MIN_CALLS = 20_000;
const sanitized = process.env.LIBMEMCACHED_ADDON !== undefined;
const settleMs = numberFromEnv('FUZZ_SETTLE_MS', 3000);
const only = process.env.FUZZ_PROTOCOL;
/** The first failures, in full, go to the log file; the report groups all of them. */
const LOG_MAX = 200;

// jest gives the test file a `process` of its own, whose listeners never hear of uncaught
// exceptions; the worker's real one does. While a run lasts, its handlers are replaced by
// ours, so that nothing is reported by jest alone, out of the run's context.
const realProcess = vm.runInThisContext('process') as NodeJS.EventEmitter;

function trapProcess(trap: Trap): () => void {
  const events = ['uncaughtException', 'unhandledRejection'] as const;
  const saved = events.map((event) => realProcess.listeners(event));
  const handlers = events.map((origin) => (error: unknown) => {
    trap.caught.push({ origin, error, ...trap.context });
  });
  events.forEach((event, i) => {
    realProcess.removeAllListeners(event);
    realProcess.on(event, handlers[i]);
  });
  return () =>
    events.forEach((event, i) => {
      realProcess.removeListener(event, handlers[i]);
      for (const listener of saved[i]) realProcess.on(event, listener as (...args: unknown[]) => void);
    });
}

const protocols = PROTOCOLS.filter(([name]) => only === undefined || only === '' || name === only);

console.log(`fuzz seed ${seed} (replay: FUZZ_SEED=${seed} npx jest test/integration/fuzz.test.ts)`);

test.each(protocols)(
  '%s protocol: every call settles with a documented outcome',
  async (protocol, binary) => {
    const trap: Trap = { context: { phase: 'setup', batch: -1 }, caught: [] };
    const restore = trapProcess(trap);
    let summary;
    try {
      summary = await new FuzzRun({ seed, protocol, binary, calls, seconds, bytesCalls: 800, settleMs }, trap).run();
    } finally {
      restore();
    }
    const logFile = process.env.FUZZ_LOG ?? path.join(os.tmpdir(), `libmemcached-fuzz-${seed}-${protocol}.jsonl`);
    const logged = summary.failures.slice(0, LOG_MAX).map((f) => JSON.stringify({ ...f, repro: reproOf(f) }));
    if (logged.length > 0) fs.writeFileSync(logFile, logged.join('\n') + '\n');
    const report = formatReport(summary) + (logged.length > 0 ? `\n\n  the first ${logged.length} failures in full: ${logFile}` : '');
    if (summary.failures.length > 0) throw new Error(`\n${report}\n`);
    console.log(report);
    if (!sanitized && process.env.FUZZ_CALLS === undefined && process.env.FUZZ_SECONDS === undefined) {
      expect(summary.calls).toBeGreaterThanOrEqual(MIN_CALLS);
    }
  },
  120_000,
);
