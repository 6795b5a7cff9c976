/**
 * memcached's text protocol spoken directly over a socket, bypassing every client: to see the
 * exact bytes and flags a client stored, and to store values as another client would.
 */
import * as net from 'node:net';

function exchange(port: number, request: Buffer, complete: (reply: Buffer) => boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = Buffer.alloc(0);
    socket.setTimeout(5000, () => socket.destroy(new Error('raw memcached exchange timed out')));
    socket.on('error', reject);
    socket.on('data', (chunk) => {
      reply = Buffer.concat([reply, chunk]);
      if (complete(reply)) {
        socket.end();
        resolve(reply);
      }
    });
    socket.write(request);
  });
}

export interface RawItem {
  flags: number;
  bytes: Buffer;
}

/** The stored flags and bytes of `key`, or undefined on a miss. */
export async function rawGet(port: number, key: string): Promise<RawItem | undefined> {
  const reply = await exchange(port, Buffer.from(`get ${key}\r\n`), (r) => r.subarray(-5).toString() === 'END\r\n');
  if (reply.toString('latin1', 0, 5) === 'END\r\n') return undefined;
  const headerEnd = reply.indexOf('\r\n');
  const [word, , flags, length] = reply.toString('latin1', 0, headerEnd).split(' ');
  if (word !== 'VALUE') throw new Error(`unexpected reply ${reply.toString('latin1', 0, headerEnd)}`);
  return { flags: Number(flags), bytes: reply.subarray(headerEnd + 2, headerEnd + 2 + Number(length)) };
}

/** Stores `bytes` under `key` with `flags`, as any other client could. */
export async function rawSet(port: number, key: string, flags: number, bytes: Buffer | string): Promise<void> {
  const data = Buffer.from(bytes);
  const reply = await exchange(
    port,
    Buffer.concat([Buffer.from(`set ${key} ${flags} 0 ${data.length}\r\n`), data, Buffer.from('\r\n')]),
    (r) => r.includes('\r\n'),
  );
  if (reply.toString() !== 'STORED\r\n') throw new Error(`raw set failed: ${reply.toString()}`);
}

/**
 * Which of `keys` the server at `port` holds, asked in one `get` line: placement checks look up
 * hundreds of keys, and one connection per key would cost more than the check itself.
 */
export async function rawHas(port: number, keys: string[]): Promise<Set<string>> {
  const found = new Set<string>();
  if (keys.length === 0) return found;
  // Walks the VALUE blocks; the reply is complete when they end with END exactly at its end
  // (a value's own bytes may contain "END\r\n").
  const walk = (reply: Buffer, record: boolean): boolean => {
    let at = 0;
    for (;;) {
      const lineEnd = reply.indexOf('\r\n', at);
      if (lineEnd < 0) return false;
      const line = reply.toString('latin1', at, lineEnd);
      if (line === 'END') return lineEnd + 2 === reply.length;
      const [word, key, , length] = line.split(' ');
      if (word !== 'VALUE') throw new Error(`unexpected reply ${line}`);
      at = lineEnd + 2 + Number(length) + 2;
      if (at > reply.length) return false;
      if (record) found.add(key);
    }
  };
  const reply = await exchange(port, Buffer.from(`get ${keys.join(' ')}\r\n`), (r) => walk(r, false));
  walk(reply, true);
  return found;
}
