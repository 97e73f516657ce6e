#!/usr/bin/env node
// Builds the operator page into dist/ui: compiles ui/src (browser ES modules, ui/tsconfig.json) and copies
// the page, its styles and uPlot's files from node_modules. Nothing is fetched at run time.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const out = path.join(root, 'dist', 'ui');
fs.rmSync(out, { recursive: true, force: true });
execFileSync(path.join(root, 'node_modules', '.bin', 'tsc'), ['-p', path.join(root, 'ui', 'tsconfig.json')], { stdio: 'inherit' });
fs.mkdirSync(path.join(out, 'vendor'), { recursive: true });
for (const file of ['index.html', 'style.css']) fs.copyFileSync(path.join(root, 'ui', file), path.join(out, file));
const uplot = path.dirname(require.resolve('uplot/package.json', { paths: [root] }));
for (const file of ['uPlot.iife.min.js', 'uPlot.min.css']) fs.copyFileSync(path.join(uplot, 'dist', file), path.join(out, 'vendor', file));
console.log(`build-ui: ${fs.readdirSync(out).length} entries in dist/ui`);
