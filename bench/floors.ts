/**
 * The limits every figure is compared with, measured in the same run: a bare NATS request round trip
 * (nats.js echo responder, same server) at a payload size, the same to a responder in another process, the
 * rate of bare nats.js request/reply with calls pipelined (the throughput floor), and an in-process
 * @wasmer/wasi run of the same module.
 */
import { join } from 'node:path';
import { init, WASI } from '@wasmer/wasi';
import type { NatsConnection } from 'nats';
import { spawnUntilReady } from '../services/cli/processes';
import { stopChild } from '../services/common/child-process';
import { asBufferSource } from '../services/common/wasm-module';
import type { Quantiles } from './stats';
import { closedLoop, pacedCalls, perSecond, quantiles, usSince } from './stats';

/** 50 requests to the responder on `subject` before it is measured. */
async function warmUp(nc: NatsConnection, subject: string): Promise<void> {
  for (let i = 0; i < 50; i += 1) await nc.request(subject, Buffer.from('warm'));
}

/** Runs `body` with a nats.js echo responder on a subject of our own (the same server as hayate's). */
async function withEcho<T>(nc: NatsConnection, body: (subject: string) => Promise<T>): Promise<T> {
  const subject = `bench.echo.${process.pid}`;
  const sub = nc.subscribe(subject, { callback: (_err, msg) => msg.respond(msg.data) });
  try {
    await warmUp(nc, subject);
    return await body(subject);
  } finally {
    sub.unsubscribe();
  }
}

/**
 * Runs `body` with an echo responder in a process of its own (bench/echo-responder.ts, a bare nats.js client
 * as an invoker is) on the same server as `nc` (`servers`).
 * @throws HayateError HAYATE_ERR_UNAVAILABLE when the responder does not start within 10 s
 */
async function withEchoProcess<T>(nc: NatsConnection, servers: string, body: (subject: string) => Promise<T>): Promise<T> {
  const subject = `bench.echo-process.${process.pid}`;
  const { child } = await spawnUntilReady(process.execPath, [join(__dirname, 'echo-responder.js'), servers, subject], /^ready$/, { timeoutMs: 10_000, label: 'echo responder' });
  try {
    await warmUp(nc, subject);
    return await body(subject);
  } finally {
    await stopChild(child, 5000);
  }
}

/** `count` sequential requests (or fewer, past `budgetMs`) on `subject`: their round trips. */
async function sequentialRoundTrips(nc: NatsConnection, subject: string, count: number, payload: Buffer, budgetMs: number): Promise<Quantiles> {
  const loop = await closedLoop(1, { calls: count, ms: budgetMs, minCalls: 5 }, async () => (await nc.request(subject, payload, { timeout: 5000 }), true));
  return quantiles(loop.samples);
}

/** `count` requests on `subject`, each sent `idleMs` after the previous answer: their round trips. */
async function idleRoundTrips(nc: NatsConnection, subject: string, count: number, idleMs: number): Promise<Quantiles> {
  const payload = Buffer.from('hello, edge!');
  return quantiles(await pacedCalls(count, idleMs, () => nc.request(subject, payload, { timeout: 5000 })));
}

/** Round trip of `count` sequential requests (or fewer, past `budgetMs`) to an echo responder. @default payload 12 B */
export async function natsRoundTrip(nc: NatsConnection, count: number, payload: Buffer = Buffer.from('hello, edge!'), budgetMs = 30_000): Promise<Quantiles> {
  return withEcho(nc, (subject) => sequentialRoundTrips(nc, subject, count, payload, budgetMs));
}

/**
 * Round trip of `count` requests to an echo responder, each sent `idleMs` after the previous answer: every
 * process on the way has gone to sleep, as before a first call or on a node called now and then. On a
 * paravirtualised guest a wake-up after idle costs far more than one in a busy loop: this is that floor.
 */
export async function natsRoundTripAfterIdle(nc: NatsConnection, count: number, idleMs = 10): Promise<Quantiles> {
  return withEcho(nc, (subject) => idleRoundTrips(nc, subject, count, idleMs));
}

/**
 * The round trip of a request to an echo responder in another process, back to back and each request
 * `idleMs` after the previous answer: the least any call to an invoker process costs, with the wake-up of one
 * more process than the echo of `natsRoundTrip` (whose responder shares the caller's connection).
 * @param servers the NATS URL of `nc`'s server
 */
export async function natsRoundTripOtherProcess(nc: NatsConnection, servers: string, count: number, idleMs = 10): Promise<{ busy: Quantiles; idle: Quantiles }> {
  return withEchoProcess(nc, servers, async (subject) => {
    const busy = await sequentialRoundTrips(nc, subject, count, Buffer.from('hello, edge!'), 30_000);
    return { busy, idle: await idleRoundTrips(nc, subject, count, idleMs) };
  });
}

/** Bare request/reply rate, `concurrency` requests in flight for `ms`: the throughput floor of a call over NATS. */
export async function natsThroughput(nc: NatsConnection, concurrency: number, ms: number): Promise<{ calls_per_s: number } & Quantiles> {
  return withEcho(nc, async (subject) => {
    const payload = Buffer.from('hello, edge!    ');
    const loop = await closedLoop(concurrency, { ms }, async () => (await nc.request(subject, payload, { timeout: 5000 }), true));
    return { calls_per_s: perSecond(loop), ...quantiles(loop.samples) };
  });
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
  const loop = await closedLoop(1, { calls: count, ms: budgetMs, minCalls: 5 }, async () => {
    const wasi = new WASI({ args: argv, env: {} });
    wasi.fs.createDir('/tmp');
    const instance = wasi.instantiate(compiled, {});
    if (input.byteLength > 0) wasi.setStdinBuffer(input);
    wasi.start(instance);
    wasi.getStdoutBuffer();
    wasi.free();
    return true;
  });
  return quantiles(loop.samples);
}

/**
 * Compile and first run of modules this process has never seen (one sample per module: pass modules that
 * differ, e.g. by a custom section): what a first call costs with no platform at all.
 */
export async function wasmFirstRun(modules: Uint8Array[], argv: string[], input: Buffer): Promise<Quantiles> {
  const samples: number[] = [];
  for (const module of modules) {
    const t0 = performance.now();
    await wasmInProcess(module, argv, input, 1, 0);
    samples.push(usSince(t0));
  }
  return quantiles(samples);
}
