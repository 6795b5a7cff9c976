/**
 * The real pylibmc, run by the system's python3 (Debian's python3-pylibmc), for interop tests.
 * test/interop/pylibmc_helper.py documents the request format.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

/** Debian's python3: pylibmc is installed for it, not for a python3 that may come first in PATH. */
export const PYTHON = process.env.PYLIBMC_PYTHON ?? '/usr/bin/python3';
const HELPER = path.join(__dirname, '..', 'interop', 'pylibmc_helper.py');

export type PylibmcOp =
  | { op: 'set'; key: string; expr: string; min_compress_len?: number; pickle_protocol?: number }
  | { op: 'set_multi'; mapping: Record<string, string>; key_prefix?: string }
  | { op: 'check'; key: string; expr: string }
  | { op: 'get_multi'; keys: string[]; key_prefix?: string }
  | { op: 'behaviors'; behaviors: Record<string, unknown> }
  | { op: 'hash'; keys: string[] };

export interface PylibmcRequest {
  servers: string[];
  binary?: boolean;
  behaviors?: Record<string, unknown>;
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

export function runPylibmc(request: PylibmcRequest): PylibmcResult[] {
  const run = spawnSync(PYTHON, [HELPER], { input: JSON.stringify(request), encoding: 'utf8', timeout: 60_000 });
  if (run.status !== 0) throw new Error(`pylibmc helper failed (${run.status ?? run.signal}): ${run.stderr || run.error}`);
  return JSON.parse(run.stdout) as PylibmcResult[];
}
