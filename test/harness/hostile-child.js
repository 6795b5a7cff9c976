// Runs one hostile-server case in a process of its own (spawned by test/integration/hostile.test.ts), so
// that a crash is a signal the test sees rather than the end of jest: one client on [fake, real
// memcached], the case's operations, then a check that the real server still reads back
// exactly; prints one JSON line.
'use strict';

const path = require('node:path');

const root = path.join(__dirname, '..', '..');
// The built package, as users load it (dist/ and the addon), not the TypeScript sources.
const { Client, MemcachedError } = require(root);

const plan = JSON.parse(process.argv[2]);
const OP_LIMIT_MS = plan.opLimitMs;
const started = Date.now();

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// `promise`, or `fallback` after `ms`; the timer is cleared so that it never keeps the process
// alive by itself (whether the process exits on its own is part of what is tested).
function within(promise, ms, fallback) {
  let timer;
  const expired = new Promise((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

// Values cross to the parent as JSON: undefined, bigints, Buffers and objects are tagged.
function encode(value) {
  if (value === undefined) return { $: 'undefined' };
  if (typeof value === 'bigint') return { $: 'bigint', v: value.toString() };
  if (Buffer.isBuffer(value)) return { $: 'buffer', v: value.toString('latin1') };
  if (Array.isArray(value)) return value.map(encode);
  if (value !== null && typeof value === 'object') {
    const out = {};
    for (const k of Object.keys(value)) out[k] = encode(value[k]);
    return { $: 'object', v: out };
  }
  return value;
}

function describeError(error) {
  if (error === null || typeof error !== 'object') return { name: typeof error, message: String(error), isMemcachedError: false };
  return {
    name: error.name,
    ctor: error.constructor && error.constructor.name,
    message: String(error.message),
    isMemcachedError: error instanceof MemcachedError,
    code: error.code,
    rc: error.rc,
    partial: error.partial === undefined ? undefined : encode(error.partial),
  };
}

// Symbolic keys name what a key is for: f… and g… map to the fake (index 0), g… holding a
// counter there; r… and n… map to the real memcached (index 1), n… holding a counter.
function wantedIndex(sym) {
  return sym[0] === 'f' || sym[0] === 'g' ? 0 : 1;
}

function collectSyms(ops, into) {
  for (const op of ops) {
    if (op.op === 'parallel') collectSyms(op.ops, into);
    for (const k of op.keys || []) into.add(k);
  }
  return into;
}

async function pickKeys(mc, prefix, syms) {
  const keys = {};
  for (const sym of syms) {
    for (let n = 0; ; n++) {
      const key = `${prefix}.${sym}.${n}`;
      if ((await mc.hash(key)) === wantedIndex(sym)) {
        keys[sym] = key;
        break;
      }
    }
  }
  return keys;
}

function start(mc, op, k) {
  const key = op.keys && k[op.keys[0]];
  const keys = (op.keys || []).map((s) => k[s]);
  const value = (key) => (op.value !== undefined ? op.value : `value-of:${key}`);
  switch (op.op) {
    case 'get':
      return mc.get(key);
    case 'gets':
      return mc.gets(key);
    case 'getMulti':
      return mc.getMulti(keys);
    case 'set':
    case 'add':
    case 'replace':
    case 'append':
    case 'prepend':
      return mc[op.op](key, value(key));
    case 'cas':
      return mc.cas(key, value(key), BigInt(op.cas));
    case 'delete':
      return mc.delete(key);
    case 'incr':
    case 'decr':
      return mc[op.op](key, op.delta === undefined ? 1 : op.delta);
    case 'touch':
      return mc.touch(key, op.time === undefined ? 100 : op.time);
    case 'setMulti': {
      const mapping = {};
      for (const key of keys) mapping[key] = value(key);
      return mc.setMulti(mapping);
    }
    case 'deleteMulti':
      return mc.deleteMulti(keys);
    case 'incrMulti':
      return mc.incrMulti(keys, op.delta === undefined ? {} : { delta: op.delta });
    case 'getStats':
      return op.group === undefined ? mc.getStats() : mc.getStats(op.group);
    default:
      return Promise.reject(new Error(`hostile-child: unknown op ${op.op}`));
  }
}

// Starts one operation and returns its record, filled in when it settles (even after the
// limit: a late settlement is reported too).
function track(mc, op, k, label) {
  const record = { label, op: op.op, keys: (op.keys || []).map((s) => k[s]), status: 'pending', ms: undefined };
  const t0 = Date.now();
  let promise;
  try {
    promise = Promise.resolve(start(mc, op, k));
  } catch (error) {
    // A synchronous throw is itself a finding: every method must return a rejected Promise.
    record.status = 'threw';
    record.error = describeError(error);
    record.ms = Date.now() - t0;
    return { record, settled: Promise.resolve() };
  }
  const settled = promise.then(
    (value) => {
      record.end = Date.now();
      record.ms = record.end - t0;
      record.status = 'resolved';
      record.value = encode(value);
    },
    (error) => {
      record.end = Date.now();
      record.ms = record.end - t0;
      record.status = 'rejected';
      record.error = describeError(error);
    },
  );
  return { record, settled };
}

async function runOps(mc, ops, k, records, prefix) {
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    const label = `${prefix}${i}`;
    if (op.op === 'sleep') {
      await sleep(op.ms);
      continue;
    }
    let batch;
    if (op.op === 'parallel') {
      // Issued in one turn of the event loop: the client coalesces these gets into one multi-get.
      batch = op.ops.map((sub, j) => track(mc, sub, k, `${label}.${j}`));
    } else {
      batch = [track(mc, op, k, label)];
    }
    for (const { record } of batch) records.push(record);
    await within(Promise.all(batch.map((b) => b.settled)), OP_LIMIT_MS);
    // A server that timed out is backed off for retry_timeout (1 s, counted in whole seconds
    // by libmemcached: retried once the clock is 2 s past the failure's second), and the next
    // operation would get ServerDown without a byte on the wire. Waiting it out makes every
    // operation meet the hostile reply itself.
    let failedAt = 0;
    for (const { record } of batch) {
      const name = record.error && record.error.name;
      if (record.status === 'pending') failedAt = Date.now();
      else if (name === 'TimeoutError' || name === 'ServerDown') failedAt = Math.max(failedAt, record.end);
    }
    if (failedAt > 0 && i < ops.length - 1) {
      const wait = (Math.floor(failedAt / 1000) + 2) * 1000 + 30 - Date.now();
      if (wait > 0) await sleep(wait);
    }
  }
}

async function realCheck(mc, prefix) {
  const keys = [];
  for (let n = 0; keys.length < 20; n++) {
    const key = `${prefix}.check.${n}`;
    if ((await mc.hash(key)) === 1) keys.push(key);
  }
  const problems = [];
  const t0 = Date.now();
  const bounded = (promise, what) =>
    within(
      promise.then(
        (v) => ({ ok: true, v }),
        (e) => ({ ok: false, e: describeError(e) }),
      ),
      OP_LIMIT_MS,
      { ok: false, e: { name: 'timeout', message: `${what} did not settle within ${OP_LIMIT_MS} ms` } },
    );
  const sets = await Promise.all(keys.map((key) => bounded(mc.set(key, `value-of:${key}`), `set(${key})`)));
  sets.forEach((r, i) => {
    if (!r.ok) problems.push(`set(${keys[i]}) failed: ${r.e.name}: ${r.e.message}`);
    else if (r.v !== true) problems.push(`set(${keys[i]}) resolved ${String(r.v)}`);
  });
  const gets = await Promise.all(keys.map((key) => bounded(mc.get(key), `get(${key})`)));
  gets.forEach((r, i) => {
    if (!r.ok) problems.push(`get(${keys[i]}) failed: ${r.e.name}: ${r.e.message}`);
    else if (r.v !== `value-of:${keys[i]}`) problems.push(`get(${keys[i]}) read ${JSON.stringify(encode(r.v))}`);
  });
  const multi = await bounded(mc.getMulti(keys), 'getMulti(check keys)');
  if (!multi.ok) problems.push(`getMulti(check keys) failed: ${multi.e.name}: ${multi.e.message}`);
  else {
    for (const key of keys) {
      if (multi.v[key] !== `value-of:${key}`) problems.push(`getMulti(check keys)[${key}] read ${JSON.stringify(encode(multi.v[key]))}`);
    }
  }
  return { ok: problems.length === 0, problems, ms: Date.now() - t0 };
}

async function main() {
  const mc = new Client(plan.servers, {
    binary: plan.binary,
    behaviors: { _poll_timeout: plan.pollMs, connect_timeout: plan.pollMs, retry_timeout: 1 },
  });
  const syms = collectSyms(plan.ops, new Set());
  const k = await pickKeys(mc, plan.prefix, syms);
  const setup = [];
  // The real server's keys hold what reads of them must find. A client of its own writes them,
  // with the default (longer) timeouts: seeding is preparation, not part of what is tested, and
  // a loaded machine must not turn it into a failure.
  const seeder = new Client([plan.servers[1]]);
  for (const sym of syms) {
    if (wantedIndex(sym) !== 1) continue;
    let last;
    for (let attempt = 0; attempt < 3 && last !== true; attempt++) {
      try {
        last = await seeder.set(k[sym], sym[0] === 'n' ? 10 : `value-of:${k[sym]}`);
      } catch (error) {
        last = error && error.message;
      }
    }
    if (last !== true) setup.push(`seeding ${k[sym]} failed: ${last}`);
  }
  await seeder.close();
  const records = [];
  await runOps(mc, plan.ops, k, records, '');
  const real = await realCheck(mc, plan.prefix);
  const t0 = Date.now();
  const closed = await within(mc.close().then(() => true, () => true), 3000, false);
  const result = { keys: k, setup, records, real, close: { ok: closed, ms: Date.now() - t0 }, totalMs: Date.now() - started };
  process.stdout.write(`HOSTILE-RESULT ${JSON.stringify(result)}\n`);
  // Operations still pending keep the process alive (the parent reports a child that does not
  // exit); everything else should let it exit on its own.
}

main().catch((error) => {
  process.stdout.write(`HOSTILE-RESULT ${JSON.stringify({ fatal: String(error && error.stack) })}\n`);
  process.exitCode = 3;
});
