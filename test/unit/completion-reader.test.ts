/**
 * The completion reader against deliveries written by a stand-in for Client::Deliver that
 * follows the extras order the addon exports (src/protocol.h): whatever that order is, every
 * operation of a delivery must get its own value, CAS token, counter value, stats or error.
 */
import { returnCode } from '../../lib/constants';
import { FLAG_TEXT } from '../../lib/codecs/values';
import { Waiter, readCompletions } from '../../lib/native/completion-reader';
import { native } from '../../lib/native/load';
import { ItemWord, MULTI_RECORD, NO_VALUE, OpCode, RECORD_WORDS, RecordWord, VALUE_IN_EXTRAS } from '../../lib/native/protocol';

const SUCCESS = returnCode('MEMCACHED_SUCCESS');
const NOTFOUND = returnCode('MEMCACHED_NOTFOUND');
const TIMEOUT = returnCode('MEMCACHED_TIMEOUT');

/** One completed operation, as the I/O threads leave it (the fields Deliver reads). */
interface Completed {
  id: number;
  code: OpCode;
  rc: number;
  wantCas?: boolean;
  items: Array<{ rc: number; flags: number; value?: Buffer; own?: boolean; cas?: bigint }>;
  multi?: boolean;
  counter?: number;
  stats?: unknown;
  error?: string;
  server?: string;
}

/** Writes a delivery the way src/binding/client.cc Deliver does, extras in the exported order. */
function deliver(ops: Completed[]): { meta: Uint32Array; slab: Buffer; extras: unknown[]; records: number } {
  const { itemExtras, operationExtras, softReturnCodes } = { ...native.protocol, softReturnCodes: native.constants.softReturnCodes };
  const words: number[] = [];
  const slab: Buffer[] = [];
  const extras: unknown[] = [];
  for (const op of ops) {
    const soft = softReturnCodes.includes(op.rc);
    const lengthOf = (item: Completed['items'][number]) =>
      item.value === undefined ? NO_VALUE : item.own ? VALUE_IN_EXTRAS : (slab.push(item.value), item.value.length);
    const itemExtrasOf = (item: Completed['items'][number]) => {
      for (const extra of itemExtras) {
        if (extra === 'value' && item.value !== undefined && item.own) extras.push(item.value);
        if (extra === 'casToken' && op.wantCas && item.value !== undefined) extras.push(item.cas);
      }
    };
    const record = new Array<number>(RECORD_WORDS).fill(0);
    record[RecordWord.Id] = op.id;
    record[RecordWord.Rc] = op.rc;
    if (op.multi) {
      record[RecordWord.Flags] = op.items.length;
      record[RecordWord.ValueLength] = MULTI_RECORD;
      words.push(...record);
      for (const item of op.items) {
        const itemWords = new Array<number>(RECORD_WORDS).fill(0);
        itemWords[ItemWord.Rc] = item.rc;
        itemWords[ItemWord.Flags] = item.flags;
        itemWords[ItemWord.ValueLength] = lengthOf(item);
        words.push(...itemWords);
        itemExtrasOf(item);
      }
    } else {
      const item = op.items[0];
      record[RecordWord.Flags] = item?.flags ?? 0;
      record[RecordWord.ValueLength] = item === undefined ? NO_VALUE : lengthOf(item);
      words.push(...record);
      if (item !== undefined) itemExtrasOf(item);
    }
    for (const extra of operationExtras) {
      if (extra === 'counterValue' && !op.multi && op.rc === SUCCESS && (op.code === OpCode.Incr || op.code === OpCode.Decr)) extras.push(op.counter);
      if (extra === 'stats' && soft && (op.code === OpCode.Stats || op.code === OpCode.GetBehaviors)) extras.push(op.stats);
      if (extra === 'errorMessage' && !soft) extras.push(op.error);
      if (extra === 'errorServer' && !soft) extras.push(op.server);
    }
  }
  return { meta: Uint32Array.from(words), slab: Buffer.concat(slab), extras, records: words.length / RECORD_WORDS };
}

test('every operation of a mixed delivery gets its own outcome', () => {
  const big = Buffer.alloc(5000, 'b');
  const ops: Completed[] = [
    { id: 0, code: OpCode.Get, rc: SUCCESS, wantCas: true, items: [{ rc: SUCCESS, flags: 0, value: Buffer.from('raw'), cas: 11n }] },
    { id: 1, code: OpCode.Get, rc: SUCCESS, wantCas: true, items: [{ rc: SUCCESS, flags: 0, value: big, own: true, cas: 12n }] },
    { id: 2, code: OpCode.Incr, rc: SUCCESS, items: [{ rc: SUCCESS, flags: 0 }], counter: 42 },
    { id: 3, code: OpCode.Get, rc: SUCCESS, multi: true, items: [
      { rc: SUCCESS, flags: FLAG_TEXT, value: Buffer.from('text') },
      { rc: NOTFOUND, flags: 0 },
      { rc: SUCCESS, flags: 0, value: big, own: true },
    ] },
    { id: 4, code: OpCode.Stats, rc: SUCCESS, items: [{ rc: SUCCESS, flags: 0 }], stats: [['s:1 (0)', ['pid', '1']]] },
    { id: 5, code: OpCode.Set, rc: TIMEOUT, items: [{ rc: TIMEOUT, flags: 0 }], error: 'A TIMEOUT OCCURRED', server: '127.0.0.1:1' },
    { id: 6, code: OpCode.Get, rc: TIMEOUT, multi: true, items: [{ rc: TIMEOUT, flags: 0 }], error: 'late', server: undefined },
    { id: 7, code: OpCode.Decr, rc: NOTFOUND, items: [{ rc: NOTFOUND, flags: 0 }] },
  ];
  const seen: Record<number, unknown[]> = {};
  const waiters = ops.map((op): Waiter => ({
    code: op.code,
    wantCas: op.wantCas ?? false,
    item: op.multi ? (index, rc, value, flags) => (seen[op.id] ??= []).push(['item', index, rc, value, flags]) : undefined,
    done: (rc, value, flags, result, error, server) => (seen[op.id] ??= []).push(['done', rc, value, flags, result, error, server]),
    reject: (error) => (seen[op.id] ??= []).push(['reject', error]),
  }));
  const { meta, slab, extras, records } = deliver(ops);
  const taken: number[] = [];
  const free = readCompletions(meta, slab, extras, records, (id) => (taken.push(id), waiters[id]), true);

  expect(taken).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  expect(seen[0]).toEqual([['done', SUCCESS, Buffer.from('raw'), 0, 11n, undefined, undefined]]);
  expect(seen[1]).toEqual([['done', SUCCESS, big, 0, 12n, undefined, undefined]]);
  expect(seen[2]).toEqual([['done', SUCCESS, undefined, 0, 42, undefined, undefined]]);
  expect(seen[3]).toEqual([
    ['item', 0, SUCCESS, 'text', FLAG_TEXT],
    ['item', 1, NOTFOUND, undefined, 0],
    ['item', 2, SUCCESS, big, 0],
    ['done', SUCCESS, undefined, 0, undefined, undefined, undefined],
  ]);
  expect(seen[4]).toEqual([['done', SUCCESS, undefined, 0, [['s:1 (0)', ['pid', '1']]], undefined, undefined]]);
  expect(seen[5]).toEqual([['done', TIMEOUT, undefined, 0, undefined, 'A TIMEOUT OCCURRED', '127.0.0.1:1']]);
  expect(seen[6]).toEqual([['item', 0, TIMEOUT, undefined, 0], ['done', TIMEOUT, undefined, 0, undefined, 'late', undefined]]);
  expect(seen[7]).toEqual([['done', NOTFOUND, undefined, 0, undefined, undefined, undefined]]);
  // A view of the slab was handed out (op 0's raw bytes): the addon must not reuse it.
  expect(free).toBe(false);
});

test('text decoded out of the slab leaves it free; a throwing item callback rejects only its operation', () => {
  const ops: Completed[] = [
    { id: 0, code: OpCode.Get, rc: SUCCESS, multi: true, items: [{ rc: SUCCESS, flags: FLAG_TEXT, value: Buffer.from('a') }] },
    { id: 1, code: OpCode.Get, rc: SUCCESS, items: [{ rc: SUCCESS, flags: FLAG_TEXT, value: Buffer.from('b') }] },
  ];
  const outcomes: unknown[] = [];
  const waiters: Waiter[] = [
    { code: OpCode.Get, wantCas: false, item: () => { throw new Error('boom'); }, done: () => outcomes.push('done 0'), reject: (e) => outcomes.push(`reject 0 ${(e as Error).message}`) },
    { code: OpCode.Get, wantCas: false, done: (_rc, value) => outcomes.push(`done 1 ${String(value)}`), reject: () => outcomes.push('reject 1') },
  ];
  const { meta, slab, extras, records } = deliver(ops);
  expect(readCompletions(meta, slab, extras, records, (id) => waiters[id], true)).toBe(true);
  expect(outcomes).toEqual(['reject 0 boom', 'done 1 b']);
});
