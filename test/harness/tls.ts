/**
 * TLS for the tests (docs/testing-tls.md): throwaway certificates made at test time with the
 * openssl command-line tool, and memcached servers that speak TLS (-Z) with them.
 *
 * The servers run a memcached >= 1.6.39 built by scripts/lib/memcached-tls.sh: Debian 12's 1.6.18
 * hangs a TLS connection when pipelined sets span more than one TLS record (fixed upstream in
 * 1.6.39). The stock binary can still be asked for (`executable: stockMemcachedBinary()`), to show
 * that bug. 1.6.39 to 1.6.45 (at least) keep a second hang of the same kind, which these servers
 * avoid with a large -R (TLS_REQS_PER_EVENT below).
 *
 * Nothing here is committed or reused between runs: every process makes its own certificates in a
 * private temporary folder (removeTlsCertificates() deletes it).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { memcachedBinary } from '../../scripts/lib/memcached-server';
import { TlsCertificates, createTlsCertificates } from '../../scripts/lib/tls-certificates';
import { MemcachedServer, StartOptions, startMemcached } from './memcached';

export type { TlsCertificates, TlsPair } from '../../scripts/lib/tls-certificates';
export { createTlsCertificates } from '../../scripts/lib/tls-certificates';

let shared: TlsCertificates | undefined;

/**
 * This process's certificates: made on first use, removed by removeTlsCertificates() (a test
 * file's afterAll: jest's workers do not run 'exit' handlers) or else when the process exits.
 */
export function tlsCertificates(): TlsCertificates {
  if (!shared) {
    const made = createTlsCertificates();
    shared = made;
    process.once('exit', () => made.remove());
  }
  return shared;
}

/** Removes tlsCertificates()'s folder (once the servers using it are stopped); the next call makes new ones. */
export function removeTlsCertificates(): void {
  shared?.remove();
  shared = undefined;
}

let fixedBinary: string | undefined;

/**
 * The memcached with the TLS pipelining fix: $MEMCACHED_TLS_BIN, else the one
 * scripts/lib/memcached-tls.sh builds (the first time, about half a minute; then cached).
 */
export function tlsMemcachedBinary(): string {
  if (fixedBinary) return fixedBinary;
  const given = process.env.MEMCACHED_TLS_BIN;
  if (given) {
    if (!fs.existsSync(given)) throw new Error(`MEMCACHED_TLS_BIN=${given} does not exist`);
    return (fixedBinary = given);
  }
  const script = path.join(__dirname, '../../scripts/lib/memcached-tls.sh');
  let out: string;
  try {
    out = execFileSync('bash', [script, 'build'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 600_000 });
  } catch (error) {
    const e = error as Error & { stderr?: string };
    throw new Error(`scripts/lib/memcached-tls.sh failed:\n${e.stderr || e.message}`);
  }
  const binary = out.trim().split('\n').pop() ?? '';
  if (!fs.existsSync(binary)) throw new Error(`scripts/lib/memcached-tls.sh printed ${JSON.stringify(out)}, not a binary`);
  return (fixedBinary = binary);
}

/** The memcached the other tests run (Debian 12's 1.6.18 here), with the TLS pipelining bug. */
export function stockMemcachedBinary(): string {
  return memcachedBinary();
}

/** `memcached -V` of `executable`, as [major, minor, patch]. */
export function memcachedVersion(executable: string): [number, number, number] {
  const out = execFileSync(executable, ['-V'], { encoding: 'utf8' });
  const m = /memcached (\d+)\.(\d+)\.(\d+)/.exec(out);
  if (!m) throw new Error(`${executable} -V printed ${JSON.stringify(out)}`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

/** Whether `executable` has the fix for pipelined sets over TLS (memcached >= 1.6.39). */
export function hasTlsPipeliningFix(executable: string): boolean {
  const [major, minor, patch] = memcachedVersion(executable);
  return major > 1 || (major === 1 && (minor > 6 || (minor === 6 && patch >= 39)));
}

/**
 * memcached's -R for the TLS servers. After -R requests (default 20) in one go, memcached yields
 * the connection and, when its own read buffer is empty, waits for the socket to become readable,
 * forgetting bytes OpenSSL has already decrypted but not handed over (SSL_pending): a pipeline
 * whose rest sits there hangs. 1.6.39's fix checks SSL_pending on the normal path but not on this
 * one (still so in 1.6.45). Never yielding avoids it; the only cost is fairness between
 * connections, which the tests do not measure. docs/testing-tls.md has the measurements.
 */
export const TLS_REQS_PER_EVENT = 1_000_000;

export interface TlsServerOptions {
  /** The server's certificate: for 127.0.0.1 (default), for another host, or expired. */
  cert?: 'good' | 'wrongHost' | 'expired';
  /** Require a client certificate signed by the CA (ssl_verify_mode=2, ssl_ca_cert). */
  requireClientCert?: boolean;
  /** Refuse anything older than TLS 1.3 (ssl_min_version=3; the default minimum is 1.2). */
  tls13Only?: boolean;
  /** The memcached binary: tlsMemcachedBinary() by default; stockMemcachedBinary() for the bug. */
  executable?: string;
  /** memcached's -R: TLS_REQS_PER_EVENT by default; 20 is memcached's own default. */
  reqsPerEvent?: number;
  /** More memcached arguments, after the TLS ones. */
  extraArgs?: string[];
  /** The certificates to use: tlsCertificates() by default. */
  certificates?: TlsCertificates;
  /** A given port (to start a server again where it was); a free one by default. */
  port?: number;
  /** The server's environment (OPENSSL_CONF, for one); this process's by default. */
  env?: NodeJS.ProcessEnv;
}

export interface TlsServer extends MemcachedServer {
  certificates: TlsCertificates;
  executable: string;
}

/**
 * How to start memcached with TLS (-Z) for `options`, as startMemcached's options: for a starter
 * that adds its own (startSaslMemcached), and for startTlsMemcached below.
 */
export function tlsStartOptions(options: TlsServerOptions = {}): StartOptions & { executable: string } {
  const certificates = options.certificates ?? tlsCertificates();
  const executable = options.executable ?? tlsMemcachedBinary();
  const cert = { good: certificates.server, wrongHost: certificates.wrongHost, expired: certificates.expired }[options.cert ?? 'good'];
  const settings = [`ssl_chain_cert=${cert.certPath}`, `ssl_key=${cert.keyPath}`];
  if (options.requireClientCert) settings.push(`ssl_ca_cert=${certificates.ca.certPath}`, 'ssl_verify_mode=2');
  // Numeric: 1.6.18 and 1.6.45 both take 0 (TLS 1.0) to 3 (TLS 1.3) only.
  if (options.tls13Only) settings.push('ssl_min_version=3');
  // -o's list is comma-separated; mkdtemp's paths have no commas, but say so if one ever does.
  for (const s of settings) if (s.includes(',')) throw new Error(`a comma in memcached's -o value ${s}`);
  const reqs = String(options.reqsPerEvent ?? TLS_REQS_PER_EVENT);
  return { executable, port: options.port, env: options.env, args: ['-Z', '-o', settings.join(','), '-R', reqs, ...(options.extraArgs ?? [])] };
}

/** memcached with TLS on its one TCP listener (-Z) on a free loopback port. */
export async function startTlsMemcached(options: TlsServerOptions = {}): Promise<TlsServer> {
  const certificates = options.certificates ?? tlsCertificates();
  const start = tlsStartOptions({ ...options, certificates });
  const server = await startMemcached(start);
  return { ...server, certificates, executable: start.executable };
}

/**
 * A TLS connection to `server` with Node's own tls module, trusting the test CA unless `options`
 * say otherwise; resolves once the handshake is done (and the server's certificate verified),
 * rejects with the handshake's or the verification's error.
 */
export function connectTls(server: MemcachedServer, options: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
  const certificates = (server as Partial<TlsServer>).certificates ?? tlsCertificates();
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: server.host, port: server.port, ca: certificates.ca.cert, ...options });
    const fail = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    socket.setTimeout(5000, () => fail(new Error('TLS handshake timed out')));
    socket.once('error', fail);
    socket.once('secureConnect', () => {
      socket.setTimeout(0);
      socket.off('error', fail);
      resolve(socket);
    });
  });
}

export interface TlsExchange {
  /** Every byte the server sent within the time. */
  reply: string;
  /** The error the socket reported, if any (a TLS 1.3 server refuses a client certificate only now). */
  error?: Error;
  /** Whether the server closed the connection. */
  closed: boolean;
}

/**
 * Writes `request` in one write and collects the reply until `complete(reply)`, an error, the
 * server closing, or `ms` milliseconds; then closes the socket. Never rejects: what happened is
 * in the result.
 */
export function tlsExchange(socket: tls.TLSSocket, request: string | Buffer, complete: (reply: string) => boolean, ms = 3000): Promise<TlsExchange> {
  return new Promise((resolve) => {
    let reply = '';
    let error: Error | undefined;
    let closed = false;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.removeAllListeners('data');
      socket.destroy();
      resolve({ reply, error, closed });
    };
    const timer = setTimeout(finish, ms);
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      if (complete(reply)) finish();
    });
    socket.on('error', (e) => {
      error = e;
      finish();
    });
    socket.on('end', () => {
      closed = true;
      finish();
    });
    socket.write(request);
  });
}
