/**
 * Server specifications as pylibmc spells them (pylibmc.client.translate_server_spec), so that
 * the host strings libmemcached hashes for ketama are byte-for-byte the ones pylibmc passes.
 *
 *   'host'  'host:port'  'host:port:weight'
 *   'udp:host[:port[:weight]]'  'tcp:host...'
 *   '/path/to.sock'  'unix:/path/to.sock'
 *   '[::1]'  '[::1]:port'  '[::1]:port:weight'    (brackets are stripped, as pylibmc does)
 */
import type { NativeServer } from './native/surface';

export type ServerList = string | readonly string[];

export const DEFAULT_PORT = 11211;
/** The longest host name DNS allows. */
export const MAX_HOST_LENGTH = 253;

function parseInteger(text: string, what: string, spec: string, min: number, max: number): number {
  if (!/^\d+$/.test(text)) throw new TypeError(`invalid ${what} in server spec ${JSON.stringify(spec)}`);
  const value = Number(text);
  if (value < min || value > max) {
    throw new RangeError(`${what} ${value} out of range ${min}..${max} in server spec ${JSON.stringify(spec)}`);
  }
  return value;
}

export function parseServer(spec: string): NativeServer {
  if (typeof spec !== 'string') throw new TypeError(`a server spec must be a string, got ${typeof spec}`);
  const text = spec.trim();
  if (text === '') throw new TypeError('empty server spec');

  let transport: NativeServer['transport'] = 'tcp';
  let rest = text;
  const scheme = /^(tcp|udp|unix):(.*)$/.exec(text);
  if (scheme) {
    transport = scheme[1] as NativeServer['transport'];
    rest = scheme[2];
  } else if (text.startsWith('/')) {
    transport = 'unix';
  }

  if (transport === 'unix') {
    if (!rest.startsWith('/')) throw new TypeError(`a UNIX socket path must be absolute: ${JSON.stringify(spec)}`);
    if (rest.includes('\0')) throw new TypeError(`a UNIX socket path cannot contain a NUL byte: ${JSON.stringify(spec)}`);
    // sun_path holds 108 bytes including the terminating NUL.
    if (Buffer.byteLength(rest) > 107) throw new RangeError(`UNIX socket path too long: ${JSON.stringify(spec)}`);
    return { transport, host: rest, port: 0, weight: 1 };
  }

  let host: string;
  let tail: string;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw new TypeError(`unterminated IPv6 address in server spec ${JSON.stringify(spec)}`);
    host = rest.slice(1, close);
    tail = rest.slice(close + 1);
    if (tail !== '' && !tail.startsWith(':')) throw new TypeError(`invalid server spec ${JSON.stringify(spec)}`);
    tail = tail.slice(1);
  } else {
    const colon = rest.indexOf(':');
    host = colon < 0 ? rest : rest.slice(0, colon);
    tail = colon < 0 ? '' : rest.slice(colon + 1);
  }
  if (host === '') throw new TypeError(`missing host in server spec ${JSON.stringify(spec)}`);
  // A DNS name is at most 253 bytes; libmemcached refuses (with a plain error) any over 1,024,
  // and a control byte or a space would be cut or resolved as something else.
  if (Buffer.byteLength(host) > MAX_HOST_LENGTH) throw new RangeError(`host name over ${MAX_HOST_LENGTH} bytes in server spec ${JSON.stringify(spec.slice(0, 80))}…`);
  if (/[\s\x00-\x1f\x7f]/.test(host)) throw new TypeError(`invalid character in the host of server spec ${JSON.stringify(spec)}`);

  let port = DEFAULT_PORT;
  let weight = 1;
  if (tail !== '') {
    const parts = tail.split(':');
    if (parts.length > 2) throw new TypeError(`invalid server spec ${JSON.stringify(spec)}`);
    port = parseInteger(parts[0], 'port', spec, 1, 65535);
    if (parts.length === 2) weight = parseInteger(parts[1], 'weight', spec, 1, 0xffffffff);
  }
  return { transport, host, port, weight };
}

/** Where a client with no servers goes: memjs's convention, MEMCACHED_SERVERS, else the local default. */
export const DEFAULT_SERVERS = '127.0.0.1:11211';

/**
 * The servers of a client constructed without any: `MEMCACHED_SERVERS` (comma-separated, read
 * when the client is made) when set and not blank, else 127.0.0.1:11211.
 */
export function defaultServers(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.MEMCACHED_SERVERS;
  return fromEnv !== undefined && fromEnv.trim() !== '' ? fromEnv : DEFAULT_SERVERS;
}

export function parseServers(servers: ServerList | undefined): NativeServer[] {
  if (servers === undefined) servers = defaultServers();
  const specs =
    typeof servers === 'string'
      ? servers.split(',').map((s) => s.trim()).filter((s) => s !== '')
      : Array.isArray(servers)
        ? servers
        : undefined;
  if (specs === undefined) throw new TypeError('servers must be a string or an array of strings');
  if (specs.length === 0) throw new TypeError('empty server list');
  const parsed = specs.map(parseServer);
  // libmemcached picks TCP or UDP per client, not per server.
  const transports = new Set(parsed.map((s) => (s.transport === 'udp' ? 'udp' : 'stream')));
  if (transports.size > 1) throw new TypeError("can't mix UDP with TCP or UNIX socket servers");
  return parsed;
}

export function formatServer(server: NativeServer): string {
  if (server.transport === 'unix') return server.host;
  const host = server.host.includes(':') ? `[${server.host}]` : server.host;
  const prefix = server.transport === 'udp' ? 'udp:' : '';
  return `${prefix}${host}:${server.port}${server.weight !== 1 ? `:${server.weight}` : ''}`;
}

/** A server's address as errors and traces name it: 'host:port' (weight and 'udp:' left out), or a socket path. */
export function serverAddress(spec: string): string {
  if (spec.startsWith('/')) return spec;
  const bare = spec.startsWith('udp:') ? spec.slice(4) : spec;
  if (bare.startsWith('[')) {
    const close = bare.indexOf(']');
    const port = bare.slice(close + 2).split(':')[0];
    return `${bare.slice(1, close)}:${port}`;
  }
  const [host, port] = bare.split(':');
  return `${host}:${port}`;
}
