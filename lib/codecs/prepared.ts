/** A value encoded now, or later (a Promise while a large one is compressed off-thread). */
export type { Encoded } from './values';

export type Prepared<T> = T | Promise<T>;

// Not `instanceof Promise`: promises made by Node's own modules may come from another realm
// (a vm context, a jest sandbox). The object test first: looking `then` up on a string (most
// values read) would search String.prototype on every read.
export function isPromise<T>(value: Prepared<T>): value is Promise<T> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
