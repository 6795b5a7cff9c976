// A short tour of the client. Uses $MEMCACHED_SERVERS when set (e.g. "127.0.0.1:11211"),
// otherwise starts a private memcached on a free loopback port and stops it afterwards.
'use strict';
const { spawn } = require('node:child_process');
const net = require('node:net');
const lib = require('..');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startMemcached() {
  const port = await freePort();
  const user = process.getuid && process.getuid() === 0 ? ['-u', 'nobody'] : [];
  const child = spawn('memcached', [...user, '-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', '16'], {
    stdio: 'ignore',
  });
  for (let i = 0; i < 200; i++) {
    const up = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
      socket.once('error', () => resolve(false));
    });
    if (up) return { spec: `127.0.0.1:${port}`, stop: () => child.kill() };
    await new Promise((r) => setTimeout(r, 25));
  }
  child.kill();
  throw new Error('memcached did not start');
}

async function main() {
  const own = process.env.MEMCACHED_SERVERS ? undefined : await startMemcached();
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
    if (own) own.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
