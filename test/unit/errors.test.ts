/** The error classes: pylibmc's names, libmemcached's codes, readable messages. */
import * as lib from '../../lib';
import { MemcachedError, errorFromReturnCode } from '../../lib/errors';

test('each pylibmc error class maps its return code, and all derive from MemcachedError', () => {
  const expected: Array<[string, number]> = [
    ['Failure', 1], ['HostLookupError', 2], ['ConnectionError', 3], ['WriteError', 5], ['ReadError', 6],
    ['UnknownReadFailure', 7], ['ProtocolError', 8], ['ClientError', 9], ['ServerError', 10],
    ['SocketCreateError', 11], ['DataExists', 12], ['NotFound', 16], ['AllocationError', 17],
    ['SomeErrors', 19], ['NoServers', 20], ['NotSupportedError', 28], ['TimeoutError', 31],
    ['BadKeyProvided', 33], ['ServerDead', 35], ['TooBig', 37], ['AuthFailure', 41], ['ServerDown', 47],
  ];
  for (const [name, rc] of expected) {
    const error = errorFromReturnCode(rc, 'get', 'k', undefined, '127.0.0.1:11211');
    const cls = (lib as unknown as Record<string, typeof MemcachedError>)[name];
    expect(error).toBeInstanceOf(cls);
    expect(error).toBeInstanceOf(MemcachedError);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe(name);
    expect(error.rc).toBe(rc);
    expect(cls.retcode).toBe(rc);
    expect(error.server).toBe('127.0.0.1:11211');
  }
});

test('codes are libmemcached constant names; unknown codes fall back to the base class', () => {
  expect(errorFromReturnCode(31, 'get', 'k', undefined, undefined).code).toBe('MEMCACHED_TIMEOUT');
  const unknown = errorFromReturnCode(99, 'get', undefined, undefined, undefined);
  expect(unknown.constructor).toBe(MemcachedError);
  expect(unknown.code).toBe('MEMCACHED_RC_99');
});

test('messages name the operation and key and drop libmemcached source locations and host suffixes', () => {
  const error = errorFromReturnCode(
    47,
    'get',
    'user:42',
    '(0x55d1c0) SERVER HAS FAILED AND IS DISABLED UNTIL TIMED RETRY,  host: 127.0.0.1:1 -> /build/src/libmemcached/get.cc:233',
    '127.0.0.1:1',
  );
  expect(error.message).toBe(
    'get(user:42): MEMCACHED_SERVER_TEMPORARILY_DISABLED (SERVER HAS FAILED AND IS DISABLED UNTIL TIMED RETRY) [127.0.0.1:1]',
  );
});

test('errors built directly carry their class code; CacheMiss is exported for deserializers', () => {
  const error = new lib.NotFound('gone');
  expect(error.rc).toBe(16);
  expect(error.code).toBe('MEMCACHED_NOTFOUND');
  expect(new lib.CacheMiss()).toBeInstanceOf(Error);
});
