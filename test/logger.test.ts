import { mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { createLogger, REDACTED_FIELDS } from '../services/common/logger';

test('logger redacts payloads, stdout, stderr and env when they are logged at any of the first three levels', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'hayate-log-')), 'log.jsonl');
  const fd = openSync(file, 'a');
  const log = createLogger({ name: 'test', destination: fd });
  const secret = (f: string) => `secret-${f}`;
  const fields = Object.fromEntries(REDACTED_FIELDS.map((f) => [f, secret(f)]));
  log.info(fields, 'top');
  log.info({ request: fields }, 'nested');
  log.info({ request: { spec: fields } }, 'deeper');
  log.info({ req: { headers: { authorization: 'Bearer secret-key' } }, fn: 'upper' }, 'http');
  // the destination writes asynchronously: wait for the four lines
  let text = '';
  for (let i = 0; i < 200 && text.trim().split('\n').length < 4; i += 1) {
    await sleep(10);
    text = readFileSync(file, 'utf8');
  }
  t.is(text.trim().split('\n').length, 4);
  t.notRegex(text, /secret-/);
  const [top, nested, deeper, http] = text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  for (const f of REDACTED_FIELDS) {
    t.is(top?.[f], '[redacted]', f);
    t.is((nested?.['request'] as Record<string, unknown>)[f], '[redacted]', `request.${f}`);
    t.is(((deeper?.['request'] as Record<string, unknown>)['spec'] as Record<string, unknown>)[f], '[redacted]', `request.spec.${f}`);
  }
  t.is(http?.['fn'], 'upper', 'other fields are kept');
});
