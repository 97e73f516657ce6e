#!/usr/bin/env node
// Generates the protobufjs static codec (JS + .d.ts) from proto/hayate/v1/*.proto.
// Output goes to services/common/gen/ (for tsc) and dist/services/common/gen/ (for node).
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const protoDir = path.join(root, 'proto', 'hayate', 'v1');
const outDir = path.join(root, 'services', 'common', 'gen');
const distDir = path.join(root, 'dist', 'services', 'common', 'gen');
const protos = fs.readdirSync(protoDir).filter((f) => f.endsWith('.proto')).sort().map((f) => path.join(protoDir, f));
const bin = (name) => path.join(root, 'node_modules', '.bin', name);

fs.mkdirSync(outDir, { recursive: true });
fs.mkdirSync(distDir, { recursive: true });
const js = path.join(outDir, 'hayate.js');
// --force-number: uint64 fields (timestamps, byte counts) fit in a double; no Long in our API.
execFileSync(bin('pbjs'), ['-t', 'static-module', '-w', 'commonjs', '--force-number', '--no-verify', '--no-delimited', '--no-beautify', '-p', path.join(root, 'proto'), '-o', js, ...protos], { stdio: 'inherit' });
execFileSync(bin('pbts'), ['-o', path.join(outDir, 'hayate.d.ts'), js], { stdio: 'inherit' });
fs.copyFileSync(js, path.join(distDir, 'hayate.js'));
console.log(`gen-proto: ${protos.length} files → services/common/gen/hayate.{js,d.ts}`);
