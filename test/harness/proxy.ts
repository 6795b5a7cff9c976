/**
 * A TCP proxy for fault tests, in front of a real memcached: forwards bytes unchanged, or with
 * added latency, resets connections, stops forwarding, or stops accepting, switchable at run time.
 *
 * It runs in the test process rather than a child. Mode switches then take effect
 * synchronously, between two awaits of the test, with no messaging and no race with the load,
 * and everything it owns is closed by `close()` or dies with the test process. A child measured
 * no better: 16 callers doing set-then-get through one memcached, 9 interleaved windows of
 * 0.7 s on the 2-core machine, medians of 97k ops/s direct, 66k through this proxy in process
 * and 68k through the same proxy in a child (each window anywhere from half to twice its median:
 * the machine is shared). In the fault tests little goes through it while measurements are
 * taken (in latency mode its throughput is bounded by the delay, in pause mode it is nil).
 */
import * as net from 'node:net';

export type ProxyMode =
  /** Every byte forwarded as it comes. */
  | { kind: 'pass' }
  /** Every chunk held for this long in its direction, order preserved (0 = no delay). */
  | { kind: 'latency'; toClientMs: number; toServerMs?: number }
  /**
   * Connections reset with a RST (to the client; the server side is closed too): all of them
   * every `everyMs`, and each one once `afterBytes` have passed through it (both directions
   * counted; the chunk that crosses the limit is cut there, so a reply can end mid-value).
   */
  | { kind: 'reset'; everyMs?: number; afterBytes?: number }
  /** Nothing forwarded; sockets stay open, new connections are accepted and held the same way. */
  | { kind: 'pause' };

export interface ProxyStats {
  accepted: number;
  resets: number;
  /** Bytes forwarded client → server and server → client. */
  toServer: number;
  toClient: number;
}

export interface Proxy {
  /** 'host:port' of the proxy, for a Client. */
  spec: string;
  port: number;
  readonly mode: ProxyMode;
  readonly stats: ProxyStats;
  /** Connections open now (client side). */
  readonly open: number;
  setMode(mode: ProxyMode): void;
  /** false: stop listening (connects are refused, open connections go on); true: listen again on the same port. */
  setAccepting(accepting: boolean): Promise<void>;
  /** Closes the listener, destroys every socket and timer; resolves once the listener is closed. */
  close(): Promise<void>;
}

/** A chunk waiting for its time in one direction. */
interface Held {
  due: number;
  chunk: Buffer;
}

/**
 * One direction of one connection. Every chunk goes through a FIFO with a due time that never
 * decreases, so a shorter delay (or pass-through) after a longer one never overtakes bytes still
 * held: memcached's replies must arrive in order or the client reads the wrong answers.
 */
class Pipe {
  #queue: Held[] = [];
  #lastDue = 0;
  #timer: NodeJS.Timeout | undefined;
  #held = false;

  constructor(
    private readonly to: net.Socket,
    private readonly sent: (bytes: number) => void,
  ) {}

  push(chunk: Buffer, delayMs: number): void {
    const due = Math.max(performance.now() + delayMs, this.#lastDue);
    this.#lastDue = due;
    this.#queue.push({ due, chunk });
    this.#drain();
  }

  /** Held: nothing leaves until released (pause mode). */
  hold(held: boolean): void {
    this.#held = held;
    if (!held) this.#drain();
  }

  #drain = (): void => {
    this.#timer = undefined;
    if (this.#held || this.to.destroyed) return;
    const now = performance.now();
    while (this.#queue.length > 0 && this.#queue[0].due <= now) {
      const { chunk } = this.#queue.shift() as Held;
      this.to.write(chunk);
      this.sent(chunk.length);
    }
    if (this.#queue.length > 0 && this.#timer === undefined) {
      this.#timer = setTimeout(this.#drain, Math.max(0, this.#queue[0].due - now));
    }
  };

  destroy(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue = [];
  }
}

interface Connection {
  client: net.Socket;
  server: net.Socket;
  toServer: Pipe;
  toClient: Pipe;
  /** Bytes through it since it was opened, for `afterBytes`. */
  bytes: number;
  /** Cut at its byte budget: nothing more forwarded, a reset on its way. */
  cut: boolean;
  closed: boolean;
}

/** Starts a proxy on a free loopback port that forwards to `target` (host 127.0.0.1 unless given). */
export async function startProxy(target: { host?: string; port: number }, initial: ProxyMode = { kind: 'pass' }): Promise<Proxy> {
  const targetHost = target.host ?? '127.0.0.1';
  const connections = new Set<Connection>();
  const stats: ProxyStats = { accepted: 0, resets: 0, toServer: 0, toClient: 0 };
  let mode: ProxyMode = initial;
  let resetTimer: NodeJS.Timeout | undefined;
  let closing = false;

  const teardown = (c: Connection, reset: boolean) => {
    if (c.closed) return;
    c.closed = true;
    connections.delete(c);
    c.toServer.destroy();
    c.toClient.destroy();
    // resetAndDestroy sends a RST instead of a FIN: the client sees ECONNRESET, as when a
    // middlebox or a crashed host drops the connection, not an orderly close.
    if (reset) {
      stats.resets++;
      c.client.resetAndDestroy();
      c.server.resetAndDestroy();
    } else {
      c.client.destroy();
      c.server.destroy();
    }
  };

  /** Forwards `chunk` in one direction, minding the byte budget of the reset mode. */
  const forward = (c: Connection, pipe: Pipe, chunk: Buffer, delayMs: number) => {
    if (c.closed || c.cut) return;
    if (mode.kind === 'reset' && mode.afterBytes !== undefined) {
      const room = mode.afterBytes - c.bytes;
      if (chunk.length >= room) {
        // Cut exactly at the limit: what fits goes out now (behind anything still held), then the RST
        // 10 ms later. Sent right behind the bytes, the RST would find them still unread, and
        // Linux then reports end of stream, not ECONNRESET, after them: a close, not a reset.
        // Nothing more is read or forwarded on this connection meanwhile.
        if (room > 0) pipe.push(chunk.subarray(0, room), 0);
        c.bytes += Math.max(room, 0);
        c.cut = true;
        c.client.pause();
        c.server.pause();
        setTimeout(() => teardown(c, true), 10);
        return;
      }
    }
    c.bytes += chunk.length;
    pipe.push(chunk, delayMs);
  };

  const applyMode = () => {
    if (resetTimer !== undefined) clearInterval(resetTimer);
    resetTimer = undefined;
    for (const c of connections) applyTo(c);
    if (mode.kind === 'reset' && mode.everyMs !== undefined) {
      resetTimer = setInterval(() => {
        for (const c of [...connections]) teardown(c, true);
      }, mode.everyMs);
    }
  };

  const applyTo = (c: Connection) => {
    const paused = mode.kind === 'pause';
    c.toServer.hold(paused);
    c.toClient.hold(paused);
    // Paused: stop reading too, so the bytes wait in the kernel as they would in front of a
    // stopped process, instead of piling up here.
    if (paused) {
      c.client.pause();
      c.server.pause();
    } else {
      c.client.resume();
      c.server.resume();
    }
  };

  const accept = (client: net.Socket) => {
    if (closing) {
      client.destroy();
      return;
    }
    stats.accepted++;
    const server = net.connect({ host: targetHost, port: target.port, noDelay: true });
    const c: Connection = {
      client,
      server,
      bytes: 0,
      cut: false,
      closed: false,
      toServer: new Pipe(server, (n) => (stats.toServer += n)),
      toClient: new Pipe(client, (n) => (stats.toClient += n)),
    };
    connections.add(c);
    client.on('data', (chunk: Buffer) => forward(c, c.toServer, chunk, mode.kind === 'latency' ? (mode.toServerMs ?? 0) : 0));
    server.on('data', (chunk: Buffer) => forward(c, c.toClient, chunk, mode.kind === 'latency' ? mode.toClientMs : 0));
    // Either side ending or failing ends both: a half-open proxied connection would look like a
    // hung server to the other side, which is not the fault asked for.
    for (const socket of [client, server]) {
      socket.on('error', () => teardown(c, false));
      socket.on('close', () => teardown(c, false));
      socket.on('end', () => teardown(c, false));
    }
    applyTo(c);
  };

  // A new listener each time accepting resumes: a closed net.Server's close callback waits for
  // every connection it accepted to end, and those must go on while it does not listen.
  let listener: net.Server | undefined;
  const listen = (port: number) =>
    new Promise<net.Server>((resolve, reject) => {
      const next = net.createServer({ noDelay: true }, accept);
      next.once('error', reject);
      next.listen(port, '127.0.0.1', () => {
        next.off('error', reject);
        next.on('error', () => undefined);
        resolve(next);
      });
    });
  listener = await listen(0);
  const port = (listener.address() as net.AddressInfo).port;
  applyMode();

  return {
    spec: `127.0.0.1:${port}`,
    port,
    get mode() {
      return mode;
    },
    stats,
    get open() {
      return connections.size;
    },
    setMode(next: ProxyMode) {
      mode = next;
      applyMode();
    },
    async setAccepting(accepting: boolean) {
      if (accepting && listener === undefined) {
        listener = await listen(port);
      } else if (!accepting && listener !== undefined) {
        // Closed at once (connects are refused from now on); its open connections go on.
        listener.close();
        listener = undefined;
      }
    },
    async close() {
      closing = true;
      if (resetTimer !== undefined) clearInterval(resetTimer);
      resetTimer = undefined;
      for (const c of [...connections]) teardown(c, false);
      const last = listener;
      listener = undefined;
      // Every connection is destroyed by now, so its close callback comes at once.
      if (last !== undefined) await new Promise<void>((resolve) => last.close(() => resolve()));
    },
  };
}
