// @ts-check
// The code test/lifecycle/lifecycle.test.ts runs in a process or a worker thread of its own, one
// scenario per run, loading the built package (dist/) as a user would. In a process of its own a
// crash shows up as a signal rather than taking jest down, and exit is observable.
//
//   node [--expose-gc] test/lifecycle/child.js <scenario> <arg>...     (a process)
//   new Worker('test/lifecycle/child.js', { workerData: { scenario, args } })   (a worker thread)
//
// Arguments are server specs (and a pid or a flag where a scenario says so); what a scenario
// reports, it prints (process) or posts to its parent (worker).
'use strict';
const path = require('node:path');
const { isMainThread, parentPort, workerData } = require('node:worker_threads');
const { Client } = require(path.join(__dirname, '..', '..'));

/** @param {unknown} message */
const post = (message) => /** @type {import('node:worker_threads').MessagePort} */ (parentPort).postMessage(message);

/** The addon itself, for the value pool's counters (src/core/value_pool.h). */
const native = () => require(path.join(__dirname, '..', '..', 'dist', 'native', 'load')).native;

/** Lets values dropped before it be collected and their blocks go back (needs --expose-gc). */
async function settle() {
  for (let i = 0; i < 5; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** @type {Record<string, (...args: string[]) => void>} */
const scenarios = {
  /**
   * One set and get on `spec` (over TLS when `caPath` names the CA's file), then nothing: the
   * idle client must not keep the process alive.
   */
  idle(spec, caPath) {
    const mc = new Client([spec], caPath ? { tls: { ca: require('node:fs').readFileSync(caPath) } } : {});
    mc.set('idle', 'v')
      .then(() => mc.get('idle'))
      .then((v) => console.log('got', v));
  },

  /** A get on a server that never answers is all that is pending: the process must wait for it. */
  'in-flight'(hungSpec) {
    const mc = new Client([hungSpec]);
    mc.get('k').then(
      () => console.log('resolved'),
      (e) => console.log('rejected', e.name, e.code),
    );
  },

  /** process.exit(7) 50 ms into 100 gets on a hung server and 100 sets on a live one. */
  'exit-in-flight'(hungSpec, spec) {
    const mc = new Client([hungSpec]);
    const live = new Client([spec]);
    for (let i = 0; i < 100; i++) {
      mc.get('k' + i).catch(() => {});
      live.set('k' + i, 'v').catch(() => {});
    }
    setTimeout(() => process.exit(7), 50);
  },

  /** Twenty clients used once and dropped without close(): prints how many were collected. */
  gc(spec) {
    const gc = /** @type {() => void} */ (global.gc); // run with --expose-gc
    let collected = 0;
    const registry = new FinalizationRegistry(() => collected++);
    // Each client lives in a function of its own, so no frame of the loop below can hold it.
    /** @param {number} i */
    async function use(i) {
      const mc = new Client([spec]);
      await mc.set('gc' + i, 'v');
      registry.register(mc, i);
    }
    (async () => {
      for (let i = 0; i < 20; i++) await use(i);
      for (let i = 0; i < 20 && collected < 20; i++) {
        gc();
        await new Promise((r) => setTimeout(r, 20));
      }
      console.log('collected', collected);
    })();
  },

  /** Stores on `spec`, then SIGSTOPs that server (`pid`): the process must still exit at once. */
  frozen(spec, pid) {
    const mc = new Client([spec], { behaviors: { _poll_timeout: 5000, connect_timeout: 5000 } });
    mc.set('k', 'v')
      .then(() => mc.setMulti({ a: '1', b: '2' }))
      .then((failed) => {
        process.kill(Number(pid), 'SIGSTOP');
        console.log('stored', failed.length);
      });
  },

  /** Worker: a set and a get, closing the client first when `close` is 'true'; posts the value. */
  'worker-set-get'(spec, close) {
    (async () => {
      const mc = new Client([spec]);
      await mc.set('worker', 'from a worker');
      const value = await mc.get('worker');
      if (close === 'true') await mc.close();
      post(value);
    })();
  },

  /** Worker: posts 'ready', then keeps 64 gets in flight for ever (until terminated). */
  'worker-load'(spec) {
    const mc = new Client([spec]);
    post('ready');
    (async () => {
      for (;;) await Promise.all(Array.from({ length: 64 }, (_, k) => mc.get('k' + k)));
    })();
  },

  /** process.exit(7) 20 ms into 200 sets and 200 gets over TLS, on new and open sessions. */
  'tls-exit-in-flight'(spec, caPath) {
    const ca = require('node:fs').readFileSync(caPath);
    const mc = new Client([spec], { tls: { ca }, connections: 2 });
    mc.set('warm', 'v').then(() => {
      for (let i = 0; i < 200; i++) {
        mc.set('t' + i, 'v'.repeat(5000)).catch(() => {});
        mc.get('t' + i).catch(() => {});
      }
      const fresh = new Client([spec], { tls: { ca } });
      for (let i = 0; i < 20; i++) fresh.get('t' + i).catch(() => {});
      setTimeout(() => process.exit(7), 20);
    });
  },

  /** Worker: a TLS client under a steady load, posts 'busy' once its sessions carry replies. */
  'worker-tls-load'(spec, caPath) {
    const mc = new Client([spec], { tls: { ca: require('node:fs').readFileSync(caPath) } });
    let posted = false;
    const loop = (i) => {
      mc.set('w' + (i % 50), 'v'.repeat(3000))
        .then(() => mc.get('w' + (i % 50)))
        .then(() => {
          if (!posted) post('busy');
          posted = true;
          loop(i + 1);
        }, () => {});
    };
    for (let i = 0; i < 16; i++) loop(i);
  },

  /** Worker: 50 gets on a hung server and 50 sets on a live one in flight, then posts 'busy'. */
  'worker-busy'(hungSpec, spec) {
    const hung = new Client([hungSpec]);
    const live = new Client([spec]);
    for (let i = 0; i < 50; i++) {
      hung.get('k' + i).catch(() => {});
      live.set('w' + i, 'v').catch(() => {});
    }
    post('busy');
  },

  /**
   * Large values read without a copy (src/core/value_pool.h): prints what V8 counts as external
   * memory while forty 256 KiB values (half text, half Buffers) are held and after they are
   * collected, how large a pooled block each held (the bytes they gave back to the pool, per
   * value), whether their blocks were handed out again to the next reads, and whether every
   * value read back was whole. Needs --expose-gc.
   */
  'large-values'(spec) {
    const text = 't'.repeat(256 * 1024);
    const bytes = Buffer.alloc(256 * 1024, 7);
    (async () => {
      const mc = new Client([spec]);
      await mc.set('large:text', text);
      await mc.set('large:bytes', bytes);
      await settle();
      const before = process.memoryUsage().external;
      const freeBefore = native().valuePoolStats().freeBytes;
      let held = [];
      let whole = true;
      for (let i = 0; i < 20; i++) held.push(await mc.get('large:text'), await mc.get('large:bytes'));
      for (let i = 0; i < held.length; i += 2) whole &&= held[i] === text && Buffer.isBuffer(held[i + 1]) && held[i + 1].equals(bytes);
      const holding = process.memoryUsage().external;
      const count = held.length;
      held = [];
      await settle();
      const after = process.memoryUsage().external;
      const block = (native().valuePoolStats().freeBytes - freeBefore) / count;
      const recycledBefore = native().valuePoolStats().recycled;
      for (let i = 0; i < 10; i++) whole &&= (await mc.get('large:text')) === text;
      const recycled = native().valuePoolStats().recycled - recycledBefore;
      await mc.close();
      const mib = (n) => (n / 1048576).toFixed(1);
      console.log(`held ${mib(holding - before)} MiB, after gc ${mib(after - before)} MiB, block ${(block / 1024).toFixed(1)} KiB, recycled ${recycled}, whole ${whole}`);
    })();
  },

  /**
   * The pool keeps the blocks given back last (src/core/value_pool.h): fills it with the blocks
   * of 150 values of 900 KiB (more than the pool keeps), then reads twenty 256 KiB values twice,
   * collected in between, and prints how many of the second twenty found a block in the pool.
   * Needs --expose-gc.
   */
  'pool-eviction'(spec) {
    (async () => {
      const mc = new Client([spec]);
      await mc.set('pool:large', 'l'.repeat(900 * 1024));
      await mc.set('pool:small', 's'.repeat(256 * 1024));
      let held = [];
      for (let i = 0; i < 150; i++) held.push(await mc.get('pool:large'));
      held = [];
      await settle();
      const full = native().valuePoolStats().freeBytes;
      for (let i = 0; i < 20; i++) held.push(await mc.get('pool:small'));
      held = [];
      await settle();
      const recycledBefore = native().valuePoolStats().recycled;
      for (let i = 0; i < 20; i++) held.push(await mc.get('pool:small'));
      const recycled = native().valuePoolStats().recycled - recycledBefore;
      const whole = held.every((v) => v === 's'.repeat(256 * 1024));
      await mc.close();
      console.log(`full ${(full / 1048576).toFixed(1)} MiB, recycled ${recycled} of 20, whole ${whole}`);
    })();
  },

  /**
   * libmemcached's buffer, grown for a large value, goes back to the value pool at the next
   * smaller value (src/core/value_pool.cc, PooledBytes::Adopt), and libmemcached reads on into
   * a block of that value's size: prints how many bytes came back to the pool with a 256 KiB
   * read after a 900 KiB one. Needs --expose-gc.
   */
  'large-buffer-returns'(spec) {
    (async () => {
      const mc = new Client([spec]);
      const small = 's'.repeat(256 * 1024);
      await mc.set('buffer:large', 'l'.repeat(900 * 1024));
      await mc.set('buffer:small', small);
      let large = await mc.get('buffer:large');
      let whole = large.length === 900 * 1024;
      large = undefined;
      await settle();
      const before = native().valuePoolStats().freeBytes;
      const kept = [await mc.get('buffer:small'), await mc.get('buffer:small')];
      const returned = native().valuePoolStats().freeBytes - before;
      whole &&= kept.every((v) => v === small);
      await mc.close();
      console.log(`returned ${(returned / 1024).toFixed(0)} KiB, whole ${whole}`);
    })();
  },

  /**
   * One huge value does not empty the value pool (src/core/value_pool.h): fills the pool with
   * the blocks of 256 KiB values, reads one value of 20 MiB and lets it be collected, then
   * reads as many 256 KiB values as the pool held blocks, and prints how many found one. The
   * first two of those are asked for at once: the one reply is copied for the second from the
   * first's block, after libmemcached's 22 MiB buffer, too large for the full pool, was freed.
   * Needs --expose-gc and a server whose items may be 20 MiB.
   */
  'pool-huge-value'(spec) {
    (async () => {
      const mc = new Client([spec]);
      const small = 's'.repeat(256 * 1024);
      await mc.set('pool:small', small);
      await mc.set('pool:huge', Buffer.alloc(20 * 1024 * 1024, 'h'));
      let held = [];
      for (let i = 0; i < 480; i++) held.push(await mc.get('pool:small'));
      held = [];
      await settle();
      const blocks = Math.floor(native().valuePoolStats().freeBytes / (288 * 1024));
      let huge = await mc.get('pool:huge');
      let whole = Buffer.isBuffer(huge) && huge.length === 20 * 1024 * 1024;
      huge = undefined;
      await settle();
      const recycledBefore = native().valuePoolStats().recycled;
      held.push(...(await Promise.all([mc.get('pool:small'), mc.get('pool:small')])));
      for (let i = 2; i < blocks; i++) held.push(await mc.get('pool:small'));
      const recycled = native().valuePoolStats().recycled - recycledBefore;
      whole &&= held.length === blocks && held.every((v) => v === small);
      await mc.close();
      console.log(`blocks ${blocks}, recycled ${recycled}, whole ${whole}`);
    })();
  },

  /**
   * Large Buffer values are collected as the Buffers V8 allocates itself are (in minor
   * collections, where V8's rules allow; src/binding/client.cc, OfferMinorCollection): prints the
   * full collections during 1,000 reads of a 256 KiB Buffer value, each dropped at once, and
   * during 1,000 Buffers of that size allocated and written in JavaScript, one per turn of the
   * event loop, as a client written in JavaScript would make them.
   */
  'large-buffers-collected'(spec) {
    const { PerformanceObserver, constants } = require('node:perf_hooks');
    let full = 0;
    const observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        if (/** @type {{ kind: number }} */ (entry.detail).kind === constants.NODE_PERFORMANCE_GC_MAJOR) full++;
      }
    });
    const counted = async (loop) => {
      await new Promise((r) => setTimeout(r, 100));
      full = 0;
      await loop();
      await new Promise((r) => setTimeout(r, 100));
      return full;
    };
    (async () => {
      const mc = new Client([spec]);
      const value = Buffer.alloc(256 * 1024, 5);
      await mc.set('collected:bytes', value);
      let whole = true;
      for (let i = 0; i < 50; i++) whole &&= value.equals(/** @type {Buffer} */ (await mc.get('collected:bytes')));
      observer.observe({ entryTypes: ['gc'] });
      const ours = await counted(async () => {
        for (let i = 0; i < 1000; i++) whole &&= /** @type {Buffer} */ (await mc.get('collected:bytes')).length === value.length;
      });
      const v8s = await counted(async () => {
        for (let i = 0; i < 1000; i++) {
          Buffer.allocUnsafe(value.length).fill(i);
          await new Promise((r) => setImmediate(r));
        }
      });
      observer.disconnect();
      await mc.close();
      console.log(`full collections: values ${ours}, JavaScript Buffers ${v8s}, whole ${whole}`);
    })();
  },

  /** Worker: reads large values, text and Buffer, keeps them, and posts them back (copied). */
  'worker-large'(spec) {
    (async () => {
      const mc = new Client([spec]);
      await mc.set('worker:large:text', 'w'.repeat(300 * 1024));
      await mc.set('worker:large:bytes', Buffer.alloc(300 * 1024, 9));
      const kept = [await mc.get('worker:large:text'), await mc.get('worker:large:bytes')];
      post({ text: kept[0], bytes: Buffer.from(/** @type {Buffer} */ (kept[1])) });
      // Left open, values still held, kept alive by a timer: the worker is terminated with both
      // values alive.
      setInterval(() => kept.length, 1000);
    })();
  },

  /** Worker: a get blocked on a hung server (5 s timeouts); posts 'blocked' 200 ms later. */
  'worker-blocked'(hungSpec) {
    const hung = new Client([hungSpec], { behaviors: { _poll_timeout: 5000, connect_timeout: 5000 } });
    hung.get('k').catch(() => {});
    setTimeout(() => post('blocked'), 200);
  },
};

/** @type {{ scenario: string, args: string[] }} */
const { scenario, args } = isMainThread ? { scenario: process.argv[2], args: process.argv.slice(3) } : workerData;
const run = scenarios[scenario];
if (!run) throw new Error(`unknown scenario ${JSON.stringify(scenario)}; known: ${Object.keys(scenarios).join(', ')}`);
run(...args);
