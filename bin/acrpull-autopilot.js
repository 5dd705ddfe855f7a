#!/usr/bin/env node
// In a checkout (sources present) the TypeScript sources run through ts-node, so a stale build can
// never answer; a published package without sources runs the compiled JavaScript.
const path = require('node:path');
const fs = require('node:fs');
const root = path.join(__dirname, '..');
const source = path.join(root, 'src', 'cli', 'main.ts');
if (fs.existsSync(source)) {
  require('ts-node').register({ transpileOnly: true, project: path.join(root, 'tsconfig.json') });
  require(source);
} else {
  require(path.join(root, 'dist', 'src', 'cli', 'main.js'));
}
