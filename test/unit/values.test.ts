/**
 * The default serializer and deserializer on their own, in both protocols: public, and each the
 * other's inverse. What they store on a real server, byte for byte, is in
 * test/integration/values.test.ts.
 */
import { Client } from '../../lib';
import { PROTOCOLS } from '../harness/memcached';

describe.each(PROTOCOLS)('%s protocol', (_name, binary) => {
  let mc: Client;

  // The hooks need a client but no server: nothing listens on port 1, and nothing is sent.
  beforeAll(() => {
    mc = new Client(['127.0.0.1:1'], { binary });
  });
  afterAll(() => mc.close());

  describe('serialize and deserialize hooks', () => {
    test('the default hooks are public and invert each other', () => {
      const values: unknown[] = ['t', 5, 5n, true, null, { a: [1] }, Buffer.from('b'), -0];
      for (const value of values) {
        const [bytes, flags] = mc.serialize(value);
        expect(mc.deserialize(Buffer.from(bytes), flags)).toStrictEqual(value);
      }
      expect(() => mc.serialize(undefined)).toThrow(TypeError);
    });
  });
});
