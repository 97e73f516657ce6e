import test from 'ava';
import { backoffMs, retry } from '../services/common/retry';

const quick = { initialMs: 1 };

test('retry returns the first success when a try fails before it', async (t) => {
  const tries: number[] = [];
  const value = await retry(
    async (attempt) => {
      tries.push(attempt);
      if (attempt < 3) throw new Error(`try ${attempt}`);
      return 'done';
    },
    { backoff: quick },
  );
  t.is(value, 'done');
  t.deepEqual(tries, [1, 2, 3]);
});

test('retry throws the last error when attempts run out and exhausted is not given', async (t) => {
  let n = 0;
  const err = await t.throwsAsync(retry(async () => Promise.reject(new Error(`try ${(n += 1)}`)), { backoff: quick, attempts: 4 }));
  t.is(err?.message, 'try 4');
  t.is(n, 4);
});

test('retry throws what exhausted makes of the last error when attempts run out', async (t) => {
  const err = await t.throwsAsync(
    retry(async () => Promise.reject(new Error('busy')), { backoff: quick, attempts: 2, exhausted: (last, attempts) => new Error(`gave up after ${attempts}: ${(last as Error).message}`) }),
  );
  t.is(err?.message, 'gave up after 2: busy');
});

test('retry throws at once when retryOn refuses the error', async (t) => {
  let n = 0;
  const fatal = new Error('fatal');
  const err = await t.throwsAsync(
    retry(
      async () => {
        n += 1;
        throw fatal;
      },
      { backoff: quick, attempts: 10, retryOn: (e) => e !== fatal, exhausted: () => new Error('not this') },
    ),
  );
  t.is(err, fatal);
  t.is(n, 1);
});

test('retry stops trying when patience is spent', async (t) => {
  let n = 0;
  await t.throwsAsync(retry(async () => Promise.reject(new Error(`try ${(n += 1)}`)), { backoff: quick, patienceMs: 0 }), { message: 'try 1' });
  t.is(n, 1);
});

test('retry calls onRetry before each wait with the back-off it is about to wait', async (t) => {
  const seen: [number, number][] = [];
  await t.throwsAsync(retry(async () => Promise.reject(new Error('no')), { backoff: { initialMs: 1, factor: 2 }, attempts: 3, onRetry: (_e, attempt, delay) => seen.push([attempt, delay]) }));
  t.deepEqual(seen, [
    [1, 1],
    [2, 2],
  ]);
});

test('retry throws the abort reason when the signal aborts during a wait', async (t) => {
  const ac = new AbortController();
  const reason = new Error('shutting down');
  const run = retry(
    async () => {
      setImmediate(() => ac.abort(reason));
      throw new Error('not yet');
    },
    { backoff: { initialMs: 60_000 }, signal: ac.signal },
  );
  t.is(await t.throwsAsync(run), reason);
});

test('backoffMs grows by the factor up to maxMs and stays constant when no factor is given', (t) => {
  t.deepEqual([1, 2, 3, 4, 5].map((n) => backoffMs({ initialMs: 50, factor: 2, maxMs: 500 }, n)), [50, 100, 200, 400, 500]);
  t.deepEqual([1, 2, 3].map((n) => backoffMs({ initialMs: 250 }, n)), [250, 250, 250]);
});
