/**
 * A function's live log tail, from `GET /v1/functions/{fn}/logs` with `Accept: text/event-stream` (the logs
 * API); `/ui/config.json` says whether the controller has it, and without it the section says so and stays off.
 */
import { ApiFailure, followEvents } from './api.js';
import { byId } from './dom.js';

const MAX_LINES = 400;

/** One entry as a line: `10:04:05 ab12cd34 | a stderr line` or `… = OK exit 0 wasm 1.2 ms`. */
function lineOf(data: string): string {
  try {
    const e = JSON.parse(data) as Record<string, unknown>;
    const at = typeof e['ts'] === 'string' ? e['ts'].slice(11, 19) : '';
    const id = typeof e['id'] === 'string' ? e['id'].slice(0, 8) : '-';
    const total = (e['timings_ms'] as { total?: number } | undefined)?.total;
    if (e['kind'] === 'stderr') return `${at} ${id} | ${String(e['line'])}`;
    if (e['kind'] === 'summary') return `${at} ${id} = ${String(e['status'])}${e['error'] !== undefined ? ` ${String(e['error'])}` : ''} exit ${String(e['exit_code'])} ${String(e['tier'])} ${total ?? '?'} ms (${String(e['invoker'])})`;
    if (e['kind'] === 'dropped') return `${at} - ! ${String(e['dropped'])} entries dropped by ${String(e['invoker'])}`;
  } catch {
    // not JSON: shown as it came
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
