/**
 * Where warm containers run (`HAYATE_CONTAINER_CPUSET`): every CPU but the first by default on a node with two
 * or more, a CPU list when set, any CPU when set to ''. The containers' own HostConfig is checked in
 * container-tier.test.ts.
 */
import { readFileSync } from 'node:fs';
import test from 'ava';
import { loadConfig } from '../services/common/config';
import { HayateError } from '../services/common/errors';

function onlineCpus(): number[] {
  return readFileSync('/sys/devices/system/cpu/online', 'utf8')
    .trim()
    .split(',')
    .flatMap((part) => {
      const [from, to] = part.split('-').map(Number);
      return Array.from({ length: (to ?? from!) - from! + 1 }, (_, i) => from! + i);
    });
}

test('containers run on every CPU but the first by default, and on none in particular on one CPU', (t) => {
  const cpus = onlineCpus();
  t.is(loadConfig({}).containerCpuset, cpus.length >= 2 ? cpus.slice(1).join(',') : '');
});

test('HAYATE_CONTAINER_CPUSET sets the CPU list, and an empty one lets containers run anywhere', (t) => {
  t.is(loadConfig({ HAYATE_CONTAINER_CPUSET: '1-3' }).containerCpuset, '1-3');
  t.is(loadConfig({ HAYATE_CONTAINER_CPUSET: '0,2,4-5' }).containerCpuset, '0,2,4-5');
  t.is(loadConfig({ HAYATE_CONTAINER_CPUSET: '' }).containerCpuset, '');
});

test('a HAYATE_CONTAINER_CPUSET that is no CPU list is refused with INVALID_OPTION', (t) => {
  for (const bad of ['all', '1-', '-1', '1;2', '1, 2', '0x1']) {
    const err = t.throws(() => loadConfig({ HAYATE_CONTAINER_CPUSET: bad }), { instanceOf: HayateError }, bad);
    t.is(err?.code, 'HAYATE_ERR_INVALID_OPTION');
    t.regex(err?.message ?? '', /HAYATE_CONTAINER_CPUSET/);
  }
});
