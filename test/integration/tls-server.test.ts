/**
 * The TLS test harness itself (test/harness/tls.ts, docs/testing-tls.md), with Node's own tls
 * module as the client: the certificates are what they claim to be, the servers enforce what they
 * are started with, and Debian 12's memcached shows the pipelining bug that the harness's newer
 * memcached does not have. Nothing here loads the package: only the harness.
 */
import * as tls from 'node:tls';
import {
  connectTls,
  hasTlsPipeliningFix,
  memcachedVersion,
  removeTlsCertificates,
  startTlsMemcached,
  stockMemcachedBinary,
  tlsCertificates,
  TlsCertificates,
  TlsExchange,
  tlsExchange,
  tlsMemcachedBinary,
  TlsServer,
} from '../harness/tls';

const isVersion = (reply: string) => /^VERSION \S+\r\n$/.test(reply);
const lineEnds = (reply: string) => reply.endsWith('\r\n');

interface VersionResult extends TlsExchange {
  protocol: string | null;
}

/** A `version` command over a new connection: the exchange, and the protocol negotiated. */
async function version(server: TlsServer, options: tls.ConnectionOptions = {}): Promise<VersionResult> {
  const socket = await connectTls(server, options);
  const protocol = socket.getProtocol();
  return { protocol, ...(await tlsExchange(socket, 'version\r\n', lineEnds)) };
}

/**
 * The error of a connection that fails during the handshake or the certificate checks; throws if
 * it succeeds. (Node's errors come from another realm than jest's: `toBeInstanceOf(Error)` would
 * fail, so codes and messages are compared.)
 */
async function connectFailure(server: TlsServer, options: tls.ConnectionOptions = {}): Promise<NodeJS.ErrnoException> {
  let socket: tls.TLSSocket;
  try {
    socket = await connectTls(server, options);
  } catch (error) {
    return error as NodeJS.ErrnoException;
  }
  socket.destroy();
  throw new Error('the TLS connection succeeded');
}

let certs: TlsCertificates;
let fixed: string;

beforeAll(() => {
  certs = tlsCertificates();
  // Built once by scripts/lib/memcached-tls.sh (half a minute), then reused from its cache.
  fixed = tlsMemcachedBinary();
}, 600_000);
afterAll(() => removeTlsCertificates());

test('the TLS memcached is >= 1.6.39, and the stock one is another binary', () => {
  expect(hasTlsPipeliningFix(fixed)).toBe(true);
  expect(stockMemcachedBinary()).not.toBe(fixed);
});

describe('server certificates', () => {
  let good: TlsServer;
  let wrongHost: TlsServer;
  let expired: TlsServer;
  beforeAll(async () => {
    [good, wrongHost, expired] = await Promise.all([
      startTlsMemcached(),
      startTlsMemcached({ cert: 'wrongHost' }),
      startTlsMemcached({ cert: 'expired' }),
    ]);
  });
  afterAll(() => Promise.all([good?.stop(), wrongHost?.stop(), expired?.stop()]));

  test('a TLS `version` works when the client trusts the CA, by IP and by the name localhost', async () => {
    const byIp = await version(good);
    expect(byIp.reply).toBe(`VERSION ${memcachedVersion(fixed).join('.')}\r\n`);
    expect(byIp.protocol).toBe('TLSv1.3');
    const byName = await version(good, { servername: 'localhost' });
    expect(isVersion(byName.reply)).toBe(true);
  });

  test("a certificate for another host fails Node's hostname check", async () => {
    const byIp = (await connectFailure(wrongHost)) as NodeJS.ErrnoException & { cert?: tls.PeerCertificate };
    expect(byIp.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(byIp.message).toContain('IP: 127.0.0.1 is not in');
    expect(byIp.cert?.subjectaltname).toBe('DNS:wrong.example');
    const byName = await connectFailure(wrongHost, { servername: 'localhost' });
    expect(byName.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(byName.message).toContain('Host: localhost. is not in the cert\'s altnames: DNS:wrong.example');
    // The chain itself is good: only the name is wrong.
    const unchecked = await version(wrongHost, { checkServerIdentity: () => undefined });
    expect(isVersion(unchecked.reply)).toBe(true);
  });

  test('an expired certificate fails with CERT_HAS_EXPIRED', async () => {
    expect((await connectFailure(expired)).code).toBe('CERT_HAS_EXPIRED');
  });

  test('a certificate from a CA the client does not trust fails', async () => {
    // Trusting only the unrelated CA; then only the system's CAs (Node's default).
    expect((await connectFailure(good, { ca: certs.otherCa.cert })).code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    expect((await connectFailure(good, { ca: undefined })).code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });
});

describe('a server that requires a client certificate', () => {
  let server: TlsServer;
  beforeAll(async () => {
    server = await startTlsMemcached({ requireClientCert: true });
  });
  afterAll(() => server?.stop());

  // In TLS 1.3 the client's handshake ends before the server has checked the client's
  // certificate: the refusal arrives as an alert on the first read, not as a failed connect.
  test('refuses a client without one', async () => {
    const result = await version(server);
    expect(result.reply).toBe('');
    expect((result.error as NodeJS.ErrnoException | undefined)?.code).toBe('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
  });

  test('refuses a client certificate from another CA', async () => {
    const result = await version(server, { cert: certs.otherClient.cert, key: certs.otherClient.key });
    expect(result.reply).toBe('');
    expect((result.error as NodeJS.ErrnoException | undefined)?.code).toBe('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA');
  });

  test('accepts one signed by the CA', async () => {
    const result = await version(server, { cert: certs.client.cert, key: certs.client.key });
    expect(result.error).toBeUndefined();
    expect(isVersion(result.reply)).toBe(true);
  });
});

describe('a TLS 1.3-only server', () => {
  let only13: TlsServer;
  let usual: TlsServer;
  beforeAll(async () => {
    [only13, usual] = await Promise.all([startTlsMemcached({ tls13Only: true }), startTlsMemcached()]);
  });
  afterAll(() => Promise.all([only13?.stop(), usual?.stop()]));

  test('refuses a client that speaks at most TLS 1.2', async () => {
    expect((await connectFailure(only13, { maxVersion: 'TLSv1.2' })).code).toBe('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
  });

  test('accepts TLS 1.3; the usual server (minimum 1.2) accepts that TLS 1.2 client', async () => {
    const current = await version(only13);
    expect(current.protocol).toBe('TLSv1.3');
    expect(isVersion(current.reply)).toBe(true);
    const old = await version(usual, { maxVersion: 'TLSv1.2' });
    expect(old.protocol).toBe('TLSv1.2');
    expect(isVersion(old.reply)).toBe(true);
  });
});

/**
 * memcached before 1.6.39 can stop reading a TLS connection in the middle of pipelined sets. When
 * a set's value goes past what memcached has buffered, it reads the rest of the value straight
 * from OpenSSL, which decrypts a whole TLS record (up to 16 KB) and hands over only the bytes
 * asked for; the commands after it stay decrypted inside OpenSSL. memcached then waits for the
 * socket to become readable; if that record was the last, it never does.
 *
 * 10 sets of 4000 bytes (40,230 bytes, written at once) make three records, 16384 + 16384 + 7462
 * bytes; the third begins inside the 9th set's value, so 1.6.18 answers 9 and hangs, whatever the
 * timing. 50 sets of 1000 bytes (51,190 bytes) do not trigger it: no record begins inside a value
 * read that way (measured: 50 of 50, every time).
 */
describe('pipelined sets over TLS, written at once, answered within 3 s', () => {
  const sets = (count: number, size: number) => {
    const value = 'v'.repeat(size);
    return Array.from({ length: count }, (_, i) => `set pipe:${i} 0 0 ${size}\r\n${value}\r\n`).join('');
  };
  const countStored = (reply: string) => reply.split('STORED\r\n').length - 1;

  async function storedWithin(server: TlsServer, count: number, size: number, ms = 3000): Promise<number> {
    const socket = await connectTls(server);
    const result = await tlsExchange(socket, sets(count, size), (reply) => countStored(reply) >= count, ms);
    if (result.error) throw result.error;
    return countStored(result.reply);
  }

  describe('the TLS memcached (>= 1.6.39, -R TLS_REQS_PER_EVENT)', () => {
    let server: TlsServer;
    beforeAll(async () => {
      server = await startTlsMemcached();
    });
    afterAll(() => server?.stop());

    // 10x4000: the stock server's hang (below). 50x1000: the shape first suspected. The others
    // hang 1.6.45 too when it yields after memcached's default 20 requests (TLS_REQS_PER_EVENT).
    test.each([
      [10, 4000],
      [50, 1000],
      [20, 4000],
      [50, 4000],
      [80, 10000],
      [200, 1000],
    ])('%p sets of %p bytes: all stored', async (count, size) => {
      expect(await storedWithin(server, count, size)).toBe(count);
    });
  });

  // On a system whose memcached already has the fix (none that CI runs on yet), the same
  // exchange shows that instead of being skipped.
  const stock = stockMemcachedBinary();
  const fixed = hasTlsPipeliningFix(stock);
  test(`the stock memcached (${stock}, ${fixed ? '1.6.39 or newer) stores all 10' : 'before 1.6.39) hangs: 9 of'} 10 sets of 4000 bytes`, async () => {
    const server = await startTlsMemcached({ executable: stock });
    try {
      // The 9 sets before the last record are answered; the 10th, in that record, never is.
      expect(await storedWithin(server, 10, 4000)).toBe(fixed ? 10 : 9);
    } finally {
      await server.stop();
    }
  });
});
