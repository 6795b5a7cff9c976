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
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { memcachedBinary } from '../../scripts/lib/memcached-server';
import { MemcachedServer, startMemcached } from './memcached';

/** A certificate and its private key, as files and as PEM text. */
export interface TlsPair {
  certPath: string;
  keyPath: string;
  cert: string;
  key: string;
}

export interface TlsCertificates {
  /** The private folder everything is in. */
  dir: string;
  /** The CA that signed the server and client certificates below (but not `otherClient`). */
  ca: TlsPair;
  /** A second CA that nothing trusts: "unknown CA". */
  otherCa: TlsPair;
  /** A server certificate for 127.0.0.1 and localhost (subjectAltName IP:127.0.0.1, DNS:localhost). */
  server: TlsPair;
  /** A server certificate, signed by `ca`, for another host only (DNS:wrong.example). */
  wrongHost: TlsPair;
  /** A server certificate for 127.0.0.1 and localhost, signed by `ca`, that expired in 2020. */
  expired: TlsPair;
  /** A client certificate signed by `ca`, for mutual TLS. */
  client: TlsPair;
  /** A client certificate signed by `otherCa`, which a server trusting `ca` must refuse. */
  otherClient: TlsPair;
  /** Deletes the folder. */
  remove(): void;
}

// One configuration for both CAs: `openssl ca` keeps its database next to it (index.txt and
// serial, in the CA's own folder, which is the working directory); `-extensions` picks the kind of
// certificate. No system openssl.cnf is read.
const OPENSSL_CNF = `
[ca]
default_ca = ca_default

[ca_default]
dir = .
database = index.txt
serial = serial
new_certs_dir = issued
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none

[policy_any]
commonName = supplied

[req]
distinguished_name = dn
prompt = no

[dn]
CN = unused

[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[server_here]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost

[server_wrong_host]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example

[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
`;

// P-256 keys: generated in milliseconds, unlike RSA ones.
const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function openssl(cwd: string, args: string[]): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new Error('the openssl command is not installed (apt-get install -y openssl)');
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr?.toString() || e.message}`);
  }
}

/** `openssl ca`'s date format, YYYYMMDDHHMMSSZ. */
const caDate = (ms: number): string => `${new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;

function pair(certPath: string, keyPath: string): TlsPair {
  return { certPath, keyPath, cert: fs.readFileSync(certPath, 'utf8'), key: fs.readFileSync(keyPath, 'utf8') };
}

/** A self-signed CA in its own folder below `dir`, ready to sign. */
function makeCa(dir: string, name: string, commonName: string): { dir: string; pair: TlsPair } {
  const caDir = path.join(dir, name);
  fs.mkdirSync(path.join(caDir, 'issued'), { recursive: true });
  fs.writeFileSync(path.join(caDir, 'openssl.cnf'), OPENSSL_CNF);
  fs.writeFileSync(path.join(caDir, 'index.txt'), '');
  fs.writeFileSync(path.join(caDir, 'serial'), '1000\n');
  const subject = `/CN=${commonName}`;
  openssl(caDir, ['req', '-config', 'openssl.cnf', '-x509', ...NEW_KEY, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', subject, '-extensions', 'v3_ca']);
  return { dir: caDir, pair: pair(path.join(caDir, 'ca.pem'), path.join(caDir, 'ca.key')) };
}

/**
 * A key and a certificate for it signed by the CA in `caDir`, valid from `notBefore` to `notAfter`
 * (ms since the epoch), with the extensions of section `extensions` of OPENSSL_CNF.
 */
function issue(dir: string, caDir: string, name: string, commonName: string, extensions: string, notBefore: number, notAfter: number): TlsPair {
  const keyPath = path.join(dir, `${name}.key`);
  const certPath = path.join(dir, `${name}.pem`);
  const csrPath = path.join(dir, `${name}.csr`);
  openssl(caDir, ['req', '-config', 'openssl.cnf', '-new', ...NEW_KEY, '-keyout', keyPath, '-out', csrPath, '-subj', `/CN=${commonName}`]);
  // `openssl ca` rather than `openssl x509 -req`: OpenSSL 3.0's x509 cannot set a start date, and
  // the expired certificate needs one in the past.
  const validity = ['-startdate', caDate(notBefore), '-enddate', caDate(notAfter)];
  openssl(caDir, ['ca', '-config', 'openssl.cnf', '-batch', '-notext', '-cert', 'ca.pem', '-keyfile', 'ca.key', '-in', csrPath, '-out', certPath, '-extensions', extensions, ...validity]);
  fs.rmSync(csrPath);
  return pair(certPath, keyPath);
}

/** Makes a fresh set of certificates in a new private temporary folder. */
export function createTlsCertificates(): TlsCertificates {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lmc-tls-'));
  try {
    const ca = makeCa(dir, 'ca', 'libmemcached test CA');
    const other = makeCa(dir, 'other-ca', 'libmemcached unrelated test CA');
    const now = Date.now();
    const hour = 3600_000;
    // An hour back and a day ahead: valid for any test run, whatever small clock differences.
    const from = now - hour;
    const to = now + 24 * hour;
    const certs = {
      dir,
      ca: ca.pair,
      otherCa: other.pair,
      server: issue(dir, ca.dir, 'server', 'localhost', 'server_here', from, to),
      wrongHost: issue(dir, ca.dir, 'wrong-host', 'wrong.example', 'server_wrong_host', from, to),
      expired: issue(dir, ca.dir, 'expired', 'localhost', 'server_here', Date.UTC(2020, 0, 1), Date.UTC(2020, 0, 2)),
      client: issue(dir, ca.dir, 'client', 'libmemcached test client', 'client', from, to),
      otherClient: issue(dir, other.dir, 'other-client', 'libmemcached unrelated client', 'client', from, to),
      remove: () => fs.rmSync(dir, { recursive: true, force: true }),
    };
    // memcached reads them before it drops to `nobody` (as root), but `refresh_certs` reads them
    // again afterwards: everything readable. Throwaway keys, so nothing is lost.
    fs.chmodSync(dir, 0o755);
    for (const sub of ['', 'ca', 'other-ca']) {
      for (const f of fs.readdirSync(path.join(dir, sub))) {
        const p = path.join(dir, sub, f);
        fs.chmodSync(p, fs.statSync(p).isDirectory() ? 0o755 : 0o644);
      }
    }
    return certs;
  } catch (error) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

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
}

export interface TlsServer extends MemcachedServer {
  certificates: TlsCertificates;
  executable: string;
}

/** memcached with TLS on its one TCP listener (-Z) on a free loopback port. */
export async function startTlsMemcached(options: TlsServerOptions = {}): Promise<TlsServer> {
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
  const server = await startMemcached({ executable, port: options.port, args: ['-Z', '-o', settings.join(','), '-R', reqs, ...(options.extraArgs ?? [])] });
  return { ...server, certificates, executable };
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
