/**
 * The page's actions: deploy a .wasm (drag and drop or a file picker), invoke with a text body (output,
 * status, tier and Server-Timing), remove a function. Destructive steps (replacing a deployed function,
 * removing one) ask first; errors are shown with the code and message the API gave.
 */
import { ApiFailure, api, failureOf } from './api.js';
import { byId, h } from './dom.js';
import type { SpecView } from './types.js';

/** What actions need from the page. */
export interface ActionHost {
  specs(): Map<string, SpecView>;
  /** Reload the function list (after a deploy or a removal). */
  refresh(): Promise<void>;
}

const result = () => byId('result');

/** A yes/no question in the page's dialog. */
export function confirmAction(message: string, ok = 'Confirm'): Promise<boolean> {
  const dialog = byId<HTMLDialogElement>('confirm-dialog');
  byId('confirm-message').textContent = message;
  byId('confirm-ok').textContent = ok;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true }));
}

/** Shows an error as the API gave it: code, message and, for a failed invocation, its stderr. */
export function showError(err: unknown, what: string): void {
  const failure = err instanceof ApiFailure ? err : null;
  const stderr = typeof failure?.body['stderr'] === 'string' ? failure.body['stderr'] : '';
  result().replaceChildren(
    h('div', { class: 'error', role: 'alert' }, h('strong', {}, `${what} failed`), ' ', failure !== null ? h('code', { class: 'code' }, `${failure.status} ${failure.code}`) : null, h('div', {}, failure?.message ?? (err instanceof Error ? err.message : String(err)))),
    ...(stderr !== '' ? [h('pre', { class: 'stderr' }, stderr)] : []),
  );
}

/** A name the API will take, from a file name: `My_Func.wasm` → `my-func`. */
function nameFrom(file: string): string {
  return file.replace(/\.wasm$/i, '').toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+/, '').slice(0, 63);
}

export function wireDeploy(host: ActionHost): void {
  const drop = byId('drop');
  const input = byId<HTMLInputElement>('file');
  const form = byId<HTMLFormElement>('deploy-form');
  let file: File | null = null;
  const choose = (f: File | undefined) => {
    if (f === undefined) return;
    file = f;
    byId<HTMLInputElement>('deploy-name').value = nameFrom(f.name);
    form.hidden = false;
    drop.dataset['file'] = f.name;
    drop.querySelector('strong')!.textContent = `Deploy ${f.name} (${f.size} bytes) as:`;
    byId<HTMLInputElement>('deploy-name').focus();
  };
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    choose(e.dataTransfer?.files[0]);
  });
  input.addEventListener('change', () => choose(input.files?.[0]));
  const reset = () => {
    file = null;
    form.hidden = true;
    input.value = '';
    drop.querySelector('strong')!.textContent = 'Deploy:';
  };
  byId('deploy-cancel').addEventListener('click', reset);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (file === null) return;
    const name = byId<HTMLInputElement>('deploy-name').value.trim();
    const existing = host.specs().get(name);
    if (existing !== undefined && !(await confirmAction(`Replace function ${name} (version ${existing.version}) with ${file.name}?`, 'Replace'))) return;
    const query = new URLSearchParams();
    const image = byId<HTMLInputElement>('deploy-image').value.trim();
    if (image !== '') query.set('image', image);
    query.set('policy', byId<HTMLSelectElement>('deploy-policy').value);
    try {
      const res = await api(`/v1/functions/${encodeURIComponent(name)}?${query}`, { method: 'PUT', headers: { 'content-type': 'application/wasm' }, body: file });
      if (!res.ok) throw await failureOf(res);
      const spec = (await res.json()) as SpecView;
      result().replaceChildren(h('div', { class: 'ok', role: 'status' }, `Deployed ${spec.name} version ${spec.version} (${spec.digest.slice(0, 19)}…)`));
      reset();
      await host.refresh();
    } catch (err: unknown) {
      showError(err, `Deploy of ${name}`);
    }
  });
}

/** `startup;dur=1.2, exec;dur=3.4` → [['startup', '1.2 ms'], …]. */
function serverTiming(header: string | null): [string, string][] {
  return (header ?? '').split(',').flatMap((part) => {
    const m = /^\s*([\w-]+)\s*;\s*dur=([\d.]+)/.exec(part);
    return m !== null && m[1] !== undefined && m[2] !== undefined ? [[m[1], `${Number(m[2]).toFixed(2)} ms`] as [string, string]] : [];
  });
}

export function wireInvoke(): void {
  const form = byId<HTMLFormElement>('invoke-form');
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const fn = byId<HTMLSelectElement>('invoke-fn').value;
    if (fn === '') return;
    const query = new URLSearchParams();
    for (const arg of byId<HTMLInputElement>('invoke-args').value.split(/\s+/).filter((a) => a !== '')) query.append('arg', arg);
    if (byId<HTMLInputElement>('invoke-async').checked) query.set('async', '1');
    result().replaceChildren(h('div', { class: 'muted' }, `invoking ${fn}…`));
    try {
      const res = await api(`/v1/functions/${encodeURIComponent(fn)}/invoke?${query}`, { method: 'POST', body: byId<HTMLTextAreaElement>('invoke-body').value });
      if (!res.ok && res.status !== 202) throw await failureOf(res);
      const head = (name: string) => res.headers.get(name) ?? '—';
      if (res.status === 202) {
        const { id } = (await res.json()) as { id: string };
        result().replaceChildren(h('div', { class: 'ok', role: 'status' }, `202 queued: activation ${id} (see Activations)`));
        return;
      }
      const output = await res.text();
      const timing = serverTiming(res.headers.get('server-timing'));
      result().replaceChildren(
        h('div', { class: 'ok', role: 'status' }, h('strong', {}, `${res.status} ${head('hayate-status')}`), ` · tier ${head('hayate-tier')} · exit ${head('hayate-exit-code')} · cold start ${head('hayate-cold-start')} · ${head('hayate-invoker')}`),
        h('div', { class: 'timing', 'data-server-timing': res.headers.get('server-timing') ?? '' }, ...timing.map(([k, v]) => h('span', {}, h('span', { class: 'muted' }, `${k} `), v))),
        h('pre', { id: 'invoke-output', class: 'output' }, output),
      );
    } catch (err: unknown) {
      showError(err, `Invoke of ${fn}`);
    }
  });
}

/** Removes a function after asking. */
export async function removeFunction(host: ActionHost, fn: string): Promise<void> {
  if (!(await confirmAction(`Remove function ${fn}? Its calls fail with HAYATE_ERR_NOT_FOUND from now on.`, 'Remove'))) return;
  try {
    const res = await api(`/v1/functions/${encodeURIComponent(fn)}`, { method: 'DELETE' });
    if (!res.ok) throw await failureOf(res);
    result().replaceChildren(h('div', { class: 'ok', role: 'status' }, `Removed ${fn}`));
    await host.refresh();
  } catch (err: unknown) {
    showError(err, `Removal of ${fn}`);
  }
}
