/**
 * The constructor refuses bad options with typed errors, and nothing is thrown or rejected
 * elsewhere meanwhile. The bad calls that need a server to show that they disturb nothing are in
 * test/integration/bad-calls.test.ts.
 */
import { Client } from '../../lib';

// As in the integration file: an error escaping to the process fails the test that caused it.
const uncaught: unknown[] = [];
const onUncaught = (error: unknown) => uncaught.push(error);

beforeAll(() => {
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
});
afterAll(() => {
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUncaught);
});
afterEach(() => {
  expect(uncaught).toEqual([]);
});

describe('the constructor refuses bad options with typed errors', () => {
  test.each([
    ['a host name over 253 bytes', [`${'h'.repeat(1100)}:11211`], {}, RangeError],
    ['binary that is not a boolean', ['127.0.0.1'], { binary: 'yes' }, TypeError],
    ['binary: 1', ['127.0.0.1'], { binary: 1 }, TypeError],
    ['connections of the wrong type', ['127.0.0.1'], { connections: '2' }, TypeError],
    ['compressLevel of the wrong type', ['127.0.0.1'], { compressLevel: '1' }, TypeError],
    ['minCompressLen of the wrong type', ['127.0.0.1'], { minCompressLen: '1' }, TypeError],
    ['a host with a control byte', ['ho\nst:11211'], {}, TypeError],
    ['options that are an array', ['127.0.0.1'], [], TypeError],
    // Before: the failover defaults were spread over the number, which became {}.
    ['behaviors that are a number, with failover', ['127.0.0.1'], { behaviors: 5, failover: true }, TypeError],
  ])('%s', (_label, servers, options, kind) => {
    // Before: the 1,100-byte host made libmemcached refuse the server with a plain Error (rc
    // 38), and binary: 'yes' or 1 silently made a text client.
    let thrown: unknown;
    try {
      new Client(servers as string[], options as never).close();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(kind);
    expect(Object.getPrototypeOf(thrown)).not.toBe(Error.prototype);
  });
});
