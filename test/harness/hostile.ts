/**
 * A scriptable fake memcached (text and binary protocols) that answers each request the way a
 * test script says: correctly, or with the lies a broken server, a proxy or an attacker could tell.
 */
import * as net from 'node:net';

export type Protocol = 'text' | 'binary';

// Binary protocol opcodes and statuses (protocol_binary.h; memcached's binary protocol spec).
export const OP = {
  GET: 0x00,
  SET: 0x01,
  ADD: 0x02,
  REPLACE: 0x03,
  DELETE: 0x04,
  INCREMENT: 0x05,
  DECREMENT: 0x06,
  QUIT: 0x07,
  FLUSH: 0x08,
  GETQ: 0x09,
  NOOP: 0x0a,
  VERSION: 0x0b,
  GETK: 0x0c,
  GETKQ: 0x0d,
  APPEND: 0x0e,
  PREPEND: 0x0f,
  STAT: 0x10,
  SETQ: 0x11,
  ADDQ: 0x12,
  REPLACEQ: 0x13,
  DELETEQ: 0x14,
  INCREMENTQ: 0x15,
  DECREMENTQ: 0x16,
  QUITQ: 0x17,
  FLUSHQ: 0x18,
  APPENDQ: 0x19,
  PREPENDQ: 0x1a,
  VERBOSITY: 0x1b,
  TOUCH: 0x1c,
  GAT: 0x1d,
  GATQ: 0x1e,
  SASL_LIST_MECHS: 0x20,
  SASL_AUTH: 0x21,
  SASL_STEP: 0x22,
} as const;

export const STATUS = {
  OK: 0x00,
  KEY_ENOENT: 0x01,
  KEY_EEXISTS: 0x02,
  E2BIG: 0x03,
  EINVAL: 0x04,
  NOT_STORED: 0x05,
  DELTA_BADVAL: 0x06,
  NOT_MY_VBUCKET: 0x07,
  AUTH_ERROR: 0x20,
  AUTH_CONTINUE: 0x21,
  UNKNOWN_COMMAND: 0x81,
  ENOMEM: 0x82,
  NOT_SUPPORTED: 0x83,
  EINTERNAL: 0x84,
  EBUSY: 0x85,
  ETMPFAIL: 0x86,
} as const;

const OPCODE_NAMES = new Map<number, string>(Object.entries(OP).map(([name, code]) => [code, name.toLowerCase()]));

export function opcodeName(opcode: number): string {
  return OPCODE_NAMES.get(opcode) ?? `0x${opcode.toString(16).padStart(2, '0')}`;
}

export const HEADER_LENGTH = 24;

export interface BinaryHeader {
  magic: number;
  opcode: number;
  keylen: number;
  extlen: number;
  datatype: number;
  /** vbucket in a request, status in a response. */
  vbucket: number;
  bodylen: number;
  opaque: number;
  cas: bigint;
}

/** One binary request as it came off the wire. */
export interface BinaryPart {
  header: BinaryHeader;
  extras: Buffer;
  key: Buffer;
  value: Buffer;
  raw: Buffer;
}

/**
 * One request, as the script sees it. A binary multi-get (GETQ/GETKQ per key, closed by a
 * NOOP, as libmemcached's memcached_mget sends it) arrives as ONE request, command 'mget', whose
 * parts are the quiet gets then the NOOP: a script answers a whole multi-get at once, as a text
 * script answers `gets k1 k2`.
 */
export interface FakeRequest {
  protocol: Protocol;
  /** text: the command word ('gets', 'set', 'incr', ...); binary: the opcode's name ('set', 'getk', 'noop', 'stat', ...) or 'mget'. */
  command: string;
  /** Keys in request order (latin1): every key of a get line or a multi-get, else the one key (if any). */
  keys: string[];
  /** keys[0], or '' */
  key: string;
  /** text: the command line without its line end; binary: ''. */
  line: string;
  /** text: the words of the line after the command. */
  args: string[];
  /** text storage commands: the data block (without its \r\n). */
  data?: Buffer;
  /** text: the line ended in `noreply`. */
  noreply: boolean;
  /** binary: the request packets (several for 'mget'). */
  parts: BinaryPart[];
  /** Every byte of the request. */
  raw: Buffer;
}

/** What the server does with one request. */
export type Action =
  /** Answer as a correct memcached would (the store applies the request). */
  | { kind: 'correct' }
  /** Answer nothing, keep serving (what a correct server does for a quiet miss). */
  | { kind: 'nothing' }
  /**
   * Write `bytes` (in segments of `segment` bytes, or cut at the offsets in `cuts`, `delayMs`
   * apart), then carry on, close (FIN), go silent (never read or answer again on this
   * connection) or reset (RST).
   */
  | {
      kind: 'write';
      bytes: Buffer;
      segment?: number;
      cuts?: number[];
      delayMs?: number;
      /** Sleep `delayMs` only after every `pauseEvery` pieces (merely yield to the event loop between the others). */
      pauseEvery?: number;
      then?: 'continue' | 'close' | 'silence' | 'reset';
    }
  /** Close without replying. */
  | { kind: 'close' }
  /** Reset the connection (RST) without replying. */
  | { kind: 'reset' }
  /** Never answer this or anything later on this connection; the connection stays open. */
  | { kind: 'silence' };

export const CORRECT: Action = { kind: 'correct' };
export const NOTHING: Action = { kind: 'nothing' };
export const CLOSE: Action = { kind: 'close' };
export const RESET: Action = { kind: 'reset' };
export const SILENCE: Action = { kind: 'silence' };

export function write(bytes: Buffer | string): Action {
  return { kind: 'write', bytes: toBuffer(bytes) };
}
export function writeThenClose(bytes: Buffer | string): Action {
  return { kind: 'write', bytes: toBuffer(bytes), then: 'close' };
}
export function writeThenSilence(bytes: Buffer | string): Action {
  return { kind: 'write', bytes: toBuffer(bytes), then: 'silence' };
}
export function writeThenReset(bytes: Buffer | string): Action {
  return { kind: 'write', bytes: toBuffer(bytes), then: 'reset' };
}
/**
 * `bytes` in `segment`-byte pieces, each written on its own (separate TCP segments: the fake
 * sets TCP_NODELAY), with a `delayMs` pause after every `pauseEvery` of them: a reply that
 * trickles in. (A timer per byte would make a 1 kB stats reply take seconds on a loaded machine.)
 */
export function trickle(bytes: Buffer | string, segment = 1, delayMs = 1, pauseEvery = 4): Action {
  return { kind: 'write', bytes: toBuffer(bytes), segment, delayMs, pauseEvery };
}

export interface Connection {
  /** 0 for the first connection the server accepted, then 1, 2, ... */
  id: number;
  protocol: Protocol | undefined;
  /** Requests handed to the script on this connection before the current one. */
  requests: number;
  server: FakeServer;
  socket: net.Socket;
  /** For scripts that need to remember something per connection. */
  scratch: Record<string, unknown>;
  /** The bytes a correct memcached would answer to `request`; applies the request to the store. */
  correct(request: FakeRequest): Buffer;
  /** The same for one binary packet (one quiet get of an 'mget', say). */
  correctPart(part: BinaryPart): Buffer;
}

export type Script = (request: FakeRequest, connection: Connection) => Action;

/** Bytes the server sends without being asked. */
export interface Unsolicited {
  bytes: Buffer;
  /** After this many ms (0: as soon as the connection is accepted). */
  delayMs?: number;
}

export interface FakeServerOptions {
  script?: Script;
  /** Bytes to send unasked on a new connection (called for every connection; return nothing for none). */
  onConnect?: (connection: Connection) => Unsolicited[] | undefined;
  /** What `version` answers. */
  version?: string;
}

// Keys and values --------------------------------------------------------------------------------

/** The distinctive value of `key`: a value read for another key gives itself away. */
export function valueOf(key: string): string {
  return `value-of:${key}`;
}

export const FLAG_TEXT = 16;
export const FLAG_INTEGER = 4;

/**
 * Keys are named `<prefix>.<sym>.<n>` by the child (test/harness/hostile-child.js), where sym
 * says what the key is for: `g…` keys hold counters. Every key the fake is asked about exists
 * until deleted, so reads have something distinctive to answer: a counter "10" for `g…` keys,
 * valueOf(key) as text for the others.
 */
export function autoItem(key: string): { flags: number; data: Buffer } {
  const sym = key.split('.')[1] ?? '';
  if (sym.startsWith('g')) return { flags: FLAG_INTEGER, data: Buffer.from('10') };
  return { flags: FLAG_TEXT, data: Buffer.from(valueOf(key), 'latin1') };
}

export interface StoredItem {
  flags: number;
  data: Buffer;
  cas: bigint;
}

/** The fake's correct behaviour: a tiny in-memory memcached. */
export class FakeStore {
  readonly items = new Map<string, StoredItem>();
  readonly deleted = new Set<string>();
  #nextCas = 1000n;

  get(key: string): StoredItem | undefined {
    let item = this.items.get(key);
    if (item === undefined && !this.deleted.has(key)) {
      item = { ...autoItem(key), cas: this.#nextCas++ };
      this.items.set(key, item);
    }
    return item;
  }

  put(key: string, flags: number, data: Buffer): StoredItem {
    const item = { flags, data, cas: this.#nextCas++ };
    this.items.set(key, item);
    this.deleted.delete(key);
    return item;
  }

  remove(key: string): boolean {
    const had = this.get(key) !== undefined;
    this.items.delete(key);
    this.deleted.add(key);
    return had;
  }
}

function toBuffer(bytes: Buffer | string): Buffer {
  return typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
}

// Reply builders ---------------------------------------------------------------------------------

/** Text lines, each ended with \r\n. */
export function lines(...texts: Array<string | Buffer>): Buffer {
  return Buffer.concat(texts.map((t) => Buffer.concat([toBuffer(t), Buffer.from('\r\n')])));
}

/**
 * A text VALUE entry. Every field can be replaced to lie: `bytes` (the count in the line,
 * default the data's length), `flags`, `cas` (present only if given), `end` (what follows the
 * data, default \r\n).
 */
export interface TextValueFields {
  flags?: string | number;
  bytes?: string | number;
  cas?: string | number | bigint;
  end?: string;
}

export function textValue(key: string, data: Buffer | string = valueOf(key), fields: TextValueFields = {}): Buffer {
  const body = toBuffer(data);
  const flags = fields.flags ?? FLAG_TEXT;
  const count = fields.bytes ?? body.length;
  const cas = fields.cas === undefined ? '' : ` ${fields.cas}`;
  return Buffer.concat([Buffer.from(`VALUE ${key} ${flags} ${count}${cas}\r\n`, 'latin1'), body, Buffer.from(fields.end ?? '\r\n', 'latin1')]);
}

export interface BinaryResponseFields {
  opcode: number;
  status?: number;
  opaque?: number;
  cas?: bigint;
  key?: Buffer | string;
  extras?: Buffer;
  value?: Buffer | string;
  /** Lies about the lengths: each defaults to the true length of what is sent. */
  keylen?: number;
  extlen?: number;
  bodylen?: number;
  magic?: number;
  datatype?: number;
}

/** A binary response packet; every header field can be set to a lie. */
export function binaryResponse(fields: BinaryResponseFields): Buffer {
  const key = toBuffer(fields.key ?? Buffer.alloc(0));
  const extras = fields.extras ?? Buffer.alloc(0);
  const value = toBuffer(fields.value ?? Buffer.alloc(0));
  const header = Buffer.alloc(HEADER_LENGTH);
  header[0] = fields.magic ?? 0x81;
  header[1] = fields.opcode;
  header.writeUInt16BE(fields.keylen ?? key.length, 2);
  header[4] = fields.extlen ?? extras.length;
  header[5] = fields.datatype ?? 0;
  header.writeUInt16BE(fields.status ?? STATUS.OK, 6);
  header.writeUInt32BE(fields.bodylen ?? extras.length + key.length + value.length, 8);
  header.writeUInt32BE(fields.opaque ?? 0, 12);
  header.writeBigUInt64BE(fields.cas ?? 0n, 16);
  return Buffer.concat([header, extras, key, value]);
}

/** 4-byte flags extras, as GET responses carry them. */
export function flagsExtras(flags: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(flags >>> 0);
  return b;
}

/** A binary GETK(Q) hit for `part` (a quiet get of an 'mget', or a GETK), with optional lies. */
export function binaryHit(part: BinaryPart, key: string, data: Buffer | string = valueOf(key), fields: Partial<BinaryResponseFields> = {}): Buffer {
  return binaryResponse({
    opcode: part.header.opcode,
    opaque: part.header.opaque,
    extras: flagsExtras(FLAG_TEXT),
    key: part.header.opcode === OP.GETK || part.header.opcode === OP.GETKQ ? key : undefined,
    value: data,
    cas: 4242n,
    ...fields,
  });
}

/** A response to `part` carrying `status` (and a message body, as memcached sends one). */
export function binaryStatus(part: BinaryPart, status: number, message = 'hostile', fields: Partial<BinaryResponseFields> = {}): Buffer {
  return binaryResponse({ opcode: part.header.opcode, opaque: part.header.opaque, status, value: message, ...fields });
}

/** The NOOP answer closing an 'mget' (its last part), as a correct server sends it. */
export function binaryNoop(part: BinaryPart): Buffer {
  return binaryResponse({ opcode: OP.NOOP, opaque: part.header.opaque });
}

/** Every packet of a binary request but a multi-get's closing NOOP. */
export function dataParts(request: FakeRequest): BinaryPart[] {
  return request.command === 'mget' ? request.parts.filter((p) => p.header.opcode !== OP.NOOP) : request.parts;
}

/** The closing NOOP of an 'mget', if any. */
export function noopPart(request: FakeRequest): BinaryPart | undefined {
  return request.parts.find((p) => p.header.opcode === OP.NOOP);
}

// Correct behaviour ------------------------------------------------------------------------------

const TEXT_STORAGE = new Set(['set', 'add', 'replace', 'append', 'prepend', 'cas']);
const MAX_U64 = (1n << 64n) - 1n;

/** The pid the fake's correct `stats` reports, to tell its entry from a real server's. */
export const FAKE_PID = '4242';

function statsEntries(server: FakeServer, group: string): Array<[string, string]> {
  if (group !== '') return [[`${group}:none`, '0']];
  return [
    ['pid', FAKE_PID],
    ['uptime', '100'],
    ['time', String(Math.floor(Date.now() / 1000))],
    ['version', server.version],
    ['libevent', '2.1.12-stable'],
    ['pointer_size', '64'],
    ['rusage_user', '0.123456'],
    ['rusage_system', '0.654321'],
    ['curr_connections', '2'],
    ['total_connections', '3'],
    ['connection_structures', '4'],
    ['cmd_get', '5'],
    ['cmd_set', '6'],
    ['get_hits', '7'],
    ['get_misses', '8'],
    ['evictions', '0'],
    ['curr_items', String(server.store.items.size)],
    ['total_items', '9'],
    ['bytes', '100'],
    ['bytes_read', '1000'],
    ['bytes_written', '2000'],
    ['limit_maxbytes', '67108864'],
    ['threads', '4'],
  ];
}


function correctText(server: FakeServer, request: FakeRequest): Buffer {
  const store = server.store;
  const [cmd, args] = [request.command, request.args];
  const reply = (text: string): Buffer => (request.noreply ? Buffer.alloc(0) : lines(text));
  switch (cmd) {
    case 'get':
    case 'gets': {
      const out: Buffer[] = [];
      for (const key of request.keys) {
        const item = store.get(key);
        if (item) out.push(textValue(key, item.data, { flags: item.flags, cas: cmd === 'gets' ? item.cas : undefined }));
      }
      out.push(lines('END'));
      return Buffer.concat(out);
    }
    case 'set':
    case 'add':
    case 'replace':
    case 'append':
    case 'prepend':
    case 'cas': {
      const key = args[0];
      const flags = Number(args[1]);
      const data = request.data ?? Buffer.alloc(0);
      const item = store.get(key);
      if (cmd === 'add' && item) return reply('NOT_STORED');
      if ((cmd === 'replace' || cmd === 'append' || cmd === 'prepend') && !item) return reply('NOT_STORED');
      if (cmd === 'cas') {
        if (!item) return reply('NOT_FOUND');
        if (String(item.cas) !== args[4]) return reply('EXISTS');
      }
      if (cmd === 'append') store.put(key, item!.flags, Buffer.concat([item!.data, data]));
      else if (cmd === 'prepend') store.put(key, item!.flags, Buffer.concat([data, item!.data]));
      else store.put(key, flags, data);
      return reply('STORED');
    }
    case 'delete':
      return reply(store.remove(args[0]) ? 'DELETED' : 'NOT_FOUND');
    case 'incr':
    case 'decr': {
      const item = store.get(args[0]);
      if (!item) return reply('NOT_FOUND');
      const text = item.data.toString('latin1').trim();
      if (!/^\d+$/.test(text) || BigInt(text) > MAX_U64) return reply('CLIENT_ERROR cannot increment or decrement non-numeric value');
      const delta = BigInt(args[1]);
      let n = BigInt(text);
      n = cmd === 'incr' ? (n + delta) & MAX_U64 : n > delta ? n - delta : 0n;
      store.put(args[0], item.flags, Buffer.from(String(n)));
      return reply(String(n));
    }
    case 'touch':
      return reply(store.get(args[0]) ? 'TOUCHED' : 'NOT_FOUND');
    case 'flush_all':
      store.items.clear();
      return reply('OK');
    case 'stats':
      return Buffer.concat([...statsEntries(server, args[0] ?? '').map(([k, v]) => lines(`STAT ${k} ${v}`)), lines('END')]);
    case 'version':
      return lines(`VERSION ${server.version}`);
    case 'verbosity':
      return reply('OK');
    case 'quit':
      return Buffer.alloc(0);
    default:
      return lines('ERROR');
  }
}

const QUIET_OPCODES = new Set<number>([
  OP.GETQ,
  OP.GETKQ,
  OP.SETQ,
  OP.ADDQ,
  OP.REPLACEQ,
  OP.DELETEQ,
  OP.INCREMENTQ,
  OP.DECREMENTQ,
  OP.APPENDQ,
  OP.PREPENDQ,
  OP.FLUSHQ,
  OP.QUITQ,
]);

function correctBinaryPart(server: FakeServer, part: BinaryPart): Buffer {
  const store = server.store;
  const { opcode, opaque } = part.header;
  const key = part.key.toString('latin1');
  const quiet = QUIET_OPCODES.has(opcode);
  const ok = (fields: Partial<BinaryResponseFields> = {}): Buffer => (quiet ? Buffer.alloc(0) : binaryResponse({ opcode, opaque, ...fields }));
  const fail = (status: number, message: string): Buffer => binaryResponse({ opcode, opaque, status, value: message });
  switch (opcode) {
    case OP.GET:
    case OP.GETQ:
    case OP.GETK:
    case OP.GETKQ: {
      const item = store.get(key);
      if (!item) return opcode === OP.GETQ || opcode === OP.GETKQ ? Buffer.alloc(0) : fail(STATUS.KEY_ENOENT, 'Not found');
      return binaryResponse({
        opcode,
        opaque,
        cas: item.cas,
        extras: flagsExtras(item.flags),
        key: opcode === OP.GETK || opcode === OP.GETKQ ? part.key : undefined,
        value: item.data,
      });
    }
    case OP.SET:
    case OP.SETQ:
    case OP.ADD:
    case OP.ADDQ:
    case OP.REPLACE:
    case OP.REPLACEQ:
    case OP.APPEND:
    case OP.APPENDQ:
    case OP.PREPEND:
    case OP.PREPENDQ: {
      const item = store.get(key);
      const base = OPCODE_NAMES.get(opcode)!.replace(/q$/, '');
      if (base === 'add' && item) return fail(STATUS.KEY_EEXISTS, 'Data exists for key.');
      if ((base === 'replace' || base === 'append' || base === 'prepend') && !item) return fail(STATUS.KEY_ENOENT, 'Not found');
      if (part.header.cas !== 0n) {
        if (!item) return fail(STATUS.KEY_ENOENT, 'Not found');
        if (item.cas !== part.header.cas) return fail(STATUS.KEY_EEXISTS, 'Data exists for key.');
      }
      let stored: StoredItem;
      if (base === 'append') stored = store.put(key, item!.flags, Buffer.concat([item!.data, part.value]));
      else if (base === 'prepend') stored = store.put(key, item!.flags, Buffer.concat([part.value, item!.data]));
      else stored = store.put(key, part.extras.length >= 4 ? part.extras.readUInt32BE(0) : 0, part.value);
      return ok({ cas: stored.cas });
    }
    case OP.DELETE:
    case OP.DELETEQ:
      return store.remove(key) ? ok() : fail(STATUS.KEY_ENOENT, 'Not found');
    case OP.INCREMENT:
    case OP.INCREMENTQ:
    case OP.DECREMENT:
    case OP.DECREMENTQ: {
      const delta = part.extras.length >= 8 ? part.extras.readBigUInt64BE(0) : 0n;
      const initial = part.extras.length >= 16 ? part.extras.readBigUInt64BE(8) : 0n;
      const exptime = part.extras.length >= 20 ? part.extras.readUInt32BE(16) : 0;
      const item = store.get(key);
      let n: bigint;
      if (!item) {
        if (exptime === 0xffffffff) return fail(STATUS.KEY_ENOENT, 'Not found');
        n = initial;
      } else {
        const text = item.data.toString('latin1').trim();
        if (!/^\d+$/.test(text) || BigInt(text) > MAX_U64) return fail(STATUS.DELTA_BADVAL, 'Non-numeric server-side value for incr or decr');
        const current = BigInt(text);
        const increment = opcode === OP.INCREMENT || opcode === OP.INCREMENTQ;
        n = increment ? (current + delta) & MAX_U64 : current > delta ? current - delta : 0n;
      }
      const stored = store.put(key, item?.flags ?? 0, Buffer.from(String(n)));
      const body = Buffer.alloc(8);
      body.writeBigUInt64BE(n);
      return ok({ cas: stored.cas, value: body });
    }
    case OP.TOUCH:
    case OP.GAT:
    case OP.GATQ:
      return store.get(key) ? ok() : fail(STATUS.KEY_ENOENT, 'Not found');
    case OP.FLUSH:
    case OP.FLUSHQ:
      store.items.clear();
      return ok();
    case OP.NOOP:
      return ok();
    case OP.VERSION:
      return ok({ value: server.version });
    case OP.VERBOSITY:
      return ok();
    case OP.QUIT:
    case OP.QUITQ:
      return ok();
    case OP.STAT: {
      const out = statsEntries(server, key).map(([k, v]) => binaryResponse({ opcode, opaque, key: k, value: v }));
      out.push(binaryResponse({ opcode, opaque }));
      return Buffer.concat(out);
    }
    default:
      return fail(STATUS.UNKNOWN_COMMAND, 'Unknown command');
  }
}

/** The bytes a correct memcached answers to `request`, applying it to `server.store`. */
export function correctReply(server: FakeServer, request: FakeRequest): Buffer {
  if (request.protocol === 'text') return correctText(server, request);
  return Buffer.concat(request.parts.map((part) => correctBinaryPart(server, part)));
}

// Request parsing --------------------------------------------------------------------------------

/** Pulls whole requests out of a connection's input; undefined while one is incomplete. */
class RequestParser {
  #buffer: Buffer = Buffer.alloc(0);
  #quiet: BinaryPart[] = [];
  protocol: Protocol | undefined;

  push(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    if (this.protocol === undefined && this.#buffer.length > 0) this.protocol = this.#buffer[0] === 0x80 ? 'binary' : 'text';
  }

  next(): FakeRequest | undefined {
    return this.protocol === 'binary' ? this.#nextBinary() : this.#nextText();
  }

  #nextText(): FakeRequest | undefined {
    const eol = this.#buffer.indexOf(0x0a);
    if (eol < 0) return undefined;
    const lineBytes = this.#buffer.subarray(0, eol);
    const line = lineBytes.toString('latin1').replace(/\r$/, '');
    const words = line.split(' ').filter((w) => w !== '');
    const command = words[0] ?? '';
    const args = words.slice(1);
    let consumed = eol + 1;
    let data: Buffer | undefined;
    if (TEXT_STORAGE.has(command)) {
      const count = Number(args[3]);
      if (Number.isSafeInteger(count) && count >= 0) {
        if (this.#buffer.length < consumed + count + 2) return undefined;
        data = this.#buffer.subarray(consumed, consumed + count);
        consumed += count + 2;
      }
    }
    const raw = this.#buffer.subarray(0, consumed);
    this.#buffer = this.#buffer.subarray(consumed);
    const keyed = TEXT_STORAGE.has(command) || ['delete', 'incr', 'decr', 'touch'].includes(command);
    const keys = command === 'get' || command === 'gets' ? args : keyed ? args.slice(0, 1) : [];
    return {
      protocol: 'text',
      command,
      keys,
      key: keys[0] ?? '',
      line,
      args,
      data: data && Buffer.from(data),
      noreply: args[args.length - 1] === 'noreply',
      parts: [],
      raw: Buffer.from(raw),
    };
  }

  #nextBinary(): FakeRequest | undefined {
    for (;;) {
      if (this.#buffer.length < HEADER_LENGTH) return undefined;
      const b = this.#buffer;
      const header: BinaryHeader = {
        magic: b[0],
        opcode: b[1],
        keylen: b.readUInt16BE(2),
        extlen: b[4],
        datatype: b[5],
        vbucket: b.readUInt16BE(6),
        bodylen: b.readUInt32BE(8),
        opaque: b.readUInt32BE(12),
        cas: b.readBigUInt64BE(16),
      };
      const total = HEADER_LENGTH + header.bodylen;
      if (b.length < total) return undefined;
      const raw = Buffer.from(b.subarray(0, total));
      this.#buffer = b.subarray(total);
      const extras = raw.subarray(HEADER_LENGTH, HEADER_LENGTH + header.extlen);
      const key = raw.subarray(HEADER_LENGTH + header.extlen, HEADER_LENGTH + header.extlen + header.keylen);
      const value = raw.subarray(HEADER_LENGTH + header.extlen + header.keylen);
      const part: BinaryPart = { header, extras, key, value, raw };
      if (header.opcode === OP.GETQ || header.opcode === OP.GETKQ) {
        this.#quiet.push(part);
        continue;
      }
      if (header.opcode === OP.NOOP && this.#quiet.length > 0) {
        const parts = [...this.#quiet, part];
        this.#quiet = [];
        return binaryRequest('mget', parts);
      }
      if (this.#quiet.length > 0) {
        // Quiet gets not closed by a NOOP: hand them over first, the current packet after.
        const parts = this.#quiet;
        this.#quiet = [];
        this.#buffer = Buffer.concat([raw, this.#buffer]);
        return binaryRequest('mget', parts);
      }
      return binaryRequest(opcodeName(header.opcode), [part]);
    }
  }
}

function binaryRequest(command: string, parts: BinaryPart[]): FakeRequest {
  const keys = parts.filter((p) => p.header.keylen > 0).map((p) => p.key.toString('latin1'));
  return {
    protocol: 'binary',
    command,
    keys,
    key: keys[0] ?? '',
    line: '',
    args: [],
    noreply: false,
    parts,
    raw: Buffer.concat(parts.map((p) => p.raw)),
  };
}

// The server -------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What the fake saw, for diagnosing a failing case. */
export interface LoggedRequest {
  connection: number;
  command: string;
  keys: string[];
  action: Action['kind'];
}

export class FakeServer {
  readonly store = new FakeStore();
  readonly log: LoggedRequest[] = [];
  readonly version: string;
  #server: net.Server;
  #sockets = new Set<net.Socket>();
  #connections = 0;
  #script: Script;
  #onConnect: FakeServerOptions['onConnect'];
  port = 0;

  private constructor(options: FakeServerOptions) {
    this.version = options.version ?? '1.6.21';
    this.#script = options.script ?? (() => CORRECT);
    this.#onConnect = options.onConnect;
    this.#server = net.createServer((socket) => this.#accept(socket));
  }

  static async start(options: FakeServerOptions = {}): Promise<FakeServer> {
    const server = new FakeServer(options);
    await new Promise<void>((resolve, reject) => {
      server.#server.once('error', reject);
      server.#server.listen(0, '127.0.0.1', () => resolve());
    });
    server.port = (server.#server.address() as net.AddressInfo).port;
    return server;
  }

  get spec(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Connections accepted so far. */
  get connections(): number {
    return this.#connections;
  }

  async stop(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  #accept(socket: net.Socket): void {
    this.#sockets.add(socket);
    socket.setNoDelay(true);
    const parser = new RequestParser();
    let silent = false;
    let closed = false;
    // Replies leave in request order even when one of them trickles out over time.
    let output: Promise<void> = Promise.resolve();
    const connection: Connection = {
      id: this.#connections++,
      protocol: undefined,
      requests: 0,
      server: this,
      socket,
      scratch: {},
      correct: (request) => correctReply(this, request),
      correctPart: (part) => correctBinaryPart(this, part),
    };
    const gone = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('close', () => {
      closed = true;
      this.#sockets.delete(socket);
    });
    socket.on('error', () => undefined); // a client resetting is part of the game

    const send = async (bytes: Buffer): Promise<void> => {
      if (closed || bytes.length === 0) return;
      if (!socket.write(bytes)) await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), gone]);
    };
    const perform = async (action: Action, request: FakeRequest | undefined): Promise<void> => {
      if (closed) return;
      switch (action.kind) {
        case 'nothing':
          return;
        case 'correct':
          return send(request ? correctReply(this, request) : Buffer.alloc(0));
        case 'close':
          silent = true;
          socket.end();
          return;
        case 'reset':
          silent = true;
          socket.resetAndDestroy();
          return;
        case 'silence':
          silent = true;
          return;
        case 'write': {
          if (action.segment || action.cuts) {
            const ends: number[] = [];
            if (action.cuts) ends.push(...action.cuts.filter((c) => c > 0 && c < action.bytes.length));
            else for (let at = action.segment as number; at < action.bytes.length; at += action.segment as number) ends.push(at);
            ends.push(action.bytes.length);
            let from = 0;
            for (let piece = 0; piece < ends.length && !closed; piece++) {
              if (piece > 0) {
                if (action.delayMs && piece % (action.pauseEvery ?? 1) === 0) await sleep(action.delayMs);
                else await new Promise((resolve) => setImmediate(resolve));
              }
              await send(action.bytes.subarray(from, ends[piece]));
              from = ends[piece];
            }
          } else {
            await send(action.bytes);
          }
          if (action.then === 'close') {
            silent = true;
            socket.end();
          } else if (action.then === 'reset') {
            silent = true;
            socket.resetAndDestroy();
          } else if (action.then === 'silence') {
            silent = true;
          }
          return;
        }
      }
    };
    const enqueue = (action: Action, request?: FakeRequest) => {
      output = output.then(() => perform(action, request)).catch(() => undefined);
    };

    for (const unsolicited of this.#onConnect?.(connection) ?? []) {
      const action: Action = { kind: 'write', bytes: unsolicited.bytes };
      if (unsolicited.delayMs) setTimeout(() => enqueue(action), unsolicited.delayMs);
      else enqueue(action);
    }

    socket.on('data', (chunk: Buffer) => {
      if (silent) return;
      parser.push(chunk);
      connection.protocol = parser.protocol;
      for (let request = parser.next(); request !== undefined && !silent; request = parser.next()) {
        let action: Action;
        try {
          action = this.#script(request, connection);
        } catch (error) {
          // A script bug must show up in the test, not as a hung client: say so on the wire.
          action = writeThenClose(`SERVER_ERROR fake script threw: ${String(error).replace(/\s+/g, ' ')}\r\n`);
        }
        connection.requests++;
        this.log.push({ connection: connection.id, command: request.command, keys: request.keys, action: action.kind });
        // Decided now, so that later requests on this connection are not even read.
        enqueue(action, request);
        const last = action.kind === 'write' ? (action.then ?? 'continue') !== 'continue' : ['silence', 'close', 'reset'].includes(action.kind);
        if (last) {
          silent = true;
          return;
        }
      }
    });
  }
}
