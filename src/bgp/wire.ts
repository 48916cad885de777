/**
 * Big-endian reads and a growing writer, shared by the codecs of this folder. Reads past the
 * end give 0 rather than throwing: every decoder checks lengths first and returns an error, so
 * a 0 here is never used, but a missed check can never become a throw on hostile bytes.
 */

export const u8 = (b: Uint8Array, o: number): number => b[o] ?? 0;

export const u16 = (b: Uint8Array, o: number): number => ((b[o] ?? 0) << 8) | (b[o + 1] ?? 0);

export const u32 = (b: Uint8Array, o: number): number =>
  (((b[o] ?? 0) << 24) | ((b[o + 1] ?? 0) << 16) | ((b[o + 2] ?? 0) << 8) | (b[o + 3] ?? 0)) >>> 0;

/** Appends bytes in network order; `bytes()` gives them as one array. */
export class Writer {
  private readonly parts: Uint8Array[] = [];
  private size = 0;

  get length(): number {
    return this.size;
  }

  u8(n: number): this {
    return this.raw(Uint8Array.of(checked(n, 0xff)));
  }

  u16(n: number): this {
    const v = checked(n, 0xffff);
    return this.raw(Uint8Array.of(v >>> 8, v & 0xff));
  }

  u32(n: number): this {
    const v = checked(n, 0xffff_ffff);
    return this.raw(Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff));
  }

  raw(bytes: Uint8Array): this {
    this.parts.push(bytes);
    this.size += bytes.length;
    return this;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

/** An encoder's input is the program's own: a value that does not fit is a bug, so it throws. */
function checked(n: number, max: number): number {
  if (!Number.isInteger(n) || n < 0 || n > max) {
    throw new RangeError(`${n} does not fit in a field of maximum ${max}`);
  }
  return n;
}

/**
 * A plain Uint8Array copy of `b[start, end)`. Not `b.slice()`: on a Buffer (what a socket
 * gives) that is a view, so a decoded value would change when the socket reuses its memory.
 */
export function copy(b: Uint8Array, start = 0, end = b.length): Uint8Array {
  return new Uint8Array(b.subarray(start, end));
}
