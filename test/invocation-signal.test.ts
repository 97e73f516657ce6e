/**
 * The invocation's one signal (executor.ts `invocationSignal`): its AbortSignal is made only when something
 * asks for it, and whoever asks, early or late, sees the same deadline and the same shutdown.
 */
import test from 'ava';
import { abortSignalOf, invocationSignal } from '../services/invoker/executor';
import { Gate } from '../services/invoker/gate';
import { MemoryBudget } from '../services/invoker/memory-budget';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The name of what `p` rejects with ('' when it resolves): a DOMException is not an Error for t.throwsAsync. */
async function rejection(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return '';
  } catch (err: unknown) {
    return (err as { name?: string }).name ?? String(err);
  }
}

test('a deadline nobody asked the AbortSignal of reads as aborted once it passes, and one asked for late is already aborted as a timeout', async (t) => {
  const s = invocationSignal(Date.now() + 40);
  t.false(s.aborted);
  await sleep(80);
  t.true(s.aborted);
  t.true(s.signal.aborted);
  t.is((s.signal.reason as DOMException).name, 'TimeoutError');
  s.dispose();
});

test('an AbortSignal asked for before the deadline aborts at it, and dispose leaves no timer behind', async (t) => {
  const s = invocationSignal(Date.now() + 40);
  const signal = s.signal;
  t.is(abortSignalOf(s), signal, 'made once');
  const aborted = new Promise<unknown>((resolve) => signal.addEventListener('abort', () => resolve(signal.reason), { once: true }));
  t.is(((await aborted) as DOMException).name, 'TimeoutError');
  t.true(s.aborted);
  const kept = invocationSignal(Date.now() + 40);
  const early = kept.signal;
  kept.dispose();
  await sleep(80);
  t.false(early.aborted, 'disposed: its timer was cleared');
});

test('shutdown aborts the signal whether its AbortSignal was made before or after', (t) => {
  const shutdown = new AbortController();
  const made = invocationSignal(Date.now() + 60_000, shutdown.signal);
  const before = made.signal;
  const lazy = invocationSignal(Date.now() + 60_000, shutdown.signal);
  shutdown.abort(new Error('stopping'));
  t.true(before.aborted);
  t.is((before.reason as Error).message, 'stopping');
  t.true(lazy.aborted);
  t.is((lazy.signal.reason as Error).message, 'stopping');
  made.dispose();
  lazy.dispose();
});

test('a gate waiter and a memory claim that wait on a lazy deadline are let go with its reason when it passes', async (t) => {
  const gate = new Gate(1);
  const release = await gate.acquire();
  const s = invocationSignal(Date.now() + 50);
  t.is(await rejection(gate.acquire(s)), 'TimeoutError');
  release();
  t.is(typeof (await gate.acquire(invocationSignal(Date.now() + 1000))), 'function', 'the place was never taken by the waiter that gave up');
  const budget = new MemoryBudget(100, 5_000);
  const held = await budget.claim(80, 'a');
  const claim = invocationSignal(Date.now() + 50);
  t.is(await rejection(budget.claim(50, 'b', claim)), 'TimeoutError');
  held();
  t.is(budget.inUse, 0);
  s.dispose();
  claim.dispose();
  // already past: refused at once, without waiting
  t.is(await rejection(gate.acquire(invocationSignal(Date.now() - 1))), 'TimeoutError');
});
