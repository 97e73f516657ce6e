/**
 * Schedule triggers (`cron`, `every`) at the controller. Every controller runs the same timers: at each tick
 * it publishes one message on `<prefix>.v1.tick.<trigger>` with `Nats-Msg-Id: <uid>-<tick ms>`. The
 * trigger's stream keeps the first and drops the others as duplicates (its duplicate window is 2 min, far
 * more than the clocks of two controllers differ), so each tick fires once however many controllers run —
 * no leader, no election, and a tick is not lost while at least one controller is up. From the stream on, a
 * tick is a trigger message like any other: an invoker runs it once (SPEC §7).
 *
 * A trigger whose function is not deployed is paused: no ticks are published for it.
 */
import { headers as natsHeaders } from 'nats';
import { Header } from '../common/headers';
import type { Logger } from '../common/logger';
import type { FunctionStore } from '../common/store';
import type { TriggerSpec } from '../common/trigger-spec';
import type { TriggerStore } from '../common/trigger-store';
import { nextTick } from './trigger-status';

/** setTimeout's longest delay; a later tick is reached in steps. */
const MAX_TIMER_MS = 2 **31 - 1;

export const SchedulerState = { idle: 'idle', running: 'running', stopped: 'stopped' } as const;
export type SchedulerState = (typeof SchedulerState)[keyof typeof SchedulerState];

interface Plan {
  trigger: TriggerSpec;
  timer: NodeJS.Timeout | null;
}

export class Scheduler {
  private state: SchedulerState = SchedulerState.idle;
  private readonly triggers = new Map<string, TriggerSpec>();
  private readonly deployed = new Set<string>();
  private readonly plans = new Map<string, Plan>();
  private readonly abort = new AbortController();
  private readonly log: Logger;
  /** Ticks this controller published first (the others were duplicates of another controller's). */
  fired = 0;

  constructor(
    private readonly store: TriggerStore,
    private readonly functions: FunctionStore,
    log: Logger,
  ) {
    this.log = log.child({ component: 'scheduler' });
  }

  /** Starts the watches; timers start as schedule triggers arrive. */
  async start(): Promise<void> {
    if (this.state !== SchedulerState.idle) throw new Error(`Cannot start scheduler as it is ${this.state}`);
    this.state = SchedulerState.running;
    this.log.info({ from: SchedulerState.idle, to: this.state }, 'scheduler state');
    await this.functions.watch((event) => {
      const fn = event.kind === 'put' ? event.spec.name : event.name;
      if (event.kind === 'put') this.deployed.add(fn);
      else this.deployed.delete(fn);
      for (const t of this.triggers.values()) if (t.function === fn) this.plan(t.name);
    }, this.abort.signal);
    await this.store.watch((event) => {
      const name = event.kind === 'put' ? event.trigger.name : event.name;
      if (event.kind === 'put') this.triggers.set(name, event.trigger);
      else this.triggers.delete(name);
      this.plan(name);
    }, this.abort.signal);
  }

  /** Stops every timer. Idempotent. */
  stop(): void {
    if (this.state === SchedulerState.stopped) return;
    this.log.info({ from: this.state, to: SchedulerState.stopped }, 'scheduler state');
    this.state = SchedulerState.stopped;
    this.abort.abort();
    for (const p of this.plans.values()) if (p.timer !== null) clearTimeout(p.timer);
    this.plans.clear();
  }

  /** (Re)plans the ticks of `name` after a change of it or of its function. */
  private plan(name: string): void {
    const old = this.plans.get(name);
    if (old?.timer) clearTimeout(old.timer);
    this.plans.delete(name);
    const t = this.triggers.get(name);
    if (this.state !== SchedulerState.running || t === undefined || t.source.kind === 'subject' || !this.deployed.has(t.function)) return;
    const plan: Plan = { trigger: t, timer: null };
    this.plans.set(name, plan);
    this.arm(plan, nextTick(t, Date.now()));
  }

  private arm(plan: Plan, tickMs: number | null): void {
    if (tickMs === null) return; // a cron with no further run
    const wait = tickMs - Date.now();
    plan.timer = setTimeout(() => {
      if (this.plans.get(plan.trigger.name) !== plan) return;
      // timers may fire a little early, and long waits go in steps
      if (Date.now() < tickMs) return this.arm(plan, tickMs);
      void this.fire(plan.trigger, tickMs);
      this.arm(plan, nextTick(plan.trigger, tickMs));
    }, Math.max(0, Math.min(wait, MAX_TIMER_MS)));
  }

  private async fire(t: TriggerSpec, tickMs: number): Promise<void> {
    const h = natsHeaders();
    h.set(Header.scheduled, new Date(tickMs).toISOString());
    try {
      const stored = await this.store.publishTick(t, tickMs, h);
      if (stored) this.fired += 1;
      this.log.debug({ trigger: t.name, tick: tickMs, stored }, 'tick published');
    } catch (err: unknown) {
      this.log.warn({ err, trigger: t.name, tick: tickMs }, 'tick not published (another controller may have)');
    }
  }
}
