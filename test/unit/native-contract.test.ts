/**
 * The two sides of the native boundary agree. The batch format is defined once, in
 * src/protocol.h, and mirrored in lib/native/protocol.ts: every name and number of the mirror is
 * checked against what the addon exports from that header, and so is the order of the extras.
 * libmemcached's own numbers are not described twice: the addon exports them (src/binding/constants.cc),
 * checked here against the headers it was compiled with.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RETURN_CODE_NAMES, isSoft } from '../../lib/constants';
import { native } from '../../lib/native/load';
import * as protocol from '../../lib/native/protocol';

const src = (file: string) => fs.readFileSync(path.join(__dirname, '..', '..', file), 'utf8');

/** The members of `export const enum <name>` in lib/native/protocol.ts (a const enum leaves no runtime object). */
function tsEnum(name: string): Record<string, number> {
  const body = new RegExp(`export const enum ${name} \\{([^}]*)\\}`).exec(src('lib/native/protocol.ts'))?.[1];
  if (body === undefined) throw new Error(`enum ${name} not found`);
  return Object.fromEntries([...body.matchAll(/(\w+) = (\d+)/g)].map((m) => [m[1], Number(m[2])]));
}

describe('the batch format: lib/native/protocol.ts mirrors src/protocol.h', () => {
  const exported = native.protocol;

  test('operation codes', () => {
    expect(Object.keys(exported.opCodes).length).toBe(17);
    expect(tsEnum('OpCode')).toEqual(exported.opCodes);
  });

  test('the words of a request, and its flags and markers', () => {
    expect(tsEnum('RequestWord')).toEqual(exported.request);
    expect(protocol.REQUEST_WORDS).toBe(exported.requestWords);
    // Every word of a request is named, and no two names share one.
    expect(Object.values(exported.request).sort((a, b) => a - b)).toEqual([...Array(exported.requestWords).keys()]);
    expect(protocol.CODE_MASK).toBe(exported.codeMask);
    expect(protocol.WANT_CAS).toBe(exported.wantCas);
    expect(protocol.MULTI).toBe(exported.multi);
    expect(protocol.IN_OBJECTS).toBe(exported.inObjects);
  });

  test('the words of a completion record and of an item record, and their markers', () => {
    expect(tsEnum('RecordWord')).toEqual(exported.record);
    expect(tsEnum('ItemWord')).toEqual(exported.item);
    expect(protocol.RECORD_WORDS).toBe(exported.recordWords);
    expect(Object.values(exported.record).sort((a, b) => a - b)).toEqual([...Array(exported.recordWords).keys()]);
    expect(Object.values(exported.item).sort((a, b) => a - b)).toEqual([...Array(exported.recordWords).keys()]);
    expect(protocol.NO_VALUE).toBe(exported.noValue);
    expect(protocol.VALUE_IN_EXTRAS).toBe(exported.valueInExtras);
    expect(protocol.MULTI_RECORD).toBe(exported.multiRecord);
  });

  test('the order of the extras, per item and per operation', () => {
    expect([...protocol.ITEM_EXTRAS]).toEqual(exported.itemExtras);
    expect([...protocol.OPERATION_EXTRAS]).toEqual(exported.operationExtras);
  });
});

test('the reply-check command kinds in src/core/libmemcached_private.h are those of deps/patches/0002', () => {
  // memcached_response_check() takes the kind of command as an int; the patch defines them in
  // libmemcached's response.h, which is not installed, so the addon restates the ones it uses.
  const patch = src('deps/patches/0002-strict-reply-parsing.patch');
  const kinds = Object.fromEntries([...patch.matchAll(/^\+\s+MEMCACHED_COMMAND_(\w+) = (\d+),/gm)].map((m) => [m[1], Number(m[2])]));
  const header = src('src/core/libmemcached_private.h');
  const used = Object.fromEntries([...header.matchAll(/kReplyTo(\w+) = (\d+)/g)].map((m) => [m[1].toUpperCase(), Number(m[2])]));
  expect(Object.keys(used).length).toBeGreaterThanOrEqual(3);
  for (const [name, value] of Object.entries(used)) expect([name, kinds[name]]).toEqual([name, value]);
});

test('the addon refuses a malformed batch instead of running it', () => {
  // A multi-key header with no keys, or a whole-client operation sent as multi-key: the I/O
  // threads index items[0] for those. Before, such a batch was accepted (and a multi-key flush
  // with no items read past its item vector). Run in a child process, in case it crashes.
  const script = `
    const { native } = require('./dist/native/load');
    const { opCodes: OpCode, requestWords: HEADER_WORDS, multi: MULTI } = native.protocol;
    const client = new native.Client({ servers: [{ transport: 'tcp', host: '127.0.0.1', port: 1, weight: 1 }], behaviors: [], connections: 1, maxValueSize: 1024 }, () => true);
    const outcomes = [];
    for (const [code, count] of [[OpCode.FlushAll, 0], [OpCode.FlushAll, 1], [OpCode.Get, 0]]) {
      const headers = new Uint32Array(2 * HEADER_WORDS);
      headers[${protocol.RequestWord.Code}] = code | MULTI;
      headers[${protocol.RequestWord.KeyLength}] = count;
      try {
        client.submit(headers, Buffer.alloc(0), (count + 1) * HEADER_WORDS, []);
        outcomes.push('accepted');
      } catch (error) {
        outcomes.push(error.message);
      }
    }
    client.dispose();
    console.log(JSON.stringify(outcomes));
  `;
  const run = spawnSync(process.execPath, ['-e', script], { cwd: path.join(__dirname, '..', '..'), encoding: 'utf8', timeout: 20_000 });
  expect(run.signal).toBeNull();
  expect(run.status).toBe(0);
  expect(JSON.parse(run.stdout)).toEqual([
    'submit: malformed multi-key operation',
    'submit: malformed multi-key operation',
    'submit: malformed multi-key operation',
  ]);
});

/** The enumerators of `enum <name> { ... }` in a C header, with their values (aliases of another left out). */
function cEnum(text: string, name: string): Record<string, number> {
  const body = new RegExp(`enum ${name}\\s*\\{([^}]*)\\}`).exec(text.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, ''))?.[1];
  if (body === undefined) throw new Error(`enum ${name} not found`);
  const out: Record<string, number> = {};
  let next = 0;
  for (const entry of body.split(',').map((e) => e.trim()).filter(Boolean)) {
    const [enumerator, given] = entry.split('=').map((part) => part.trim());
    if (given !== undefined && !/^\d+$/.test(given)) continue; // `A = B`: B's second name
    const value = given === undefined ? next : Number(given);
    out[enumerator] = value;
    next = value + 1;
  }
  return out;
}

describe('libmemcached constants come from the headers the addon was compiled with', () => {
  // The bundled build's headers (a system build's are the distribution's).
  const include = native.linkage === 'static' ? path.join(__dirname, '..', '..', 'deps', '.cache', 'install', 'include') : '/usr/include';
  const header = (file: string) => fs.readFileSync(path.join(include, 'libmemcached-1.0', 'types', file), 'utf8');
  /** Every enumerator but the count at the end. */
  const named = (all: Record<string, number>, last: string) => Object.fromEntries(Object.entries(all).filter(([name]) => name !== last));

  test.each([
    ['returnCodes', 'return.h', 'memcached_return_t', 'MEMCACHED_MAXIMUM_RETURN'],
    ['behaviors', 'behavior.h', 'memcached_behavior_t', 'MEMCACHED_BEHAVIOR_MAX'],
    ['hashes', 'hash.h', 'memcached_hash_t', 'MEMCACHED_HASH_MAX'],
    ['distributions', 'server_distribution.h', 'memcached_server_distribution_t', 'MEMCACHED_DISTRIBUTION_CONSISTENT_MAX'],
  ] as const)('%s: every enumerator of %s, by name', (table, file, name, last) => {
    const expected = named(cEnum(header(file), name), last);
    expect(Object.keys(expected).length).toBeGreaterThan(6);
    expect(native.constants[table]).toEqual(expected);
  });

  test('return code names by value, and which ones are answers rather than failures', () => {
    const codes = native.constants.returnCodes;
    expect(RETURN_CODE_NAMES.map((name, value) => codes[name] === value)).not.toContain(false);
    const soft = RETURN_CODE_NAMES.filter((_, rc) => isSoft(rc));
    expect(soft.sort()).toEqual(
      ['MEMCACHED_BUFFERED', 'MEMCACHED_DATA_EXISTS', 'MEMCACHED_DELETED', 'MEMCACHED_END', 'MEMCACHED_NOTFOUND', 'MEMCACHED_NOTSTORED', 'MEMCACHED_STORED', 'MEMCACHED_SUCCESS'],
    );
    expect(soft.map((n) => codes[n]).sort((a, b) => a - b)).toEqual([...native.constants.softReturnCodes].sort((a, b) => a - b));
  });
});
