import test from 'ava';
import type { InvokeResponse } from '../services/common/codec';
import type { RequestContent } from '../services/invoker/recent-results';
import { RecentResults, requestDigest } from '../services/invoker/recent-results';

const req = (input = 'in', fn = 'upper'): RequestContent => ({ function: fn, input: Buffer.from(input), args: ['a'], env: { K: 'v' } });

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
  recent.set('running', new Promise((resolve) => (finishRunning = resolve)), req());
  recent.set('a', Promise.resolve(answer('a', 600)), req());
  await tick();
  recent.set('b', Promise.resolve(answer('b', 600)), req());
  await tick();
  t.truthy(recent.get('running', req()), 'a running invocation is never dropped for bytes');
  t.is(recent.get('a', req()), undefined, 'the oldest finished answer went first');
  t.is((await recent.get('b', req())?.answer)?.invocationId, 'b');
  finishRunning(answer('running', 10));
  await tick();
  t.truthy(recent.get('running', req()));
});

test('RecentResults drops the oldest entry when past its count bound', async (t) => {
  const recent = new RecentResults(2, 60_000);
  for (const id of ['x', 'y', 'z']) recent.set(id, Promise.resolve(answer(id, 1)), req());
  await tick();
  t.is(recent.get('x', req()), undefined);
  t.truthy(recent.get('y', req()));
  t.truthy(recent.get('z', req()));
  t.is(recent.size, 2);
});

test('RecentResults answers peers only for held entries when a retry is still looking its answer up', (t) => {
  const recent = new RecentResults();
  const entry = recent.set('looking', new Promise(() => undefined), req(), false);
  t.is(recent.held('looking', requestDigest(req())), undefined);
  t.truthy(recent.get('looking', req()), 'a second retry on this invoker still waits for the first');
  entry.hold();
  t.truthy(recent.held('looking', requestDigest(req())));
  t.is(recent.held('looking', requestDigest(req('other'))), undefined, 'a peer asking for another request is not answered');
});

test('RecentResults keeps another request under a reused key as its own invocation', async (t) => {
  const recent = new RecentResults();
  recent.set('upper/x', Promise.resolve(answer('victim', 1)), req('secret'));
  t.is(recent.get('upper/x', req('other')), undefined, 'another input');
  t.is(recent.get('upper/x', { ...req('secret'), args: ['b'] }), undefined, 'other args');
  t.is(recent.get('upper/x', { ...req('secret'), env: { K: 'w' } }), undefined, 'other env');
  t.is(recent.get('upper/x', req('secret', 'sha256')), undefined, 'another function');
  recent.set('upper/x', Promise.resolve(answer('attacker', 1)), req('other'));
  t.is((await recent.get('upper/x', req('secret'))?.answer)?.invocationId, 'victim');
  t.is((await recent.get('upper/x', req('other'))?.answer)?.invocationId, 'attacker');
  t.is(recent.size, 2);
  recent.get('upper/x', req('other'))?.forget();
  t.is(recent.size, 1);
  t.truthy(recent.held('upper/x', requestDigest(req('secret'))));
});

test('RecentResults keeps answers a retry may still come for past its byte bound and counts them as protected', async (t) => {
  const recent = new RecentResults(100, 60_000, 1000);
  recent.set('late', Promise.resolve(answer('late', 600)), req(), true, Date.now() + 60_000);
  recent.set('done', Promise.resolve(answer('done', 600)), req(), true, Date.now() - 1);
  await tick();
  recent.set('next', Promise.resolve(answer('next', 600)), req());
  await tick();
  t.truthy(recent.get('late', req()), 'its caller may still retry: kept');
  t.is(recent.get('done', req()), undefined, 'no retry can come: dropped for bytes');
  t.is(recent.protectedBytes, 600 + req().input.byteLength);
  recent.get('late', req())?.forget();
  t.is(recent.protectedBytes, 0);
});

test('RecentResults keeps a large input as its digest once answered, and stops protecting an answer after its retry window', async (t) => {
  const recent = new RecentResults();
  const big = 'x'.repeat(1024 * 1024);
  const other = `y${big.slice(1)}`;
  recent.set('big', Promise.resolve(answer('big', 10)), req(big), true, Date.now() + 60_000, 100);
  await tick();
  t.is(recent.bytes, 10, 'the 1 MiB input is not held once answered, only the answer');
  t.is(recent.protectedBytes, 10, 'within its window after the answer, the answer is protected');
  t.truthy(recent.get('big', req(big)), 'a retry of the same request still finds it');
  t.is(recent.get('big', req(other)), undefined, 'the same id with another input of the same length does not');
  await new Promise((r) => setTimeout(r, 150));
  t.is(recent.protectedBytes, 0, 'past the window, before the caller deadline, nothing is protected any more');
  t.truthy(recent.get('big', req(big)), 'the answer itself is still kept for a late retry');
});

test('RecentResults keeps the newest entries in order over many evictions, forgotten ones and compactions of its queue', async (t) => {
  const recent = new RecentResults(1000, 60_000);
  const kept = 1000;
  for (let i = 0; i < 20_000; i += 1) {
    const entry = recent.set(`k${i}`, Promise.resolve(answer(`k${i}`, 1)), req(`in${i}`));
    // every third one is forgotten at once (a retryable refusal): its slot must not hold the queue back
    if (i % 3 === 0) entry.forget();
    if (i % 997 === 0) await tick();
  }
  await tick();
  const survivors = Array.from({ length: 20_000 }, (_, i) => i).filter((i) => recent.get(`k${i}`, req(`in${i}`)) !== undefined);
  t.is(recent.size, survivors.length);
  t.true(survivors.length <= kept, `${survivors.length} entries kept`);
  t.true(survivors.every((i) => i % 3 !== 0), 'no forgotten entry came back');
  // the newest entries that were not forgotten, none older than a dropped one
  const newest = Array.from({ length: 20_000 }, (_, i) => 19_999 - i).filter((i) => i % 3 !== 0).slice(0, survivors.length).sort((a, b) => a - b);
  t.deepEqual(survivors, newest);
});

test('RecentResults keeps a copy of a small input, not the buffer it was a view into', async (t) => {
  const recent = new RecentResults();
  const readBuffer = Buffer.alloc(64 * 1024, 0x61);
  const request = { function: 'upper', input: readBuffer.subarray(100, 116), args: [], env: {} };
  recent.set('v', Promise.resolve(answer('v', 1)), request);
  await tick();
  readBuffer.fill(0x62); // whatever becomes of the buffer the input was a view into
  t.truthy(recent.get('v', { ...request, input: Buffer.alloc(16, 0x61) }), 'the kept copy still holds the bytes it was asked with');
  t.is(recent.get('v', { ...request, input: Buffer.alloc(16, 0x62) }), undefined);
});

test('RecentResults answers a retry with the same answer once it keeps it compact, its small output a copy of its own', async (t) => {
  const recent = new RecentResults();
  const response = { ...answer('w', 0), output: Buffer.from('HELLO'), stderr: Buffer.from('warn\n') };
  recent.set('w', Promise.resolve(response), req());
  await tick();
  const kept = await recent.get('w', req())?.answer;
  t.deepEqual({ ...kept, output: Buffer.from(kept?.output ?? []), stderr: Buffer.from(kept?.stderr ?? []) }, response);
  response.output.fill(0x7a); // the run's buffer may be reused: the kept answer does not change with it
  t.is(Buffer.from(kept?.output ?? []).toString(), 'HELLO');
});

test('newInvocationId gives valid ids, all distinct', async (t) => {
  const { newInvocationId, parseInvocationId } = await import('../services/common/names');
  const ids = new Set(Array.from({ length: 10_000 }, () => newInvocationId()));
  t.is(ids.size, 10_000);
  for (const id of [...ids].slice(0, 300)) t.is(parseInvocationId(id), id);
});
