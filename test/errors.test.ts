import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { ERRORS, HayateError } from '../services/common/errors';
import { ROOT } from './helpers/paths';

test('README error table matches the error registry when read row by row', (t) => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const rows = [...readme.matchAll(/^\| `(HAYATE_ERR_[A-Z_]+)` \| (\d{3}) \| ([A-Z_]+) \|/gm)].map((m) => ({ code: m[1]!, http: Number(m[2]), status: m[3]! }));
  t.deepEqual(
    rows.map((r) => r.code).sort(),
    Object.keys(ERRORS).sort(),
    'every registry code has exactly one README row',
  );
  for (const row of rows) {
    const def = ERRORS[row.code as keyof typeof ERRORS];
    t.is(row.http, def.httpStatus, `${row.code} HTTP status`);
    t.is(row.status, def.status, `${row.code} protobuf status`);
  }
});

test('HayateError.fromWire rebuilds by code when the code is known and falls back to INTERNAL when not', (t) => {
  const known = HayateError.fromWire('HAYATE_ERR_TIMEOUT', 'slow');
  t.is(known.code, 'HAYATE_ERR_TIMEOUT');
  t.is(known.httpStatus, 504);
  t.is(known.message, 'slow');
  const unknown = HayateError.fromWire('SOMETHING_ELSE', undefined);
  t.is(unknown.code, 'HAYATE_ERR_INTERNAL');
});
