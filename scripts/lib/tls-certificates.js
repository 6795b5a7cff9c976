// Throwaway TLS certificates for the tests, the benchmark and the platform tests: a CA, server
// certificates (right host, wrong host, expired), a second CA nothing trusts and client
// certificates, made with the openssl command in a new private temporary folder and never
// committed. Plain JavaScript, like memcached-server.js, so that the benchmark and shell scripts
// use it without a build step; tls-certificates.d.ts types it for the tests.
//
//   node scripts/lib/tls-certificates.js     makes a set and prints it as JSON (for scripts)
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

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

function openssl(cwd, args) {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const e = error;
    if (e.code === 'ENOENT') throw new Error('the openssl command is not installed (apt-get install -y openssl)');
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr?.toString() || e.message}`);
  }
}

/** `openssl ca`'s date format, YYYYMMDDHHMMSSZ. */
const caDate = (ms) => `${new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;

function pair(certPath, keyPath) {
  return { certPath, keyPath, cert: fs.readFileSync(certPath, 'utf8'), key: fs.readFileSync(keyPath, 'utf8') };
}

/** A self-signed CA in its own folder below `dir`, ready to sign. */
function makeCa(dir, name, commonName) {
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
function issue(dir, caDir, name, commonName, extensions, notBefore, notAfter) {
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
function createTlsCertificates() {
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

module.exports = { createTlsCertificates };

if (require.main === module) {
  const { remove, ...made } = createTlsCertificates();
  process.stdout.write(`${JSON.stringify(made)}\n`);
}
