/**
 * The real pylibmc, run by the system's python3 (Debian's python3-pylibmc), for interop tests.
 * test/interop/pylibmc_helper.py documents the request format.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Debian's python3: pylibmc is installed for it, not for a python3 that may come first in PATH. */
export const PYTHON = process.env.PYLIBMC_PYTHON ?? '/usr/bin/python3';
const HELPER = path.join(__dirname, '..', 'interop', 'pylibmc_helper.py');

export type PylibmcOp =
  | { op: 'set'; key: string; expr: string; min_compress_len?: number; pickle_protocol?: number }
  | { op: 'set_multi'; mapping: Record<string, string>; key_prefix?: string }
  | { op: 'check'; key: string; expr: string }
  | { op: 'get_multi'; keys: string[]; key_prefix?: string }
  | { op: 'behaviors'; behaviors: Readonly<object> }
  | { op: 'hash'; keys: string[] }
  | { op: 'assign'; behaviors: Readonly<object> };

export interface PylibmcRequest {
  servers: string[];
  binary?: boolean;
  behaviors?: Readonly<object>;
  namespace?: string;
  ops: PylibmcOp[];
}

export interface PylibmcResult {
  ok?: boolean;
  repr?: string;
  type?: string;
  error?: string;
  failed?: string[];
  behaviors?: Record<string, number | string>;
  servers?: number[];
}

/** Throws a clear error at once when there is no python3 to run (rather than a failed spawn's). */
export function requirePython(): string {
  if (!fs.existsSync(PYTHON)) {
    throw new Error(`${PYTHON} not found: the pylibmc tests need Debian's python3 and python3-pylibmc (apt-get install -y python3-pylibmc), or PYLIBMC_PYTHON`);
  }
  return PYTHON;
}

function runHelper(input: unknown): unknown {
  requirePython();
  const run = spawnSync(PYTHON, [HELPER], {
    input: JSON.stringify(input),
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (run.status !== 0) throw new Error(`pylibmc helper failed (${run.status ?? run.signal}): ${run.stderr || run.error}`);
  return JSON.parse(run.stdout);
}

export function runPylibmc(request: PylibmcRequest): PylibmcResult[] {
  return runHelper(request) as PylibmcResult[];
}

/** Many requests in one Python process, each with its own client: one answer per request. */
export function runPylibmcBatch(requests: PylibmcRequest[]): PylibmcResult[][] {
  return runHelper(requests) as PylibmcResult[][];
}
