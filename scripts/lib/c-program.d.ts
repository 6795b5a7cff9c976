// Types of c-program.js, for the tests.

/** Compiles the C file `source` against the bundled static libmemcached into `out`; returns `out`. */
export function buildCProgram(source: string, out: string): string;
