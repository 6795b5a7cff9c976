/**
 * `libmemcached bench`: a short load against the servers, in the spirit of memslap, to see what
 * a deployment sustains: a mix of gets and sets kept in flight, with ops/s and latency
 * percentiles. (`npm run bench` in a clone compares this client with others; this measures a
 * server.)
 */
import type { Command, Outcome } from './commands';
import { UsageError } from './options';

function positive(text: string | boolean | undefined, fallback: number, flag: string, max: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (typeof text !== 'string' || !Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`--${flag} must be a whole number from 1 to ${max}, got ${String(text)}`);
  return n;
}

/** The value at fraction `p` of sorted `samples` (nearest rank). */
function percentile(samples: Float64Array, p: number): number {
  if (samples.length === 0) return 0;
  return samples[Math.min(samples.length - 1, Math.max(0, Math.ceil(p * samples.length) - 1))];
}

export const benchCommand: Command = {
  summary: 'a short load: ops/s and latency percentiles',
  usage: `bench [--seconds N] [--concurrency N] [--size BYTES] [--keys N] [--set-ratio PERCENT]
  Keeps --concurrency operations in flight (default 64) for --seconds (default 3) on --keys
  keys (default 1000) of --size bytes (default 100), --set-ratio percent of them sets
  (default 10), after writing every key once. Prints ops/s and latency p50/p90/p99/max.
  Writes keys named libmemcached-bench:N.`,
  flags: { seconds: { type: 'string' }, concurrency: { type: 'string' }, size: { type: 'string' }, keys: { type: 'string' }, 'set-ratio': { type: 'string' } },
  async run({ client, args, values, json }): Promise<Outcome> {
    if (args.length > 0) throw new UsageError('bench takes no arguments');
    const seconds = positive(values.seconds, 3, 'seconds', 3600);
    const concurrency = positive(values.concurrency, 64, 'concurrency', 10_000);
    const size = positive(values.size, 100, 'size', 64 * 1024 * 1024);
    const keyCount = positive(values.keys, 1000, 'keys', 1_000_000);
    const setRatio = values['set-ratio'] === undefined ? 10 : Number(values['set-ratio']);
    if (!Number.isInteger(setRatio) || setRatio < 0 || setRatio > 100) throw new UsageError(`--set-ratio must be a whole percentage, got ${String(values['set-ratio'])}`);

    const keys = Array.from({ length: keyCount }, (_, i) => `libmemcached-bench:${i}`);
    const value = Buffer.alloc(size, 0x61);
    for (let i = 0; i < keys.length; i += 1000) {
      const failed = await client.setMulti(new Map(keys.slice(i, i + 1000).map((k) => [k, value])));
      if (failed.length > 0) throw new Error(`bench: ${failed.length} keys could not be stored`);
    }

    const latencies: number[] = [];
    let gets = 0;
    let sets = 0;
    let failures = 0;
    let firstError: string | undefined;
    const deadline = performance.now() + seconds * 1000;
    let n = 0;
    const worker = async () => {
      while (performance.now() < deadline) {
        const key = keys[n++ % keys.length];
        const isSet = (n * 37) % 100 < setRatio;
        const started = performance.now();
        try {
          if (isSet) await client.set(key, value);
          else await client.get(key);
          latencies.push(performance.now() - started);
          if (isSet) sets++;
          else gets++;
        } catch (error) {
          failures++;
          firstError ??= (error as Error).message;
        }
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: concurrency }, worker));
    const elapsed = (performance.now() - started) / 1000;
    const sorted = Float64Array.from(latencies).sort();
    const result = {
      seconds: Number(elapsed.toFixed(3)),
      concurrency,
      size,
      keys: keyCount,
      operations: gets + sets,
      gets,
      sets,
      failures,
      opsPerSecond: Math.round((gets + sets) / elapsed),
      latencyMs: { p50: percentile(sorted, 0.5), p90: percentile(sorted, 0.9), p99: percentile(sorted, 0.99), max: percentile(sorted, 1) },
    };
    const status = failures > 0 ? 2 : 0;
    const stderr = firstError ? [`${failures} operations failed; the first: ${firstError}`] : [];
    if (json) return { stdout: [`${JSON.stringify(result, null, 2)}\n`], stderr, status };
    const ms = (v: number) => v.toFixed(3);
    return {
      stdout: [
        `${result.operations} operations in ${result.seconds} s (${gets} gets, ${sets} sets of ${size} bytes, ${concurrency} in flight): ${result.opsPerSecond} ops/s\n`,
        `latency ms: p50 ${ms(result.latencyMs.p50)}, p90 ${ms(result.latencyMs.p90)}, p99 ${ms(result.latencyMs.p99)}, max ${ms(result.latencyMs.max)}\n`,
      ],
      stderr,
      status,
    };
  },
};
