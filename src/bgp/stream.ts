import { decodeHeader, HEADER_LEN } from "./header.js";
import { decodeMessage, type Message } from "./message.js";
import type { BgpResult } from "./notification.js";

/**
 * Messages out of a TCP byte stream: bytes arrive in chunks that cut messages anywhere or hold
 * several. `push` returns the messages completed by a chunk, in order, each as
 * `decodeMessage` returns it. The header is checked as soon as its 19 bytes are in
 * (`decodeHeader`), so a bad marker or length is reported before the body is awaited. After
 * the first error the stream is broken (the session sends that NOTIFICATION and closes):
 * later pushes return nothing.
 */
export class MessageStream {
  private buffered: Uint8Array = new Uint8Array(0);
  private broken = false;

  push(chunk: Uint8Array): BgpResult<Message>[] {
    if (this.broken) return [];
    this.buffered = this.buffered.length === 0 ? chunk : concat(this.buffered, chunk);
    const out: BgpResult<Message>[] = [];
    let offset = 0;
    while (this.buffered.length - offset >= HEADER_LEN) {
      const header = decodeHeader(this.buffered.subarray(offset, offset + HEADER_LEN));
      if (!header.ok) {
        out.push(header);
        this.fail();
        return out;
      }
      const end = offset + header.value.length;
      if (end > this.buffered.length) break;
      const m = decodeMessage(this.buffered.subarray(offset, end));
      out.push(m);
      offset = end;
      if (!m.ok) {
        this.fail();
        return out;
      }
    }
    // Keep only the unread tail, copied (also out of a Buffer, whose slice() is a view) so a
    // large chunk is not held for a few bytes.
    if (offset > 0) this.buffered = new Uint8Array(this.buffered.subarray(offset));
    return out;
  }

  /** Bytes received but not yet a whole message. */
  get pending(): number {
    return this.buffered.length;
  }

  private fail(): void {
    this.broken = true;
    this.buffered = new Uint8Array(0);
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
