import { RequestStrategy } from 'nats';
import type { NatsConnection } from 'nats';
import type { InvokerStatus } from '../common/codec';
import { decodeInvokerStatus } from '../common/codec';
import type { Subjects } from '../common/subjects';

/**
 * Asks every invoker for its status (`hayate.v1.status`, no queue group) and collects the answers until
 * none has arrived for `stallMs`, or `maxWaitMs` passed.
 * @param stallMs quiet time after the last answer @default 150
 * @param maxWaitMs upper bound @default 1500
 */
export async function gatherStatus(nc: NatsConnection, subjects: Subjects, stallMs = 150, maxWaitMs = 1500): Promise<InvokerStatus[]> {
  const out: InvokerStatus[] = [];
  try {
    const answers = await nc.requestMany(subjects.status(), new Uint8Array(0), { strategy: RequestStrategy.JitterTimer, jitter: stallMs, maxWait: maxWaitMs });
    for await (const msg of answers) {
      if (msg.data.byteLength === 0) continue; // the no-responders status message
      try {
        out.push(decodeInvokerStatus(msg.data));
      } catch {
        // a malformed answer from one invoker must not hide the others
      }
    }
  } catch {
    // no responders: no invoker is running
  }
  return out.sort((a, b) => a.invokerId.localeCompare(b.invokerId));
}

/** The JSON form of invokers' status (SPEC §3), as `GET /v1/status` and `hayate status --json` show it. */
export function statusView(invokers: InvokerStatus[]): Record<string, unknown> {
  const tier = (t: { invocations: number; errors: number; p50Us: number; p99Us: number }) => ({ invocations: t.invocations, errors: t.errors, p50_us: t.p50Us, p99_us: t.p99Us });
  return {
    invokers: invokers.map((s) => ({
      id: s.invokerId,
      state: s.state,
      site: s.site,
      hostname: s.hostname,
      pid: s.pid,
      started_at: new Date(s.startedUnixMs).toISOString(),
      workers: s.workers,
      in_flight: s.inFlight,
      invocations: s.invocations,
      container_tier: s.containerTier,
      container_reason: s.containerReason,
      module_cache_bytes: s.moduleCacheBytes,
      bundle_cache_bytes: s.bundleCacheBytes,
      bundle_fetches: s.bundleFetches,
      bundle_fetch_bytes: s.bundleFetchBytes,
      functions: s.functions.map((f) => ({
        name: f.name,
        state: f.state,
        digest: f.digest,
        in_flight: f.inFlight,
        last_error: f.lastError,
        transitions: f.transitions.map((x) => ({ from: x.from, to: x.to, reason: x.reason, at: new Date(x.atUnixMs).toISOString() })),
        wasm: tier(f.wasm),
        container: tier(f.container),
      })),
    })),
  };
}
