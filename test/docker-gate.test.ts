import test from 'ava';
import type { ImplementationFn, TestFn } from 'ava';
import { withDocker } from './helpers/docker';

/** A stand-in for ava's `test` that records what gets declared (the helper under test only declares). */
function recorder(): { declare: TestFn; declared: { how: 'run' | 'skip'; title: string; impl: ImplementationFn<[]> }[] } {
  const declared: { how: 'run' | 'skip'; title: string; impl: ImplementationFn<[]> }[] = [];
  const declare = Object.assign((title: string, impl: ImplementationFn<[]>) => declared.push({ how: 'run', title, impl }), {
    skip: (title: string, impl: ImplementationFn<[]>) => declared.push({ how: 'skip', title, impl }),
  });
  return { declare: declare as unknown as TestFn, declared };
}

function withCi<T>(value: string | undefined, body: () => T): T {
  const before = process.env['CI'];
  if (value === undefined) delete process.env['CI'];
  else process.env['CI'] = value;
  try {
    return body();
  } finally {
    if (before === undefined) delete process.env['CI'];
    else process.env['CI'] = before;
  }
}

test.serial('withDocker declares the test as it is when Docker is there', (t) => {
  const { declare, declared } = recorder();
  withCi('true', () => withDocker(declare, null)('runs', () => undefined));
  t.deepEqual(declared.map((d) => [d.how, d.title]), [['run', 'runs']]);
});

test.serial('withDocker skips the test with the reason in its title when Docker is missing outside CI', (t) => {
  const { declare, declared } = recorder();
  withCi(undefined, () => withDocker(declare, 'no Docker engine socket at /var/run/docker.sock')('runs', () => undefined));
  t.deepEqual(declared.map((d) => [d.how, d.title]), [['skip', 'runs (skipped: no Docker engine socket at /var/run/docker.sock)']]);
});

test.serial('withDocker declares a failing test when Docker is missing under CI=true', (t) => {
  const { declare, declared } = recorder();
  withCi('true', () => withDocker(declare, 'engine down')('runs', () => undefined));
  t.is(declared.length, 1);
  t.is(declared[0]?.how, 'run');
  const failures: string[] = [];
  void declared[0]?.impl({ fail: (m: string) => failures.push(m) } as never);
  t.deepEqual(failures, ['Docker is required under CI=true: engine down']);
});
