/** Module fixtures made from the built examples. */

/** Encodes an unsigned LEB128 integer. */
export function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

/**
 * Appends a custom section so the module is at least `bytes` long. Custom sections are valid WebAssembly
 * and ignored when run: the module behaves as before but is as big as a real large application.
 */
export function padModule(module: Uint8Array, bytes: number): Buffer {
  const name = Buffer.from('hayate.padding');
  const payloadLen = Math.max(0, bytes - module.byteLength) + 1;
  const payload = Buffer.alloc(payloadLen);
  for (let i = 0; i < payload.length; i += 1) payload[i] = (i * 31 + 7) & 0xff;
  const content = Buffer.concat([Buffer.from(leb(name.length)), name, payload]);
  return Buffer.concat([Buffer.from(module), Buffer.from([0]), Buffer.from(leb(content.length)), content]);
}
