/**
 * The commands of bin `libmemcached` (memcat, memcp, memrm, memstat, memflush, memping and
 * memslap of libmemcached-tools, as one tool): each takes its arguments and a Client and says
 * what to print and how to exit (0 done, 1 a key missing, 2 an error).
 */
import { Client } from '../client';
import { serverAddress } from '../servers';
import { UsageError } from './options';

/** What a command produces: bytes for stdout, lines for stderr, an exit status. */
export interface Outcome {
  stdout: Array<string | Buffer>;
  stderr: string[];
  status: 0 | 1 | 2;
}

export interface CommandContext {
  client: Client;
  args: string[];
  values: Record<string, string | boolean | undefined>;
  json: boolean;
  /** The standard input, read on demand (set KEY -). */
  stdin: () => Promise<Buffer>;
}

export interface Command {
  summary: string;
  usage: string;
  /** Flags of this command, beyond the connection flags. */
  flags?: Record<string, { type: 'string' | 'boolean' }>;
  run(context: CommandContext): Promise<Outcome>;
}

const ok = (stdout: Array<string | Buffer> = [], stderr: string[] = []): Outcome => ({ stdout, stderr, status: 0 });
const json = (value: unknown): string => `${JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`;

/** A stored value as read raw: its bytes (inflated if compressed) and flags. */
interface Raw {
  bytes: Buffer;
  flags: number;
}

/** A value for --json: text when it is valid UTF-8, else base64. */
function describe(raw: Raw): Record<string, unknown> {
  const text = raw.bytes.toString('utf8');
  const exact = Buffer.from(text, 'utf8').equals(raw.bytes);
  return exact ? { value: text, flags: raw.flags, bytes: raw.bytes.length } : { base64: raw.bytes.toString('base64'), flags: raw.flags, bytes: raw.bytes.length };
}

function needKeys(args: string[], command: string, at = 1): void {
  if (args.length < at) throw new UsageError(`${command}: give at least ${at === 1 ? 'one key' : `${at} arguments`}`);
}

function parseTtl(text: string | boolean | undefined): number {
  if (text === undefined) return 0;
  const ttl = Number(text);
  if (typeof text !== 'string' || !Number.isInteger(ttl) || ttl < 0) throw new UsageError(`--ttl must be a whole number of seconds, got ${String(text)}`);
  return ttl;
}

export const COMMANDS: Record<string, Command> = {
  get: {
    summary: 'print the values of keys (exit 1 if one is missing)',
    usage: `get KEY [KEY...]
  Writes the value of one key to stdout as stored (decompressed), nothing added; with several
  keys, each value followed by a newline, in the order given. Missing keys are named on
  stderr and exit with 1. With --json: {"KEY": {"value" | "base64", "flags", "bytes"}, ...},
  missing keys left out.`,
    async run({ client, args, json: asJson }) {
      needKeys(args, 'get');
      // One key: a get (its errors name it); several: one multi-get.
      // (With a null prototype, as getMulti's: a key such as 'constructor' is a key like any other.)
      const found: Record<string, Raw> =
        args.length === 1
          ? await client.get(args[0]).then((raw) => Object.assign(Object.create(null), raw === undefined ? {} : { [args[0]]: raw as Raw }))
          : ((await client.getMulti(args)) as Record<string, Raw>);
      const has = (key: string) => Object.prototype.hasOwnProperty.call(found, key);
      const missing = args.filter((key) => !has(key));
      const stderr = missing.map((key) => `${key}: not found`);
      const status = missing.length > 0 ? 1 : 0;
      if (asJson) return { stdout: [json(Object.fromEntries(Object.entries(found).map(([k, raw]) => [k, describe(raw)])))], stderr, status };
      const stdout: Buffer[] = [];
      for (const key of args) if (has(key)) stdout.push(args.length === 1 ? found[key].bytes : Buffer.concat([found[key].bytes, Buffer.from('\n')]));
      return { stdout, stderr, status };
    },
  },
  set: {
    summary: 'store a value (VALUE, or - for stdin)',
    usage: `set KEY VALUE [--ttl SECONDS]
set KEY - [--ttl SECONDS]
  Stores VALUE as text (flags 16, read back by pylibmc as str), or the bytes of stdin as they
  are (flags 0) for -. --ttl: memcached's expiration, seconds from now up to 30 days
  (2592000); a larger number is a Unix time, as memcached reads it.`,
    flags: { ttl: { type: 'string' } },
    async run({ client, args, values, json: asJson, stdin }) {
      if (args.length !== 2) throw new UsageError('set: give KEY and VALUE (or - to read the value from stdin)');
      const [key, given] = args;
      const value = given === '-' ? await stdin() : given;
      const stored = await client.set(key, value, { time: parseTtl(values.ttl) });
      return asJson ? ok([json({ key, stored, bytes: Buffer.byteLength(value) })]) : ok();
    },
  },
  delete: {
    summary: 'delete keys (exit 1 if one was missing)',
    usage: `delete KEY [KEY...]
  Deletes every key; the missing ones are named on stderr and exit with 1.`,
    async run({ client, args, json: asJson }) {
      needKeys(args, 'delete');
      // Called together: one pipelined write, each with its own answer.
      const deleted = await Promise.all(args.map((key) => client.delete(key)));
      const missing = args.filter((_k, i) => !deleted[i]);
      const stdout = asJson ? [json(Object.fromEntries(args.map((k, i) => [k, deleted[i]])))] : [];
      return { stdout, stderr: missing.map((key) => `${key}: not found`), status: missing.length > 0 ? 1 : 0 };
    },
  },
  stats: {
    summary: 'print server statistics (a GROUP such as items, slabs, settings)',
    usage: `stats [GROUP]
  Every server's statistics, "STAT name value" lines under each server's name.`,
    async run({ client, args, json: asJson }) {
      if (args.length > 1) throw new UsageError('stats: at most one GROUP');
      const stats = await client.getStats(args[0]);
      if (asJson) return ok([json(Object.fromEntries(stats))]);
      const lines: string[] = [];
      for (const [server, values] of stats) {
        lines.push(`${server}\n`);
        for (const [name, value] of Object.entries(values)) lines.push(`  STAT ${name} ${value}\n`);
      }
      return ok(lines);
    },
  },
  flush: {
    summary: 'invalidate every item on every server',
    usage: `flush [--delay SECONDS]
  flush_all on every server (after SECONDS, if given).`,
    flags: { delay: { type: 'string' } },
    async run({ client, args, values, json: asJson }) {
      if (args.length > 0) throw new UsageError('flush takes no arguments');
      await client.flushAll(values.delay === undefined ? undefined : parseTtl(values.delay));
      return asJson ? ok([json({ flushed: client.servers.map(serverAddress) })]) : ok();
    },
  },
  ping: {
    summary: 'check that every server answers, with the round-trip time',
    usage: `ping
  Asks each server for one key (a miss is an answer) on a connection of its own and prints
  "SERVER ok MS ms" or "SERVER FAILED reason"; exits with 2 if one failed.`,
    async run({ client, args, json: asJson }) {
      if (args.length > 0) throw new UsageError('ping takes no arguments');
      const results = await Promise.all(
        client.servers.map(async (server) => {
          const one = new Client([server], { ...client.options, behaviors: { ...(client.options.behaviors ?? {}) } });
          try {
            await one.get('libmemcached-ping'); // connects
            const started = process.hrtime.bigint();
            await one.get('libmemcached-ping');
            return { server: serverAddress(server), ok: true, ms: Number(process.hrtime.bigint() - started) / 1e6 };
          } catch (error) {
            return { server: serverAddress(server), ok: false, error: (error as Error).message };
          } finally {
            await one.close();
          }
        }),
      );
      const status = results.every((r) => r.ok) ? 0 : 2;
      if (asJson) return { stdout: [json(results)], stderr: [], status };
      return { stdout: results.map((r) => (r.ok ? `${r.server} ok ${r.ms?.toFixed(3)} ms\n` : `${r.server} FAILED ${r.error}\n`)), stderr: [], status };
    },
  },
  hash: {
    summary: 'which server a key maps to',
    usage: `hash KEY [KEY...]
  Prints "KEY SERVER (index)" per key, as this client (and pylibmc, php-memcached) place it.`,
    async run({ client, args, json: asJson }) {
      needKeys(args, 'hash');
      const indexes = await Promise.all(args.map((key) => client.hash(key)));
      const servers = client.servers.map(serverAddress);
      if (asJson) return ok([json(Object.fromEntries(args.map((k, i) => [k, { server: servers[indexes[i]], index: indexes[i] }])))]);
      return ok(args.map((k, i) => `${k} ${servers[indexes[i]]} (${indexes[i]})\n`));
    },
  },
};
