/**
 * The limits every figure is compared with, measured in the same run: a bare NATS request round trip
 * (nats.js echo responder, same server) and an in-process @wasmer/wasi run of the same module.
 */
import { init, WASI } from '@wasmer/wasi';
import type { NatsConnection } from 'nats';
import { asBufferSource } from '../services/common/wasm-module';
import type { Quantiles } from './stats';
import { quantiles, usSince } from './stats';

/** Round trip of `count` sequential requests to an echo responder on a subject of our own. */
export async function natsRoundTrip(nc: NatsConnection, count: number): Promise<Quantiles> {
  const subject = `bench.echo.${process.pid}`;
  const sub = nc.subscribe(subject, { callback: (_err, msg) => msg.respond(msg.data) });
  const payload = Buffer.from('hello, edge!');
  for (let i = 0; i < 50; i += 1) await nc.request(subject, payload);
  const samples: number[] = [];
  for (let i = 0; i < count; i += 1) {
    const t0 = performance.now();
    await nc.request(subject, payload, { timeout: 5000 });
    samples.push(usSince(t0));
  }
  sub.unsubscribe();
  return quantiles(samples);
}

let ready: Promise<void> | null = null;

/**
 * Runs `module` `count` times in this process the plain way (new WASI, instantiate, start, read stdout,
 * free), i.e. what a single-process runtime pays per call without any bus or worker hand-off.
 */
export async function wasmInProcess(module: Uint8Array, argv: string[], input: Buffer, count: number, budgetMs: number): Promise<Quantiles> {
  ready ??= init().then(() => undefined);
  await ready;
  const compiled = await WebAssembly.compile(asBufferSource(module));
  const samples: number[] = [];
  const deadline = performance.now() + budgetMs;
  for (let i = 0; i < count && (i < 5 || performance.now() < deadline); i += 1) {
    const t0 = performance.now();
    const wasi = new WASI({ args: argv, env: {} });
    wasi.fs.createDir('/tmp');
    const instance = wasi.instantiate(compiled, {});
    if (input.byteLength > 0) wasi.setStdinBuffer(input);
    wasi.start(instance);
    wasi.getStdoutBuffer();
    wasi.free();
    samples.push(usSince(t0));
  }
  return quantiles(samples);
}
