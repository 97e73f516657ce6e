/**
 * Functions whose calls kill the worker running them (issue 11, finding 1; SPEC §7): after `threshold`
 * deaths within `windowMs`, a function's deployed version is quarantined on this invoker and its calls are
 * refused HAYATE_ERR_QUARANTINED until it is redeployed (a new version), instead of taking worker after
 * worker. Invoker deaths are bounded by the invocation client (it stops re-sending after `maxDeaths`).
 */
import { HayateError } from '../common/errors';

interface Record {
  /** Times of recent worker deaths under this version's calls. */
  deaths: number[];
  /** Why it is quarantined; '' while it is not. */
  reason: string;
}

export class Quarantine {
  private readonly versions = new Map<string, Record>();

  /**
   * @param threshold worker deaths that quarantine a version @default 2
   * @param windowMs within how long @default 600000
   */
  constructor(
    private readonly threshold = 2,
    private readonly windowMs = 600_000,
  ) {}

  /**
   * Notes that a call of `fn` at `version` killed its worker.
   * @returns the quarantine reason when this death quarantined it, else ''
   */
  death(fn: string, version: number, what: string): string {
    const key = `${fn}@${version}`;
    const now = Date.now();
    const record = this.versions.get(key) ?? { deaths: [], reason: '' };
    record.deaths = [...record.deaths.filter((t) => now - t < this.windowMs), now];
    this.versions.set(key, record);
    if (record.reason !== '' || record.deaths.length < this.threshold) return '';
    record.reason = `quarantined: its calls killed ${record.deaths.length} WASM workers within ${Math.round(this.windowMs / 1000)} s (last: ${what}); redeploy it to lift this`;
    return record.reason;
  }

  /**
   * @throws HayateError HAYATE_ERR_QUARANTINED when `fn` at `version` is quarantined
   */
  check(fn: string, version: number): void {
    const reason = this.versions.get(`${fn}@${version}`)?.reason;
    if (reason) throw new HayateError('HAYATE_ERR_QUARANTINED', `Cannot run ${fn} version ${version} as it is ${reason}`);
  }

  /** Forgets every version of `fn` but `keep` (a redeploy or delete). */
  forget(fn: string, keep = -1): void {
    for (const key of [...this.versions.keys()]) if (key.startsWith(`${fn}@`) && key !== `${fn}@${keep}`) this.versions.delete(key);
  }
}
