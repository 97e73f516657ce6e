#!/usr/bin/env node
// Writes docs/configuration.md from the JSDoc of `Config` in services/common/config.ts (the one place
// every setting, its environment variable and its default are written). `npm run docs:config`.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

/** The Markdown of docs/configuration.md for the given config.ts source. */
function configMarkdown(source) {
  const body = source.slice(source.indexOf('export interface Config {'));
  const rows = [];
  const re = /\/\*\*\s*([\s\S]*?)\s*\*\/\s*\n\s*(\w+): ([^;]+);/g;
  for (const m of body.slice(0, body.indexOf('\n}\n')).matchAll(re)) {
    const doc = m[1].replace(/\s*\n\s*\*\s*/g, ' ').trim();
    const env = [...doc.matchAll(/Env `([A-Z_]+)`/g)].map((e) => `\`${e[1]}\``).join(', ') || '(flag only)';
    const def = (doc.match(/@default (.+)$/) || [])[1] || '';
    const text = doc.replace(/\s*Env `[A-Z_]+`[^.]*\./g, '').replace(/\s*@default .+$/, '').trim();
    rows.push(`| \`${m[2]}\` | ${env} | ${def.replace(/\|/g, '\\|')} | ${text.replace(/\|/g, '\\|')} |`);
  }
  return [
    '# Configuration',
    '',
    'Every service reads its settings once, through `loadConfig` (`services/common/config.ts`): environment',
    'variables, overridden by command-line flags. Generated from that file (`npm run docs:config`).',
    '',
    '| setting | environment | default | meaning |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
    'Function limits (`memory_mb` 128, `timeout_ms` 10000, `max_input_bytes` 6 MiB, `max_output_bytes` 6 MiB,',
    '`max_stderr_bytes` 64 KiB) are per function, set at deploy; the defaults above apply when a deploy does',
    'not set them.',
    '',
  ].join('\n');
}

module.exports = { configMarkdown };

if (require.main === module) {
  const source = fs.readFileSync(path.join(root, 'services', 'common', 'config.ts'), 'utf8');
  fs.writeFileSync(path.join(root, 'docs', 'configuration.md'), configMarkdown(source));
  console.log('docs/configuration.md written');
}
