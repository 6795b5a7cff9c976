/**
 * The two sides of the native boundary describe the same numbers twice (C++ and TypeScript
 * cannot share a header): this keeps them in step. A mismatch would route operations to the
 * wrong libmemcached call or misread completions, so it fails here first.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as native from '../lib/native';

const src = (file: string) => fs.readFileSync(path.join(__dirname, '..', file), 'utf8');

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
  const run = spawnSync(process.execPath, ['-e', script], { cwd: path.join(__dirname, '..'), encoding: 'utf8', timeout: 20_000 });
  expect(run.signal).toBeNull();
  expect(run.status).toBe(0);
  expect(JSON.parse(run.stdout)).toEqual([
    'submit: malformed multi-key operation',
    'submit: malformed multi-key operation',
    'submit: malformed multi-key operation',
  ]);
});
