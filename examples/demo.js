// A short tour of the client. Uses $MEMCACHED_SERVERS when set (e.g. "127.0.0.1:11211"),
// otherwise starts a private memcached on a free loopback port and stops it afterwards.
'use strict';
const lib = require('..');
const { startMemcached } = require('../scripts/lib/memcached-server');

async function main() {
  const own = process.env.MEMCACHED_SERVERS ? undefined : await startMemcached({ args: ['-m', '16'] });
  const servers = process.env.MEMCACHED_SERVERS || own.spec;
  console.log(`libmemcached ${lib.libmemcachedVersion} (${lib.linkage}), SASL ${lib.supportSasl}, servers: ${servers}`);

  const client = new lib.Client(servers);
  try {
    console.log('set greeting        ->', await client.set('demo:greeting', 'hello from Node'));
    console.log('get greeting        ->', await client.get('demo:greeting'));
    console.log('get missing, "n/a"  ->', await client.get('demo:missing', 'n/a'));
    console.log('add greeting again  ->', await client.add('demo:greeting', 'ignored'));
    const t0 = process.hrtime.bigint();
    const values = await Promise.all(Array.from({ length: 10000 }, () => client.get('demo:greeting')));
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    console.log(`10000 concurrent gets, batched into multi-gets: ${ms.toFixed(1)} ms, all equal: ${values.every((v) => v === 'hello from Node')}`);
    try {
      await client.get('a key with spaces');
    } catch (error) {
      console.log(`bad key rejected     -> ${error.name}: ${error.message}`);
    }
    console.log('delete greeting     ->', await client.delete('demo:greeting'));
  } finally {
    await client.close();
    if (own) await own.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
