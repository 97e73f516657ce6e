// rot13: a hayate example in AssemblyScript (@assemblyscript/wasi-shim). Rotates ASCII letters of stdin
// by 13 places; everything else passes through unchanged.
const chunk = new ArrayBuffer(65536);
for (;;) {
  const n = process.stdin.read(chunk);
  if (n <= 0) break;
  const bytes = Uint8Array.wrap(chunk, 0, n);
  for (let i = 0; i < n; i++) {
    const c = bytes[i];
    if (c >= 65 && c <= 90) bytes[i] = ((c - 65 + 13) % 26) + 65;
    else if (c >= 97 && c <= 122) bytes[i] = ((c - 97 + 13) % 26) + 97;
  }
  process.stdout.write(chunk.slice(0, n));
}
