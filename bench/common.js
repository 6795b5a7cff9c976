// What bench/run.js and bench/handover.js share: their command-line options and the median of
// a workload's windows.
'use strict';

const args = process.argv.slice(2);

/** The value after `--name` on the command line, or `fallback`. */
function option(name, fallback) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
}

/** The median of the windows that counted (NaN: a window whose reads were wrong); undefined if none did. */
function median(values) {
  const s = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (s.length === 0) return undefined;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

module.exports = { option, median };
