#!/usr/bin/env node
// Entry point of `npx acrpull-autopilot`.
import { runDoctorCommand } from './doctorCommand';
import { runReconcileCommand } from './reconcileCommand';
import { runResetCommand } from './resetCommand';

const argv = process.argv.slice(2);
const io = {
  out: (line: string) => process.stdout.write(`${line}\n`),
  err: (line: string) => process.stderr.write(`${line}\n`),
  env: process.env,
};
// `doctor` diagnoses one target (reads only), `reset` forgets what the app remembers of one; everything
// else is `reconcile`, which says what it accepts.
const command = argv.find((arg) => !arg.startsWith('-'));
const run =
  command === 'doctor'
    ? runDoctorCommand(argv, io)
    : command === 'reset'
      ? runResetCommand(argv, io)
      : runReconcileCommand(argv, io);
run.then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`acrpull-autopilot: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
