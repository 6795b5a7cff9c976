/**
 * Server lists as pylibmc spells them: parsed, normalised and refused when malformed, when the
 * client is made (no server is contacted).
 */
import { Client } from '../../lib';

// A server these tests only name: the client is made and closed, never used.
const server = { spec: '127.0.0.1:11211' };

test('server specs: string, comma-separated list, and normalisation', () => {
  const mc = new Client(`${server.spec}, /tmp/x.sock,[::1]:11300:2`);
  expect(mc.servers).toEqual([server.spec, '/tmp/x.sock', '[::1]:11300:2']);
  expect(() => new Client([])).toThrow(/empty server list/);
  expect(() => new Client(['udp:127.0.0.1', '127.0.0.1'])).toThrow(/mix/);
  expect(() => new Client(['127.0.0.1:abc'])).toThrow(/port/);
  expect(() => new Client(['127.0.0.1:70000'])).toThrow(RangeError);
  return mc.close();
});
