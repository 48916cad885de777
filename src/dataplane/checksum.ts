/** The Internet checksum (RFC 1071) and the ICMPv6 pseudo-header sum (RFC 8200 8.1). */

/** Adds 16-bit big-endian words of `data` to `sum` (an odd last byte is padded with 0). */
function addWords(sum: number, data: Uint8Array): number {
  const n = data.length;
  let i = 0;
  for (; i + 1 < n; i += 2) sum += ((data[i] ?? 0) << 8) | (data[i + 1] ?? 0);
  if (i < n) sum += (data[i] ?? 0) << 8;
  return sum;
}

function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** The ones' complement of the ones' complement sum of `data`. */
export function internetChecksum(data: Uint8Array): number {
  return ~fold(addWords(0, data)) & 0xffff;
}

/**
 * ICMPv6 checksum of `message` (its checksum field included as it is) between `src` and
 * `dst`. Computing it over a message whose checksum field holds 0 gives the value to write
 * there; computing it over a received message gives 0 when the message is intact.
 */
export function icmpv6Checksum(src: Uint8Array, dst: Uint8Array, message: Uint8Array): number {
  let sum = addWords(0, src);
  sum = addWords(sum, dst);
  sum += Math.floor(message.length / 0x10000) + (message.length & 0xffff); // upper-layer length
  sum += 58; // next header: ICMPv6
  sum = addWords(sum, message);
  return ~fold(sum) & 0xffff;
}
