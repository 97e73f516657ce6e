/**
 * A function's live log tail, from `GET /v1/functions/{fn}/logs` with `Accept: text/event-stream` (the logs
 * API); `/ui/config.json` says whether the controller has it, and without it the section says so and stays off.
 */
import { ApiFailure, followEvents } from './api.js';
import { byId } from './dom.js';

const MAX_LINES = 400;

/** One event's text: the line of a JSON log event, or the data as it came. */
function lineOf(data: string): string {
  try {
    const v = JSON.parse(data) as Record<string, unknown>;
    const text = [v['line'], v['text'], v['message'], v['msg']].find((x) => typeof x === 'string') as string | undefined;
    if (text !== undefined) return `${typeof v['invoker'] === 'string' ? `[${v['invoker']}] ` : ''}${text}`;
  } catch {
    // plain text
  }
  return data;
}

export class LogTail {
  private readonly out = byId('logs-out');
  private readonly note = byId('logs-note');
  private readonly select = byId<HTMLSelectElement>('logs-fn');
  private abort: AbortController | null = null;
  private available = false;

  constructor() {
    this.select.addEventListener('change', () => void this.follow(this.select.value));
  }

  /** Turns the section on when the controller has the logs API, off (with a note) when it has not. */
  setAvailable(available: boolean): void {
    this.available = available;
    byId('logs').classList.toggle('disabled', !available);
    this.select.disabled = !available;
    this.note.textContent = available ? 'Choose a function to follow its stderr and invocation summaries.' : 'Log tail needs the logs API (GET /v1/functions/{name}/logs), which this controller does not have yet.';
  }

  /** Follows `fn` (stops following the one before); '' stops. */
  async follow(fn: string): Promise<void> {
    this.abort?.abort();
    this.abort = null;
    this.out.textContent = '';
    if (fn === '' || !this.available) return;
    const abort = new AbortController();
    this.abort = abort;
    this.note.textContent = `Following ${fn}…`;
    try {
      await followEvents(`/v1/functions/${encodeURIComponent(fn)}/logs?since=10m`, (_event, data) => this.append(lineOf(data)), abort.signal);
    } catch (err: unknown) {
      if (abort.signal.aborted) return;
      this.note.textContent = err instanceof ApiFailure ? `${err.code}: ${err.message}` : `Log stream ended: ${String(err)}`;
    }
  }

  private append(line: string): void {
    const stick = this.out.scrollTop + this.out.clientHeight >= this.out.scrollHeight - 4;
    this.out.append(`${line}\n`);
    while (this.out.childNodes.length > MAX_LINES) this.out.firstChild?.remove();
    if (stick) this.out.scrollTop = this.out.scrollHeight;
  }
}
