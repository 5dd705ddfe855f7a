#!/usr/bin/env node
// Entry point of `npx acrpull-autopilot`.
import { runReconcileCommand } from './reconcileCommand';

runReconcileCommand(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  env: process.env,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`acrpull-autopilot: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
