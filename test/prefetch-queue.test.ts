/** The invoker's prefetch queue: one module at a time, each after the event loop turned (issue 11, finding 8). */
import test from 'ava';
import { PrefetchQueue } from '../services/invoker/prefetch-queue';

test('prefetch queue runs one task at a time and lets work queued meanwhile go first when many are added', async (t) => {
  const q = new PrefetchQueue(1);
  let running = 0;
  let most = 0;
  const order: string[] = [];
  const done: Promise<void>[] = [];
  for (let i = 0; i < 20; i += 1) {
    done.push(
      new Promise((resolve) =>
        q.add(`m${i}`, async () => {
          running += 1;
          most = Math.max(most, running);
          order.push(`m${i}`);
          await new Promise((r) => setTimeout(r, 2));
          running -= 1;
          resolve();
        }),
      ),
    );
  }
  // a call arriving now is served before the second prefetch starts
  setImmediate(() => order.push('call'));
  t.is(q.waiting, 19);
  await Promise.all(done);
  t.is(most, 1);
  t.is(order.indexOf('call'), 1);
  t.is(order.length, 21);
});

test('prefetch queue keeps one task per key when a module is queued twice', async (t) => {
  const q = new PrefetchQueue(1);
  let runs = 0;
  await new Promise<void>((resolve) => {
    q.add('busy', () => new Promise((r) => setTimeout(r, 20)));
    q.add('same', async () => (runs += 1));
    q.add('same', async () => (runs += 1));
    q.add('end', async () => resolve());
  });
  t.is(runs, 1);
});
