#!/usr/bin/env node
// Entry point of `npx acrpull-autopilot`.
import { runDoctorCommand } from './doctorCommand';
import { runReconcileCommand } from './reconcileCommand';

const argv = process.argv.slice(2);
const io = {
  out: (line: string) => process.stdout.write(`${line}\n`),
  err: (line: string) => process.stderr.write(`${line}\n`),
  env: process.env,
};
// `doctor` diagnoses one target (reads only); everything else is `reconcile`, which says what it accepts.
const command = argv.find((arg) => !arg.startsWith('-'));
(command === 'doctor' ? runDoctorCommand(argv, io) : runReconcileCommand(argv, io)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`acrpull-autopilot: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
