// Architecture rules for src/ and the emulator package (packages/azure-emulator/src/).
// Enforced by test/architecture/floors.test.ts; to see the violations by hand:
//   npx depcruise src packages/azure-emulator/src --output-type err-long
//
// Floors, highest first. A file may import files on its own floor or any lower floor, never a higher one.
// Paths are regular expressions on repository-relative paths.
const FLOORS = [
  { name: 'entry points', paths: ['^src/functions/', '^src/cli/'] },
  { name: 'handlers', paths: ['^src/handlers/', '^src/runtime\\.ts$'] },
  { name: 'reconcile', paths: ['^src/reconcile/'] },
  { name: 'audit', paths: ['^src/audit/'] },
  { name: 'azure and config', paths: ['^src/azure/', '^src/config/'] },
  { name: 'targets', paths: ['^src/targets/'] }, // pure declarations of resource kinds
  { name: 'core', paths: ['^src/core/'] },
];

const ALL_FLOORS = FLOORS.flatMap((floor) => floor.paths);

// One rule per floor: from that floor, no import of a file in src/ that is not on this floor or below it.
// This forbids importing a higher floor and importing a file of src/ that is on no floor at all.
const floorRules = FLOORS.map((floor, index) => {
  const allowed = FLOORS.slice(index);
  return {
    name: `floor: ${floor.name}`,
    comment: `${floor.paths.join(' and ')} may import in src/ only ${allowed.map((f) => f.name).join(', ')}.`,
    severity: 'error',
    from: { path: floor.paths },
    to: { path: '^src/', pathNot: allowed.flatMap((f) => f.paths) },
  };
});

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'core imports only core',
      comment:
        'src/core/ imports nothing but src/core/, Node built-ins (node:*) and uuid, the one npm package ' +
        'core uses today (src/core/names.ts, for v5 identity names).',
      severity: 'error',
      from: { path: '^src/core/' },
      to: { pathNot: ['^src/core/', '^node_modules/uuid/'], dependencyTypesNot: ['core'] },
    },
    ...floorRules,
    {
      name: 'every importing file of src is on a floor',
      comment: `A file of src/ that imports anything must be on a floor: ${ALL_FLOORS.join(' ')}. Add new folders to FLOORS.`,
      severity: 'error',
      from: { path: '^src/', pathNot: ALL_FLOORS },
      to: {},
    },
    {
      name: 'src never imports the emulator',
      comment:
        'src/ ships to Azure; the emulator workspace package @acrpull/azure-emulator (packages/) is for tests.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: ['^packages/', '(^|/)node_modules/@acrpull/', '^@acrpull/'] },
    },
    {
      name: 'no import circle',
      comment: 'No circle of imports, type-only imports included, in src/ or in the emulator package.',
      severity: 'error',
      from: { path: ['^src/', '^packages/azure-emulator/src/'] },
      to: { circular: true },
    },
    {
      name: 'every import resolves',
      comment:
        'An import the cruiser cannot resolve is invisible to the rules above, so it is an error itself.',
      severity: 'error',
      from: { path: ['^src/', '^packages/azure-emulator/src/'] },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // Type-only imports (import type, export type) count: they are edges of the graph too.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: '(^|/)node_modules/' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['require', 'node', 'types', 'default'],
      extensions: ['.ts', '.d.ts', '.js', '.cjs', '.mjs', '.json'],
    },
  },
};
