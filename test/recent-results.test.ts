import test from 'ava';
import type { InvokeResponse } from '../services/common/codec';
import { RecentResults } from '../services/invoker/recent-results';

function answer(id: string, bytes: number): InvokeResponse {
  return {
    invocationId: id,
    status: 'OK',
    exitCode: 0,
    output: new Uint8Array(bytes),
    stderr: new Uint8Array(0),
    tier: 'wasm',
    invokerId: 'i',
    coldStart: false,
    timings: { queueUs: 0, startupUs: 0, execUs: 0, teardownUs: 0, totalUs: 0 },
    errorCode: '',
    errorMessage: '',
    attempt: 1,
  };
}

const tick = () => new Promise((r) => setImmediate(r));

test('RecentResults drops the oldest finished answers but keeps running ones when past its byte bound', async (t) => {
  const recent = new RecentResults(100, 60_000, 1000);
  let finishRunning: (r: InvokeResponse) => void = () => undefined;
  recent.set('running', new Promise((resolve) => (finishRunning = resolve)));
  recent.set('a', Promise.resolve(answer('a', 600)));
  await tick();
  recent.set('b', Promise.resolve(answer('b', 600)));
  await tick();
  t.truthy(recent.get('running'), 'a running invocation is never dropped for bytes');
  t.is(recent.get('a'), undefined, 'the oldest finished answer went first');
  t.is((await recent.get('b'))?.invocationId, 'b');
  finishRunning(answer('running', 10));
  await tick();
  t.truthy(recent.get('running'));
});

test('RecentResults drops the oldest entry when past its count bound', async (t) => {
  const recent = new RecentResults(2, 60_000);
  for (const id of ['x', 'y', 'z']) recent.set(id, Promise.resolve(answer(id, 1)));
  await tick();
  t.is(recent.get('x'), undefined);
  t.truthy(recent.get('y'));
  t.truthy(recent.get('z'));
  t.is(recent.size, 2);
});

test('RecentResults answers peers only for held entries when a retry is still looking its answer up', (t) => {
  const recent = new RecentResults();
  recent.set('looking', new Promise(() => undefined), false);
  t.is(recent.held('looking'), undefined);
  t.truthy(recent.get('looking'), 'a second retry on this invoker still waits for the first');
  recent.hold('looking');
  t.truthy(recent.held('looking'));
});
