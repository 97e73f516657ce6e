/**
 * Keeps the child processes of `hayate up` running: a child that exits while `up` is not stopping is
 * started again, after a back-off that doubles with each quick death (issue 11: one bad call killed every
 * invoker, and they stayed dead until someone restarted them).
 */
import type { ChildProcess } from 'node:child_process';
import type { Logger } from '../common/logger';

/** First pause before a restart; doubled per quick death up to `BACKOFF_MAX_MS`. */
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 30_000;
/** A child that ran this long before it died is restarted after the first pause again. */
const STABLE_MS = 30_000;

/** Supervisor lifecycle. */
export const SupervisorState = { running: 'running', stopping: 'stopping' } as const;
export type SupervisorState = (typeof SupervisorState)[keyof typeof SupervisorState];

/** One supervised child: `child` is the current process (it changes on each restart). */
export interface SupervisedChild {
  readonly label: string;
  child: ChildProcess;
  restarts: number;
}

export class Supervisor {
  private state: SupervisorState = SupervisorState.running;
  private readonly timers = new Set<NodeJS.Timeout>();

  /**
   * @param log where exits and restarts are logged
   * @param onRestart called after a child was restarted (to rewrite the state file with its new pid)
   */
  constructor(
    private readonly log: Logger,
    private readonly onRestart: (s: SupervisedChild) => void,
  ) {}

  /**
   * Watches a started child; restarts it with `start` whenever it exits.
   * @param start starts the process again and resolves once it serves (throws when it cannot)
   */
  watch(label: string, child: ChildProcess, start: () => Promise<ChildProcess>): SupervisedChild {
    const s: SupervisedChild = { label, child, restarts: 0 };
    let quickDeaths = 0;
    const follow = (c: ChildProcess, startedMs: number): void => {
      c.once('exit', (code, signal) => {
        if (this.state !== SupervisorState.running) return;
        quickDeaths = Date.now() - startedMs >= STABLE_MS ? 1 : quickDeaths + 1;
        schedule(code, signal);
      });
    };
    const schedule = (code: number | null, signal: NodeJS.Signals | null): void => {
      const delayMs = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (quickDeaths - 1));
      this.log.warn({ child: label, code, signal, restartInMs: delayMs }, 'child exited');
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (this.state !== SupervisorState.running) return;
        start().then(
          (next) => {
            if (this.state !== SupervisorState.running) {
              next.kill('SIGTERM');
              return;
            }
            s.child = next;
            s.restarts += 1;
            this.log.info({ child: label, pid: next.pid, restarts: s.restarts }, 'child restarted');
            follow(next, Date.now());
            this.onRestart(s);
          },
          (err: unknown) => {
            quickDeaths += 1;
            this.log.error({ child: label, err }, 'child restart failed');
            schedule(null, null);
          },
        );
      }, delayMs);
      this.timers.add(timer);
    };
    follow(child, Date.now());
    return s;
  }

  /** Stops restarting (before `hayate up` stops its children). Idempotent. */
  stop(): void {
    if (this.state === SupervisorState.stopping) return;
    this.state = SupervisorState.stopping;
    this.log.debug('supervisor stopping');
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
