/**
 * The `tls` option: its type, in the shape of Node's `tls.connect` options so that what a
 * service already has can be passed on, and its check and translation for the addon.
 */
import type { NativeServer, NativeTlsConfig } from './native/surface';

export interface TlsOptions {
  /**
   * Trusted CA certificates, PEM (several may be given; `tls.rootCertificates` is Node's own
   * bundle); default: the system's trust store, as OpenSSL finds it (docs/tls.md).
   */
  ca?: string | Buffer | ReadonlyArray<string | Buffer>;
  /** A client certificate, PEM (followed by any intermediates), for servers that ask for one. */
  cert?: string | Buffer;
  /** The client certificate's private key, PEM. */
  key?: string | Buffer;
  /** The key's passphrase, if it is encrypted. */
  passphrase?: string;
  /** The name sent (SNI) and checked against the certificate instead of each server's host. */
  servername?: string;
  /** Refuse a server whose certificate does not verify (default true). */
  rejectUnauthorized?: boolean;
  /** The oldest protocol version accepted (default 'TLSv1.2'). */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
}

const KEYS = new Set(['ca', 'cert', 'key', 'passphrase', 'servername', 'rejectUnauthorized', 'minVersion']);

function pem(value: unknown, name: string): string {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('latin1');
  throw new TypeError(`tls.${name} must be PEM text, a string or a Buffer, got ${value === null ? 'null' : typeof value}`);
}

/** Checks the option against the servers; undefined when TLS is off. Throws TypeError/RangeError. */
export function resolveTls(option: boolean | TlsOptions | undefined, servers: readonly NativeServer[]): NativeTlsConfig | undefined {
  if (option === undefined || option === false) return undefined;
  if (option !== true && (option === null || typeof option !== 'object' || Array.isArray(option))) {
    throw new TypeError('tls must be true, false or an object of TLS options');
  }
  // Read once, as the other options are.
  const given: TlsOptions = option === true ? {} : { ...option };
  for (const name of Object.keys(given)) {
    if (!KEYS.has(name)) throw new TypeError(`tls.${name} is not a TLS option (${[...KEYS].join(', ')})`);
  }
  for (const server of servers) {
    if (server.transport !== 'tcp') {
      throw new TypeError(`tls: ${server.transport === 'udp' ? 'UDP' : 'a UNIX socket'} (${server.host}) cannot use TLS; only TCP servers can`);
    }
  }
  const config: NativeTlsConfig = { rejectUnauthorized: true, minVersion: 'TLSv1.2' };
  if (given.ca !== undefined) {
    const list: ReadonlyArray<unknown> = Array.isArray(given.ca) ? given.ca : [given.ca];
    if (list.length === 0) throw new RangeError('tls.ca is an empty list');
    config.ca = list.map((item) => pem(item, 'ca')).join('\n');
  }
  if ((given.cert === undefined) !== (given.key === undefined)) throw new TypeError('tls.cert and tls.key go together');
  if (given.cert !== undefined) {
    config.cert = pem(given.cert, 'cert');
    config.key = pem(given.key, 'key');
  }
  if (given.passphrase !== undefined) {
    if (typeof given.passphrase !== 'string') throw new TypeError('tls.passphrase must be a string');
    config.passphrase = given.passphrase;
  }
  if (given.servername !== undefined) {
    if (typeof given.servername !== 'string' || given.servername === '' || /[\0\s]/.test(given.servername)) {
      throw new TypeError('tls.servername must be a host name');
    }
    config.servername = given.servername;
  }
  if (given.rejectUnauthorized !== undefined) {
    if (typeof given.rejectUnauthorized !== 'boolean') throw new TypeError('tls.rejectUnauthorized must be a boolean');
    config.rejectUnauthorized = given.rejectUnauthorized;
  }
  if (given.minVersion !== undefined) {
    if (given.minVersion !== 'TLSv1.2' && given.minVersion !== 'TLSv1.3') throw new RangeError(`tls.minVersion must be 'TLSv1.2' or 'TLSv1.3'`);
    config.minVersion = given.minVersion;
  }
  for (const [name, text] of [['ca', config.ca], ['cert', config.cert], ['key', config.key], ['passphrase', config.passphrase]] as const) {
    if (text !== undefined && text.includes('\0')) throw new TypeError(`tls.${name} contains a NUL character`);
  }
  return config;
}
