/**
 * The two sides of the native boundary describe the same numbers twice (C++ and TypeScript
 * cannot share a header): this keeps them in step. A mismatch would route operations to the
 * wrong libmemcached call or misread completions, so it fails here first.
 */
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
