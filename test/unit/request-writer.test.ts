/**
 * The request batch between JavaScript and the addon, against a fake addon: an operation whose
 * writing fails leaves nothing of itself in the batch, and a batch the addon refuses is reported
 * operation by operation, so that each can be settled.
 */
import { OpCode, REQUEST_WORDS, RequestWord } from '../../lib/native/protocol';
import { RequestWriter } from '../../lib/native/request-writer';
import type { NativeClient } from '../../lib/native/surface';

interface Submitted {
  headers: Uint32Array;
  words: number;
}

function fakeNative(submit: (headers: Uint32Array, words: number) => void): NativeClient {
  return {
    submit: (headers: Uint32Array, _bytes: Buffer, words: number) => submit(headers.slice(0, words), words),
    hash: () => 0,
    dispose: () => undefined,
    setBehaviors: () => undefined,
    ioThreads: () => 1,
  };
}

test('an operation whose writing throws is rolled back whole; the others go out intact', () => {
  const batches: Submitted[] = [];
  const submission = new RequestWriter(
    fakeNative((headers, words) => batches.push({ headers, words })),
    () => undefined,
  );
  submission.begin();
  const h = submission.push(OpCode.Get, 7);
  submission.item(h, undefined, 'first', 5);
  submission.begin();
  expect(() => {
    submission.pushMulti(OpCode.Get, 8, 2);
    submission.item(undefined, undefined, 'ok', 2);
    submission.item(undefined, undefined, 42 as unknown as string, 2); // not a key: the write throws
  }).toThrow();
  submission.rollback();
  submission.begin();
  submission.item(submission.push(OpCode.Get, 9), undefined, 'third', 5);
  submission.flush();
  expect(batches).toHaveLength(1);
  const [{ headers, words }] = batches;
  // Two single-key operations, ids 7 and 9: nothing of the multi-key one (id 8).
  expect(words).toBe(2 * REQUEST_WORDS);
  expect([headers[RequestWord.Id], headers[REQUEST_WORDS + RequestWord.Id]]).toEqual([7, 9]);
});

test('a batch the addon refuses is reported with the ids of its operations', () => {
  const refused: Array<[number[], unknown]> = [];
  const accepted: number[][] = [];
  const failure = new Error('client is closed');
  let refuse = true;
  const submission = new RequestWriter(
    fakeNative((headers, words) => {
      if (refuse) throw failure;
      accepted.push(Array.from({ length: words / REQUEST_WORDS }, (_, i) => headers[i * REQUEST_WORDS + RequestWord.Id]));
    }),
    (ids, error) => refused.push([ids, error]),
  );
  for (const id of [3, 4, 5]) {
    submission.begin();
    submission.item(submission.push(OpCode.Set, id), undefined, `k${id}`, 2, 'v');
  }
  expect(() => submission.flush()).not.toThrow();
  expect(refused).toEqual([[[3, 4, 5], failure]]);
  // The next batch holds only its own operations.
  refuse = false;
  submission.begin();
  submission.item(submission.push(OpCode.Get, 11), undefined, 'k', 1);
  submission.flush();
  expect(accepted).toEqual([[11]]);
  expect(refused).toHaveLength(1);
});

test('whenSent runs its task after the batch that carries the operation is submitted, or at once if it went', async () => {
  const events: string[] = [];
  const submission = new RequestWriter(
    fakeNative((headers) => events.push(`submit ${headers[RequestWord.Id]}`)),
    () => undefined,
  );
  submission.begin();
  submission.item(submission.push(OpCode.Get, 1), undefined, 'a', 1);
  submission.whenSent(() => events.push('task 1'));
  submission.whenSent(() => {
    throw new Error('a task that throws takes nothing with it');
  });
  submission.whenSent(() => events.push('task 2'));
  expect(events).toEqual([]);
  await Promise.resolve(); // the flush is a microtask
  expect(events).toEqual(['submit 1', 'task 1', 'task 2']);
  // Nothing pending: the task runs in a microtask, not synchronously.
  submission.whenSent(() => events.push('task 3'));
  expect(events).toHaveLength(3);
  await Promise.resolve();
  expect(events).toEqual(['submit 1', 'task 1', 'task 2', 'task 3']);
});
