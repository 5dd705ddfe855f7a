#!/usr/bin/env node
// Entry point of the CLI (bin/acrpull-autopilot.js).
import { runDoctorCommand } from './doctorCommand';
import { keepSdkLocal } from './localEgress';
import { runReconcileCommand } from './reconcileCommand';
import { runResetCommand } from './resetCommand';
import { runStatusCommand } from './statusCommand';

keepSdkLocal(process.env);
const argv = process.argv.slice(2);
// Ctrl-C: `reconcile` and `status` stop, print what was done, and exit 130; the other commands (one
// target, reads or one delete) exit 130 at once. A second Ctrl-C exits at once in any case.
const interrupt = new AbortController();
const io = {
  out: (line: string) => process.stdout.write(`${line}\n`),
  err: (line: string) => process.stderr.write(`${line}\n`),
  env: process.env,
  signal: interrupt.signal,
};
// `doctor` diagnoses one target (reads only), `status` shows the fleet (reads only), `reset` forgets
// what the app remembers of one; everything else is `reconcile`, which says what it accepts.
const command = argv.find((arg) => !arg.startsWith('-'));
const reportsInterrupt = command !== 'doctor' && command !== 'reset';
process.once('SIGINT', () => {
  interrupt.abort();
  if (!reportsInterrupt) {
    process.stderr.write('acrpull-autopilot: interrupted\n');
    process.exit(130);
  }
  process.once('SIGINT', () => process.exit(130));
});
const run =
  command === 'doctor'
    ? runDoctorCommand(argv, io)
    : command === 'reset'
      ? runResetCommand(argv, io)
      : command === 'status'
        ? runStatusCommand(argv, io)
        : runReconcileCommand(argv, io);
// Exit once the command has said everything: requests still in flight (after Ctrl-C) or an SDK's idle
// sockets and timers must not hold the shell.
run.then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`acrpull-autopilot: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
