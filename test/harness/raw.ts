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
