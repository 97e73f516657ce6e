/**
 * The invoker's view of deployed functions: a local copy of the `hayate_functions` KV kept current by a
 * watch, so a redeploy takes effect on the next call without a restart and a call needs no KV round trip.
 */
import type { FunctionSpec } from '../common/codec';
import type { FunctionDefaults } from '../common/config';
import { withDefaults } from '../common/function-defaults';
import type { Logger } from '../common/logger';
import type { FunctionName } from '../common/names';
import type { FunctionEvent, FunctionStore } from '../common/store';

export class SpecCache {
  private readonly specs = new Map<string, FunctionSpec>();
  private readonly abort = new AbortController();
  private readonly listeners: ((event: FunctionEvent, previous: FunctionSpec | undefined) => void)[] = [];

  /** @param defaults limits for specs that leave one unset (applied once here, see function-defaults.ts) */
  constructor(
    private readonly store: FunctionStore,
    private readonly defaults: Readonly<FunctionDefaults>,
    private readonly log: Logger,
  ) {}

  /** Starts the watch; the initial values arrive right after. */
  async start(): Promise<void> {
    await this.store.watch((event) => this.apply(event), this.abort.signal);
  }

  /** Calls `fn` after every change, with the spec it replaced. */
  onChange(fn: (event: FunctionEvent, previous: FunctionSpec | undefined) => void): void {
    this.listeners.push(fn);
  }

  /**
   * The current spec of `name`, or null. Falls back to the KV when the watch has not delivered it yet
   * (a deploy that raced the watch).
   */
  async get(name: FunctionName): Promise<FunctionSpec | null> {
    const local = this.specs.get(name);
    if (local !== undefined) return local;
    const stored = await this.store.getSpec(name);
    if (stored === null) return null;
    const remote = withDefaults(stored, this.defaults);
    if (!this.specs.has(name)) this.specs.set(name, remote);
    return remote;
  }

  /** Every spec known now (the bundle cache asks whether any still names a bundle: bundle-cache.ts). */
  all(): FunctionSpec[] {
    return [...this.specs.values()];
  }

  stop(): void {
    this.abort.abort();
  }

  private apply(raw: FunctionEvent): void {
    const event: FunctionEvent = raw.kind === 'put' ? { ...raw, spec: withDefaults(raw.spec, this.defaults) } : raw;
    const name = event.kind === 'put' ? event.spec.name : event.name;
    const previous = this.specs.get(name);
    if (event.kind === 'put') {
      if (previous !== undefined && previous.version > event.spec.version) return;
      this.specs.set(name, event.spec);
      if (previous?.digest !== event.spec.digest || previous?.version !== event.spec.version) {
        this.log.info({ fn: name, digest: event.spec.digest, version: event.spec.version }, 'function spec updated');
      }
    } else {
      this.specs.delete(name);
      this.log.info({ fn: name }, 'function removed');
    }
    for (const fn of this.listeners) fn(event, previous);
  }
}
