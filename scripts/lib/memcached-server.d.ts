// Types of memcached-server.js, for the tests (test/harness/memcached.ts re-exports them).
/// <reference types="node" />
import type * as net from 'node:net';

export interface MemcachedServer {
  /** The spec to hand a Client: 'host:port' or the socket path. */
  spec: string;
  host: string;
  port: number;
  socket?: string;
  pid: number;
  /** SIGTERM (SIGKILL after 2 s); resolves once the process is gone. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash: no goodbye to the clients. Resolves once the process is gone. */
  kill(): Promise<void>;
}

export interface StartOptions {
  /** Listen on a UNIX socket instead of TCP. */
  unix?: boolean;
  /** A UNIX socket at this path, in a folder of the caller's (left there on stop, so that a server can be started there again). */
  socket?: string;
  /** Also listen for UDP on the same port number. */
  udp?: boolean;
  /** Extra command-line arguments for memcached. */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  host?: string;
  /** A fixed port (to bring a stopped server back where it was); otherwise a free one. */
  port?: number;
  /** The memcached binary to run; memcachedBinary() by default. */
  executable?: string;
}

/** The memcached to run: $MEMCACHED_BIN, else the first one on PATH; throws when there is none. */
export function memcachedBinary(): string;
/** A TCP port nothing listens on at the moment, on `host` (127.0.0.1 by default). */
export function freePort(host?: string): Promise<number>;
/** Whether a connection to `options` succeeds now. */
export function canConnect(options: net.NetConnectOpts): Promise<boolean>;
/** Resolves once something accepts connections on host:port; rejects after `ms` (10 s). */
export function waitForPort(port: number, host?: string, ms?: number): Promise<void>;
/** Starts memcached with `options.args` and resolves once it accepts connections. */
export function startMemcached(options?: StartOptions): Promise<MemcachedServer>;
