import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { cliMarkdown } from '../services/cli/help';
import { ROOT } from './helpers/paths';

test('docs/cli.md matches the CLI help texts when regenerated', (t) => {
  t.is(readFileSync(join(ROOT, 'docs', 'cli.md'), 'utf8'), cliMarkdown(), 'run npm run docs:cli after changing services/cli/help.ts');
});

test('docs/configuration.md matches the Config JSDoc and names every variable loadConfig reads', (t) => {
  const source = readFileSync(join(ROOT, 'services', 'common', 'config.ts'), 'utf8');
  const doc = readFileSync(join(ROOT, 'docs', 'configuration.md'), 'utf8');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { configMarkdown } = require(join(ROOT, 'scripts', 'gen-config-doc.js')) as { configMarkdown: (s: string) => string };
  t.is(doc, configMarkdown(source), 'run npm run docs:config after changing services/common/config.ts');
  const vars = [...new Set([...source.matchAll(/env\['(HAYATE_[A-Z_]+)'\]|env, '(HAYATE_[A-Z_]+)'/g)].map((m) => m[1] ?? m[2]))];
  t.true(vars.length > 10);
  for (const v of vars) t.true(doc.includes(`\`${v}\``), `${v} is read by loadConfig but not documented in Config's JSDoc`);
});
