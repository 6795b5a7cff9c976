/**
 * An addon that does not do TLS (linked to a distribution's libmemcached, or older than this
 * JavaScript) must refuse the tls option rather than take it and talk clear text.
 */
jest.mock('../../lib/native/load', () => {
  const actual = jest.requireActual<typeof import('../../lib/native/load')>('../../lib/native/load');
  return { native: { ...actual.native, supportTls: false, tlsUnavailableReason: 'a reason from the addon' } };
});

import { Client, MemcachedError, NotSupportedError, supportTls } from '../../lib';

test('supportTls reports what the addon says', () => {
  expect(supportTls).toBe(false);
});

test.each([
  ['tls: true', { tls: true }],
  ['a CA', { tls: { ca: '-----BEGIN CERTIFICATE-----\n' } }],
  ['rejectUnauthorized: false', { tls: { rejectUnauthorized: false } }],
])('%s is refused with NotSupportedError before any I/O', (_name, options) => {
  let thrown: unknown;
  try {
    new Client(['127.0.0.1:1'], options);
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(NotSupportedError);
  expect(thrown).toBeInstanceOf(MemcachedError);
  expect((thrown as Error).message).toMatch(/tls is not available: a reason from the addon \(supportTls is false; see docs\/tls\.md\)/);
});

test('a client without tls still works with such an addon', async () => {
  const client = new Client(['127.0.0.1:1']);
  await client.close();
});
