/**
 * What every decoder returns: the value, or why the input is not one. Decoders never throw
 * on input bytes, whatever they are; a throw is a bug.
 */
export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

export const ok = <T>(value: T): Decoded<T> => ({ ok: true, value });
export const invalid = <T>(error: string): Decoded<T> => ({ ok: false, error });

/** A plain Uint8Array copy of `src[start, end)`, whatever subclass `src` is (Buffer). */
export function copyBytes(src: Uint8Array, start: number, end: number): Uint8Array {
  const out = new Uint8Array(end - start);
  out.set(src.subarray(start, end));
  return out;
}
