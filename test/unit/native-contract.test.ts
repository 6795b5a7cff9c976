/**
 * The two sides of the native boundary describe the same numbers twice (C++ and TypeScript
 * cannot share a header): this keeps them in step. A mismatch would route operations to the
 * wrong libmemcached call or misread completions, so it fails here first. libmemcached's own
 * numbers are not described twice: the addon exports them (src/constants.cc), checked here
 * against the headers it was compiled with.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RETURN_CODE_NAMES, isSoft } from '../../lib/constants';
import * as native from '../../lib/native';

const src = (file: string) => fs.readFileSync(path.join(__dirname, '..', '..', file), 'utf8');

function cppEnum(text: string, name: string): Record<string, number> {
  const body = new RegExp(`enum class ${name}[^{]*\\{([^}]*)\\}`).exec(text)?.[1] ?? '';
  return Object.fromEntries([...body.matchAll(/(\w+)\s*=\s*(\d+)/g)].map((m) => [m[1], Number(m[2])]));
}

function cppConstant(text: string, name: string): number {
  const m = new RegExp(`constexpr uint32_t ${name}\\s*=\\s*(1u << \\d+|0x[0-9a-f]+u?|\\d+u?)`).exec(text);
  if (!m) throw new Error(`${name} not found`);
  const literal = m[1].replace(/u$/, '');
  return literal.includes('<<') ? 1 << Number(literal.split('<<')[1]) : Number(literal);
}

test('OpCode is the same in src/operation.h and lib/native.ts', () => {
  const cpp = cppEnum(src('src/operation.h'), 'OpCode');
  const ts = Object.fromEntries(Object.entries(native.OpCode).filter(([, v]) => typeof v === 'number'));
  expect(Object.keys(cpp).length).toBeGreaterThan(10);
  expect(ts).toEqual(cpp);
});

test('header and completion constants agree with src/client.cc', () => {
  const cc = src('src/client.cc');
  expect(native.HEADER_WORDS).toBe(Number(/kHeaderWords = (\d+)/.exec(cc)?.[1]));
  expect(native.WANT_CAS).toBe(cppConstant(cc, 'kWantCas'));
  expect(native.MULTI).toBe(cppConstant(cc, 'kMulti'));
  expect(native.IN_OBJECTS).toBe(cppConstant(cc, 'kInObjects'));
  expect(native.META_WORDS).toBe(cppConstant(cc, 'kMetaWords'));
  expect(native.NO_VALUE).toBe(cppConstant(cc, 'kNoValue'));
  expect(native.VALUE_IN_EXTRAS).toBe(cppConstant(cc, 'kValueInExtras'));
  expect(native.MULTI_RECORD).toBe(cppConstant(cc, 'kMultiRecord'));
  // The header word order, from the TypeScript source (a const enum leaves no runtime object).
  const tsWords = [...(/export const enum Header \{([^}]*)\}/.exec(src('lib/native.ts'))?.[1] ?? '').matchAll(/(\w+) = (\d+)/g)];
  const cppWords = [...(/enum HeaderWord \{([^}]*)\}/.exec(cc)?.[1] ?? '').matchAll(/k(\w+) = (\d+)/g)].filter((m) => m[1] !== 'HeaderWords');
  expect(tsWords.map((m) => [m[1], Number(m[2])])).toEqual(cppWords.map((m) => [m[1], Number(m[2])]));
});

test('the reply-check command kinds in src/libmemcached_private.h are those of deps/patches/0002', () => {
  // memcached_response_check() takes the kind of command as an int; the patch defines them in
  // libmemcached's response.h, which is not installed, so the addon restates the ones it uses.
  const patch = src('deps/patches/0002-strict-reply-parsing.patch');
  const kinds = Object.fromEntries([...patch.matchAll(/^\+\s+MEMCACHED_COMMAND_(\w+) = (\d+),/gm)].map((m) => [m[1], Number(m[2])]));
  const header = src('src/libmemcached_private.h');
  const used = Object.fromEntries([...header.matchAll(/kReplyTo(\w+) = (\d+)/g)].map((m) => [m[1].toUpperCase(), Number(m[2])]));
  expect(Object.keys(used).length).toBeGreaterThanOrEqual(3);
  for (const [name, value] of Object.entries(used)) expect([name, kinds[name]]).toEqual([name, value]);
});

test('the addon refuses a malformed batch instead of running it', () => {
  // A multi-key header with no keys, or a whole-client operation sent as multi-key: the I/O
  // threads index items[0] for those. Before, such a batch was accepted (and a multi-key flush
  // with no items read past its item vector). Run in a child process, in case it crashes.
  const script = `
    const { native, OpCode, HEADER_WORDS, MULTI } = require('./dist/native');
    const client = new native.Client({ servers: [{ transport: 'tcp', host: '127.0.0.1', port: 1, weight: 1 }], behaviors: [], connections: 1, maxValueSize: 1024 }, () => true);
    const outcomes = [];
    for (const [code, count] of [[OpCode.FlushAll, 0], [OpCode.FlushAll, 1], [OpCode.Get, 0]]) {
      const headers = new Uint32Array(2 * HEADER_WORDS);
      headers[${native.Header.Code}] = code | MULTI;
      headers[${native.Header.KeyLength}] = count;
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
  const include = native.native.linkage === 'static' ? path.join(__dirname, '..', '..', 'deps', '.cache', 'install', 'include') : '/usr/include';
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
    expect(native.native.constants[table]).toEqual(expected);
  });

  test('return code names by value, and which ones are answers rather than failures', () => {
    const codes = native.native.constants.returnCodes;
    expect(RETURN_CODE_NAMES.map((name, value) => codes[name] === value)).not.toContain(false);
    const soft = RETURN_CODE_NAMES.filter((_, rc) => isSoft(rc));
    expect(soft.sort()).toEqual(
      ['MEMCACHED_BUFFERED', 'MEMCACHED_DATA_EXISTS', 'MEMCACHED_DELETED', 'MEMCACHED_END', 'MEMCACHED_NOTFOUND', 'MEMCACHED_NOTSTORED', 'MEMCACHED_STORED', 'MEMCACHED_SUCCESS'],
    );
    expect(soft.map((n) => codes[n]).sort((a, b) => a - b)).toEqual([...native.native.constants.softReturnCodes].sort((a, b) => a - b));
  });
});
