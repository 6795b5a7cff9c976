/**
 * The command line's connection options (servers, protocol, SASL, TLS), from flags and the
 * environment, turned into a Client; shared by every command of bin `libmemcached`.
 */
import * as fs from 'node:fs';
import { Client } from '../client';
import type { ClientOptions } from '../options';
import type { TlsOptions } from '../tls';

/** The flags every command takes, for node:util parseArgs. */
export const CONNECTION_FLAGS = {
  servers: { type: 'string', short: 's' },
  binary: { type: 'boolean' },
  username: { type: 'string' },
  password: { type: 'string' },
  tls: { type: 'boolean' },
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-servername': { type: 'string' },
  'tls-insecure': { type: 'boolean' },
  'timeout': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const CONNECTION_HELP = `Connection (every command):
  -s, --servers LIST     host[:port[:weight]], comma-separated (default: $MEMCACHED_SERVERS,
                         else 127.0.0.1:11211); a UNIX socket path; udp:host for writes
  --binary               the binary protocol (implied by SASL)
  --username NAME        SASL (or $MEMCACHED_USERNAME); --password (or $MEMCACHED_PASSWORD)
  --tls                  TLS, verified against the system's CAs
  --tls-ca FILE          trust these CAs (PEM) instead; implies --tls
  --tls-cert FILE, --tls-key FILE
                         a client certificate and its key (mutual TLS); imply --tls
  --tls-servername NAME  the name to send and verify instead of each server's host
  --tls-insecure         do not verify the server's certificate (tests only)
  --timeout MS           connect and poll timeout (default 1000)
  --json                 machine-readable output (one JSON document)
  -h, --help             this help, or a command's`;

export type ConnectionValues = Partial<Record<keyof typeof CONNECTION_FLAGS, string | boolean | undefined>>;

/** A usage mistake: exit status 2 with the message and a pointer to --help. */
export class UsageError extends Error {}

function readPem(file: string, flag: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    throw new UsageError(`${flag}: cannot read ${file}: ${(error as Error).message}`);
  }
}

/**
 * The Client the flags and the environment describe. Its reads return what was stored, raw
 * ({ bytes, flags }, inflated if compressed): the commands print bytes, not decoded values.
 */
export function clientFrom(values: ConnectionValues, env: NodeJS.ProcessEnv = process.env): Client {
  const options: ClientOptions = { deserialize: (bytes, flags) => ({ bytes, flags }) };
  const username = (values.username as string | undefined) ?? env.MEMCACHED_USERNAME;
  const password = (values.password as string | undefined) ?? env.MEMCACHED_PASSWORD;
  if ((username === undefined) !== (password === undefined)) throw new UsageError('--username and --password go together');
  if (username !== undefined) Object.assign(options, { username, password });
  if (values.binary) options.binary = true;
  if (values.timeout !== undefined) {
    const ms = Number(values.timeout);
    if (!Number.isInteger(ms) || ms < 1) throw new UsageError(`--timeout must be a positive number of milliseconds, got ${String(values.timeout)}`);
    options.behaviors = { connect_timeout: ms, _poll_timeout: ms };
  }
  const tls: TlsOptions = {};
  if (values['tls-ca'] !== undefined) tls.ca = readPem(values['tls-ca'] as string, '--tls-ca');
  if (values['tls-cert'] !== undefined) tls.cert = readPem(values['tls-cert'] as string, '--tls-cert');
  if (values['tls-key'] !== undefined) tls.key = readPem(values['tls-key'] as string, '--tls-key');
  if (values['tls-servername'] !== undefined) tls.servername = values['tls-servername'] as string;
  if (values['tls-insecure']) tls.rejectUnauthorized = false;
  if (values.tls || Object.keys(tls).length > 0) options.tls = Object.keys(tls).length > 0 ? tls : true;
  const servers = values.servers as string | undefined;
  if (servers !== undefined && servers.trim() === '') throw new UsageError('--servers is empty');
  try {
    return new Client(servers, options);
  } catch (error) {
    if (error instanceof TypeError || error instanceof RangeError) throw new UsageError(error.message);
    throw error;
  }
}
