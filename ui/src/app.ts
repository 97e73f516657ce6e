/**
 * hayate's operator page: the fleet, the functions' tiers and latency, live from `GET /v1/live` (one
 * status round per second at the controller, shared by every open page), recent async activations, a log
 * tail, and deploy / invoke / remove.
 */
import { removeFunction, showError, wireDeploy, wireInvoke } from './actions.js';
import type { ActionHost } from './actions.js';
import { ApiFailure, apiJson, apiKey, followEvents, onKeyNeeded, setApiKey } from './api.js';
import { LatencyChart } from './chart.js';
import { byId, h } from './dom.js';
import { LogTail } from './logs.js';
import { renderActivations, renderFleet, renderFunctions, summary, wireFunctionButtons } from './render.js';
import type { ActivationView, ChartPoint, Fleet, SpecView } from './types.js';

/** No tick for this long: the feed is shown as lost (the controller ticks every second). */
const FEED_LOST_MS = 5000;

const state = {
  fleet: { t: 0, invokers: [] } as Fleet,
  specs: new Map<string, SpecView>(),
  activations: [] as ActivationView[],
  lastTick: 0,
  /** Names seen in status but not deployed, for which the list was read again already. */
  looked: new Set<string>(),
};

const chart = new LatencyChart(byId('chart'), byId('chart-legend'));
const logs = new LogTail();

// ---- theme: prefers-color-scheme until the toggle is used, then the choice (kept in localStorage)
function applyTheme(theme: string): void {
  document.documentElement.dataset['theme'] = theme;
  chart.restyle();
}
const media = matchMedia('(prefers-color-scheme: dark)');
applyTheme(localStorage.getItem('hayate.theme') ?? (media.matches ? 'dark' : 'light'));
media.addEventListener('change', () => {
  if (localStorage.getItem('hayate.theme') === null) applyTheme(media.matches ? 'dark' : 'light');
});
byId('theme').addEventListener('click', () => {
  const next = document.documentElement.dataset['theme'] === 'dark' ? 'light' : 'dark';
  localStorage.setItem('hayate.theme', next);
  applyTheme(next);
});

// ---- API key: asked for on the first 401, kept in sessionStorage (this tab only)
function askForKey(reason: string): Promise<void> {
  const dialog = byId<HTMLDialogElement>('key-dialog');
  byId('key-message').textContent = reason;
  byId('key-button').hidden = false;
  setConnection('locked', 'needs an API key');
  if (!dialog.open) dialog.showModal();
  return new Promise((resolve) => {
    byId('key-form').addEventListener(
      'submit',
      () => {
        setApiKey(byId<HTMLInputElement>('key-input').value.trim());
        byId<HTMLInputElement>('key-input').value = '';
        resolve();
      },
      { once: true },
    );
  });
}
onKeyNeeded(askForKey);
byId('key-button').addEventListener('click', () => {
  setApiKey(null);
  location.reload();
});
// the key dialog cannot be dismissed: without a key there is nothing to show
byId('key-dialog').addEventListener('cancel', (e) => e.preventDefault());

function setConnection(kind: 'live' | 'connecting' | 'lost' | 'locked', text: string): void {
  const el = byId('conn');
  el.dataset['state'] = kind;
  el.textContent = text;
}

// ---- drawing
const host: ActionHost = { specs: () => state.specs, refresh: refreshSpecs };
const rowActions = {
  chart: (fn: string) => selectChart(fn),
  invoke: (fn: string) => {
    byId<HTMLSelectElement>('invoke-fn').value = fn;
    byId<HTMLTextAreaElement>('invoke-body').focus();
  },
  remove: (fn: string) => void removeFunction(host, fn),
};

function options(select: HTMLSelectElement, names: string[], empty: string): void {
  const current = select.value;
  select.replaceChildren(h('option', { value: '' }, empty), ...names.map((n) => h('option', { value: n }, n)));
  select.value = names.includes(current) ? current : '';
}

function selectChart(fn: string): void {
  chart.select(fn);
  byId<HTMLSelectElement>('chart-fn').value = fn;
}

function draw(): void {
  const now = Date.now();
  renderFleet(byId('fleet-table').querySelector('tbody')!, state.fleet, now);
  renderFunctions(byId('functions-table').querySelector('tbody')!, state.fleet, state.specs, now);
  byId('summary').textContent = summary(state.fleet, state.specs);
}

function drawLists(): void {
  const names = [...new Set([...state.specs.keys(), ...state.fleet.invokers.flatMap((i) => i.functions.map((f) => f.name))])].sort();
  options(byId<HTMLSelectElement>('chart-fn'), names, 'function…');
  byId<HTMLSelectElement>('chart-fn').value = chart.selected;
  options(byId<HTMLSelectElement>('invoke-fn'), [...state.specs.keys()].sort(), 'function…');
  options(byId<HTMLSelectElement>('logs-fn'), [...state.specs.keys()].sort(), 'function…');
}

async function refreshSpecs(): Promise<void> {
  try {
    const { functions } = await apiJson<{ functions: SpecView[] }>('/v1/functions');
    state.specs = new Map(functions.map((f) => [f.name, f]));
    drawLists();
    draw();
  } catch (err: unknown) {
    showError(err, 'Reading the functions');
  }
}

function onEvent(event: string, data: string): void {
  switch (event) {
    case 'hello': {
      const hello = JSON.parse(data) as { history: ChartPoint[]; fleet: Fleet; activations: ActivationView[] };
      state.fleet = hello.fleet;
      state.activations = hello.activations;
      chart.reset(hello.history);
      renderActivations(byId('activations-table').querySelector('tbody')!, state.activations, openRecord, Date.now());
      break;
    }
    case 'tick': {
      const tick = JSON.parse(data) as { fleet: Fleet; point: ChartPoint };
      state.fleet = tick.fleet;
      state.lastTick = Date.now();
      chart.add(tick.point);
      if (chart.selected === '') selectChart(chart.busiest());
      setConnection('live', 'live');
      // a function deployed elsewhere (CLI, another page) shows up in status: read the list again, once per
      // new name (a removed function stays loaded on invokers for a while and must not make every tick read it)
      const unknown = tick.fleet.invokers.flatMap((i) => i.functions.map((f) => f.name)).filter((n) => !state.specs.has(n) && !state.looked.has(n));
      if (unknown.length > 0) {
        for (const n of unknown) state.looked.add(n);
        void refreshSpecs();
      }
      break;
    }
    case 'activation': {
      const a = JSON.parse(data) as ActivationView;
      state.activations = [...state.activations.filter((x) => x.id !== a.id), a].slice(-30);
      renderActivations(byId('activations-table').querySelector('tbody')!, state.activations, openRecord, Date.now());
      return;
    }
    default:
      return;
  }
  draw();
}

async function openRecord(id: string): Promise<void> {
  try {
    const record = await apiJson<Record<string, unknown>>(`/v1/activations/${encodeURIComponent(id)}`);
    byId('record-title').textContent = `Activation ${id}`;
    byId('record-body').textContent = JSON.stringify(record, null, 2);
    byId<HTMLDialogElement>('record-dialog').showModal();
  } catch (err: unknown) {
    showError(err, `Reading activation ${id}`);
  }
}

/** Follows the live feed for ever, reconnecting with a growing pause. */
async function live(): Promise<void> {
  let pauseMs = 500;
  for (;;) {
    setConnection('connecting', 'connecting');
    try {
      await followEvents('/v1/live', onEvent);
      pauseMs = 500;
    } catch (err: unknown) {
      if (err instanceof ApiFailure) showError(err, 'The live feed');
    }
    setConnection('lost', 'reconnecting');
    await new Promise((r) => setTimeout(r, pauseMs));
    pauseMs = Math.min(pauseMs * 2, 8000);
  }
}

byId<HTMLSelectElement>('chart-fn').addEventListener('change', (e) => chart.select((e.target as HTMLSelectElement).value));
wireDeploy(host);
wireFunctionButtons(byId('functions-table').querySelector('tbody')!, rowActions);
wireInvoke();
setInterval(() => {
  if (state.lastTick > 0 && Date.now() - state.lastTick > FEED_LOST_MS) setConnection('lost', 'feed lost');
  if (state.fleet.t > 0) draw(); // "seen … ago" keeps counting between ticks
}, 1000);
setInterval(() => void refreshSpecs(), 15_000);
// the shell's own settings (no key needed): ask for a key before the first data request when one is needed
void fetch('/ui/config.json')
  .then((res) => res.json() as Promise<{ auth: boolean; logs: boolean }>)
  .then(async (config) => {
    logs.setAvailable(config.logs);
    if (config.auth) {
      byId('key-button').hidden = false;
      if (apiKey() === null) await askForKey('This controller needs an API key (HAYATE_API_KEYS).');
    }
    void refreshSpecs();
    void live();
  });
