/**
 * What carrying files costs a call: the same program (test/fixtures/bundles/files.c) deployed without files
 * and with a 50 MiB bundle, called warm a few hundred times each, interleaved (A B C A B C …) so that the
 * machine's load falls on all alike. Prints p50 and p99 of the invoker's total (Server-Timing `total`) and of
 * the HTTP round trip.
 *
 *   node dist/bench/bundle-cost.js [--calls N] [--bundle-mb M]
 *
 *   A  no files,             `ls /`
 *   B  50 MiB bundle at /,   `ls /`                (the bundle's root is listed: its nodes are made per run)
 *   C  50 MiB bundle at /,   `cat /small.txt`      (a 1 KiB file read out of the shared bytes)
 */
import { parseArgs } from 'node:util';
import { HttpClient } from '../services/cli/http-client';
import { startLocalCluster } from '../services/common/local-cluster';
import { tarFrom } from '../services/cli/pack-dir';
import { filesWasm } from '../test/helpers/bundles';
import { quantiles, usSince } from './stats';

const MiB = 1024 * 1024;

interface Variant {
  name: string;
  fn: string;
  args: string[];
  total: number[];
  roundTrip: number[];
}

function serverTotalUs(header: string | null): number {
  const m = /total;dur=([\d.]+)/.exec(header ?? '');
  return m === null ? 0 : Number(m[1]) * 1000;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { calls: { type: 'string', default: '300' }, 'bundle-mb': { type: 'string', default: '50' } } });
  const calls = Number(values.calls);
  const bundleMb = Number(values['bundle-mb']);
  const cluster = await startLocalCluster({ invokers: 1, env: { HAYATE_DEAD_AFTER_MS: '30000' } });
  try {
    const client = new HttpClient(cluster.http);
    const tar = await tarFrom((t) => {
      t.entry({ name: 'big.bin', mode: 0o644 }, Buffer.alloc(bundleMb * MiB, 7));
      t.entry({ name: 'small.txt', mode: 0o644 }, Buffer.alloc(1024, 0x61));
    });
    const wasm = filesWasm();
    const t0 = performance.now();
    const bundle = await client.putBundle(tar);
    process.stderr.write(`bundle of ${bundle.bytes} bytes uploaded in ${Math.round(usSince(t0) / 1000)} ms\n`);
    await client.deploy('plain', wasm, { policy: 'wasm' });
    await client.deploy('carrying', wasm, { policy: 'wasm', files: bundle.digest });
    const variants: Variant[] = [
      { name: 'A no files, ls /', fn: 'plain', args: ['ls', '/'], total: [], roundTrip: [] },
      { name: `B ${bundleMb} MiB bundle, ls /`, fn: 'carrying', args: ['ls', '/'], total: [], roundTrip: [] },
      { name: `C ${bundleMb} MiB bundle, cat /small.txt`, fn: 'carrying', args: ['cat', '/small.txt'], total: [], roundTrip: [] },
    ];
    // warm: modules compiled, bundle fetched and sent to the workers
    for (let i = 0; i < 20; i += 1) for (const v of variants) await client.invoke(v.fn, Buffer.alloc(0), { args: v.args });
    for (let i = 0; i < calls; i += 1) {
      for (const v of variants) {
        const start = performance.now();
        const r = await client.invoke(v.fn, Buffer.alloc(0), { args: v.args });
        if (r.status !== 200) throw new Error(`${v.fn} answered ${r.status}: ${r.body.toString()}`);
        v.roundTrip.push(usSince(start));
        v.total.push(serverTotalUs(r.headers.get('server-timing')));
      }
    }
    const status = (await client.status()) as { invokers: { bundle_cache_bytes: number; bundle_fetches: number }[] };
    process.stdout.write(`per-call cost, ${calls} warm calls each, interleaved (µs)\n`);
    process.stdout.write(`${'variant'.padEnd(34)} ${'invoker total p50'.padStart(18)} ${'p99'.padStart(8)} ${'round trip p50'.padStart(15)} ${'p99'.padStart(8)}\n`);
    for (const v of variants) {
      const tq = quantiles(v.total);
      const rq = quantiles(v.roundTrip);
      process.stdout.write(`${v.name.padEnd(34)} ${String(tq.p50).padStart(18)} ${String(tq.p99).padStart(8)} ${String(rq.p50).padStart(15)} ${String(rq.p99).padStart(8)}\n`);
    }
    const inv = status.invokers[0];
    process.stdout.write(`invoker: bundle_cache_bytes ${inv?.bundle_cache_bytes ?? 0}, bundle_fetches ${inv?.bundle_fetches ?? 0} for ${calls * 2 + 40} calls with files\n`);
  } finally {
    await cluster.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bundle-cost: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
