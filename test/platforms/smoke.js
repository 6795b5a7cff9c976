// Runs inside a platform root (scripts/test-platforms.sh): loads the installed package the way a
// user's service does and works against the memcached named by argv[2]; prints one JSON line.
'use strict';
const path = require('node:path');
const { Client, NotSupportedError, supportSasl, linkage } = require('libmemcached');

// The addon file node-gyp-build picks for this machine, as the package's loader does.
const addon = require('node-gyp-build').resolve(path.dirname(require.resolve('libmemcached/package.json')));

(async () => {
  const server = process.argv[2];
  const mc = new Client([server]);
  const glibc = process.report.getReport().header.glibcVersionRuntime;
  const out = { node: process.version, arch: process.arch, glibc, addon, linkage, supportSasl };
  out.set = await mc.set('platform:k', 'v');
  out.get = await mc.get('platform:k');
  out.getMulti = { ...(await mc.getMulti(['platform:k', 'platform:missing'])) };
  await mc.close();
  // TLS through the OpenSSL inside Node (the roots have no libssl3): argv[3] is a TLS memcached,
  // ca.pem beside this file its CA.
  if (process.argv[3]) {
    const ca = require('node:fs').readFileSync(require('node:path').join(__dirname, 'ca.pem'));
    let secure;
    try {
      secure = new Client([process.argv[3]], { tls: { ca } });
    } catch (error) {
      // A build without TLS (LIBMEMCACHED_LINKAGE=system) must refuse it, never talk clear text.
      out.tls = { notSupported: error instanceof NotSupportedError, message: error.message };
    }
    if (secure) {
      out.tls = { set: await secure.set('platform:tls', 'sealed'), get: await secure.get('platform:tls') };
      await secure.close();
    }
  }
  out.supportTls = require('libmemcached').supportTls;
  try {
    const sasl = new Client([server], { username: 'u', password: 'p' });
    await sasl.close();
    out.sasl = 'constructed';
  } catch (error) {
    out.sasl = { notSupported: error instanceof NotSupportedError, message: error.message };
  }
  console.log(JSON.stringify(out));
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
