/**
 * The page's only way to the controller: `fetch` with the API key (when one is set) as a Bearer header.
 * A 401 asks the person for a key and tries again; other errors come back as `ApiFailure` with the typed
 * code and message the API gave (`{"error": {"code", "message"}}`).
 */

const KEY_STORAGE = 'hayate.apiKey';

/** An error answer of the API, as it gave it. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The whole error body (e.g. `stderr`, `exit_code` of a failed invocation). */
    readonly body: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** Asks for a key with the API's reason; resolves once one was stored. */
export type KeyPrompt = (reason: string) => Promise<void>;

let prompt: KeyPrompt = async () => {
  throw new Error('no key prompt installed');
};
let pending: Promise<void> | null = null;

/** Installs the key prompt (one dialog, shared by every request that got a 401 meanwhile). */
export function onKeyNeeded(ask: KeyPrompt): void {
  prompt = ask;
}

export function apiKey(): string | null {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function setApiKey(key: string | null): void {
  if (key === null || key === '') sessionStorage.removeItem(KEY_STORAGE);
  else sessionStorage.setItem(KEY_STORAGE, key);
}

/** The typed error of a non-2xx answer. */
export async function failureOf(res: Response): Promise<ApiFailure> {
  const text = await res.text();
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } } & Record<string, unknown>;
    if (body.error?.code !== undefined) return new ApiFailure(res.status, body.error.code, body.error.message ?? '', body);
  } catch {
    // not JSON: fall through
  }
  return new ApiFailure(res.status, `HTTP ${res.status}`, text.slice(0, 300) || res.statusText);
}

/**
 * A request to the controller with the key. On 401 it asks for a key and tries again, until one works.
 * Other statuses are returned as they are.
 */
export async function api(path: string, init: RequestInit = {}): Promise<Response> {
  for (;;) {
    const headers = new Headers(init.headers);
    const key = apiKey();
    if (key !== null) headers.set('authorization', `Bearer ${key}`);
    const res = await fetch(path, { ...init, headers });
    if (res.status !== 401) return res;
    const failure = await failureOf(res);
    setApiKey(null);
    pending ??= prompt(key === null ? failure.message : `The key was refused: ${failure.message}`).finally(() => (pending = null));
    await pending;
  }
}

/**
 * A JSON answer of the controller.
 * @throws ApiFailure on an error answer
 */
export async function apiJson<T>(path: string, init: RequestInit = {}): Promise<T> {
  const res = await api(path, init);
  if (!res.ok) throw await failureOf(res);
  return (await res.json()) as T;
}

/**
 * Follows a Server-Sent Events stream (read with fetch: EventSource cannot send the key) until it ends or
 * `signal` aborts; `onEvent` gets each event's name and data.
 * @throws ApiFailure when the stream is refused
 */
export async function followEvents(path: string, onEvent: (event: string, data: string) => void, signal?: AbortSignal): Promise<void> {
  const res = await api(path, { headers: { accept: 'text/event-stream' }, ...(signal !== undefined ? { signal } : {}) });
  if (!res.ok || res.body === null) throw await failureOf(res);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length > 0) onEvent(event, data.join('\n'));
    }
  }
}
