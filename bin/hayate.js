#!/usr/bin/env node
'use strict';
// The `hayate` command. The code is compiled TypeScript under dist/ (npm run build).
let cli;
try {
  cli = require('../dist/services/cli/main.js');
} catch (err) {
  if (err && err.code === 'MODULE_NOT_FOUND') {
    process.stderr.write('hayate: not built yet; run `npm run build` (or `npm start`) first\n');
    process.exit(1);
  }
  throw err;
}
cli.run(process.argv.slice(2));
