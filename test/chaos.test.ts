/**
 * The short form of `npm run chaos` (bench/chaos.ts): real nats-server(s), a controller and 3 invoker
 * processes under sync and async load, with invokers SIGKILLed every ~1.5 s (at least 10 of them), then a
 * NATS server of a 3-node JetStream cluster killed and restarted. Every answer is checked exactly and every
 * execution counted from the invokers' audit. No timing is asserted: figures are printed.
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import type { ChaosReport } from '../bench/chaos';
import { formatReport, runChaos, Scenario } from '../bench/chaos';

function assertDelivered(t: ExecutionContext, r: ChaosReport): void {
  t.log(formatReport(r));
  t.true(r.sync.sent > 0 && r.async.accepted > 0, 'load was sent');
  t.is(r.sync.wrong, 0, 'no wrong sync answer');
  t.is(r.sync.lost, 0, 'no lost sync request');
  t.is(r.sync.correct, r.sync.sent);
  t.is(r.async.refused, 0, 'every async request accepted');
  t.is(r.async.wrong, 0, 'no wrong async output');
  t.is(r.async.lost, 0, 'every activation finished');
  t.is(r.async.failed, 0, 'no activation failed');
  t.is(r.async.succeeded, r.async.accepted, 'every activation succeeded');
  t.is(r.executions.duplicatesOfFinished, 0, 'no finished invocation ran again');
  t.is(r.executions.unexplained, 0, 'every re-execution followed a death');
}

test.serial('chaos suite loses nothing and runs nothing finished twice when invokers are SIGKILLed every 1.5 s', async (t) => {
  t.timeout(120_000);
  const r = await runChaos({ scenario: Scenario.invokers, durationMs: 15_000, minInvokerKills: 10, maxDurationMs: 45_000, syncConcurrency: 3, asyncPerSecond: 10, settleMs: 45_000 });
  assertDelivered(t, r);
  t.true(r.invokerKills >= 10, `${r.invokerKills} invoker kills`);
});

test.serial('chaos suite loses nothing and runs nothing finished twice when a server of a 3-node NATS cluster is killed and restarted', async (t) => {
  t.timeout(120_000);
  const r = await runChaos({ scenario: Scenario.nats, durationMs: 9000, natsKillEveryMs: 2500, syncConcurrency: 3, asyncPerSecond: 10, settleMs: 45_000 });
  assertDelivered(t, r);
  t.true(r.natsKills >= 1, `${r.natsKills} NATS server kills`);
});
