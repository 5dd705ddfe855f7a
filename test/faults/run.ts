// `npm run test:faults`: the fault matrix on a larger fleet, with a report. Exits non-zero on any
// invariant violation. Its last line is `faults: <k> injected, <c> converged, <v> invariant violations`.
import { runFaultMatrix } from './runner';

async function main(): Promise<void> {
  const vms = Number(process.env.FAULT_VMS ?? 1000);
  const seed = Number(process.env.FAULT_SEED ?? 20261128);
  // Harder than the jest matrix (0.12 and 0.05): the long run is a stress run.
  const faultRate = Number(process.env.FAULT_RATE ?? 0.2);
  const stateFaultRate = Number(process.env.STATE_FAULT_RATE ?? 0.1);
  const started = Date.now();
  const report = await runFaultMatrix({
    vms,
    seed,
    faultRate,
    stateFaultRate,
    log: (line) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${line}`),
  });
  console.log(
    `fleet: ${vms} VMs, seed ${seed}, fault rate ${faultRate} (store ${stateFaultRate}), ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  console.log('faults injected by kind:');
  for (const [kind, n] of Object.entries(report.faultsInjected).sort((a, b) => b[1] - a[1]))
    console.log(`  ${kind}: ${n}`);
  console.log('state store faults injected by kind:');
  for (const [kind, n] of Object.entries(report.stateFaultsInjected)) console.log(`  ${kind}: ${n}`);
  console.log(`events processed: ${report.eventsProcessed} (${report.eventsThrown} thrown for redelivery)`);
  console.log(`retries: ${report.retries}; sweeps: ${report.sweeps}`);
  console.log(`VMs converged: ${report.converged} of ${report.expectedToConverge} with an allowed registry`);
  console.log(`VMs left alone to keep their IMDS default identity: ${report.leftAloneForImdsDefault}`);
  console.log(`VMs that asked for the planted (not owned) pull identity's pair: ${report.askedForPlanted}`);
  console.log(
    `VMs that asked for the tainted (a role beyond pull) pull identity's pair: ${report.askedForTainted}`,
  );
  console.log(
    `scale sets: ${report.scaleSets}; tags removed or cut down mid-run: ${report.retagged}; identities detached: ${report.detached}`,
  );
  console.log(
    `attaches answered at ARM's acceptance: ${report.acceptedAttaches}; confirmed: ${report.confirmedAttaches}`,
  );
  for (const v of report.violations) console.log(`VIOLATION: ${v}`);
  console.log(
    `faults: ${report.totalFaults} injected, ${report.converged} converged, ${report.violations.length} invariant violations`,
  );
  process.exitCode = report.violations.length > 0 ? 1 : 0;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
