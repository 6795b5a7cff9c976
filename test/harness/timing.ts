/**
 * The time margins of tests that measure time, stretched for a slower build of the addon.
 *
 * The sanitizer build (`npm run test:sanitize`: ASan/UBSan, -O1) runs the addon and libmemcached
 * several times slower, and on a busy 2-core machine its event loop and I/O threads stall for
 * hundreds of milliseconds (CI recorded stalls of 231–357 ms, and a valid reply read after a
 * 400 ms poll timeout). That build is there to find memory errors, not to time anything, so
 * `scripts/test-sanitize.sh` sets LMC_TEST_TIME_SCALE and the timeouts a test configures and the
 * bounds it asserts grow together: what a test checks (isolation, a bounded wait, a timeout
 * that fires) stays the same, only its scale changes. Unset, the scale is 1.
 */
const raw = process.env.LMC_TEST_TIME_SCALE;
const parsed = raw === undefined || raw === '' ? 1 : Number(raw);
if (!Number.isFinite(parsed) || parsed < 1) throw new Error(`LMC_TEST_TIME_SCALE must be a number >= 1, not ${JSON.stringify(raw)}`);

export const TIME_SCALE = parsed;

/** `ms` at the scale of the build under test, rounded to a whole millisecond. */
export function scaled(ms: number): number {
  return Math.round(ms * TIME_SCALE);
}
