/**
 * The committed pickles of test/fixtures/pickles.json, which the unit tests read in place of
 * running Python, are still what this machine's CPython writes: each snippet run live, as
 * test/fixtures/pickles.py ran it, must print the same bytes.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { requirePython } from '../harness/pylibmc';

const FIXTURE: Record<string, string[]> = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'pickles.json'), 'utf8')).pickles;

test('the fixture holds pickles', () => {
  expect(Object.keys(FIXTURE).length).toBeGreaterThan(20);
});

test.each(Object.entries(FIXTURE).map(([code, lines], i) => [i, code, lines] as const))(
  'snippet %i prints the committed pickles',
  (_i, code, lines) => {
    const run = spawnSync(requirePython(), ['-c', `import pickle, sys\n${code}`], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`python3: ${run.stderr || run.error}`);
    // If this fails after a Python upgrade, regenerate: /usr/bin/python3 test/fixtures/pickles.py
    expect(run.stdout.trim().split('\n')).toEqual(lines);
  },
);
