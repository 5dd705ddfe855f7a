// Guards the architecture's floors with dependency-cruiser. The rules live in /.dependency-cruiser.cjs:
//  1. src/core/ imports only src/core/, Node built-ins and uuid (the one npm package core uses today);
//  2. floors, highest first: functions, cli → handlers, runtime.ts → reconcile → audit → azure, config →
//     targets → core; a file imports its own floor or lower ones, and every importing file of src/ is on one;
//  3. src/ never imports the emulator package (@acrpull/azure-emulator, packages/);
//  4. no import circle, type-only imports included, in src/ nor in packages/azure-emulator/src/.
// The second half runs the very same rules over a fixture tree with one violation of each kind,
// so this guard is shown to fail when it should.
import { execFile } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const REPO = path.resolve(__dirname, '../..');
const RUNNER = path.join(__dirname, 'cruise.mjs');
const ENTRIES = ['src', 'packages/azure-emulator/src'];

const RULE = {
  core: 'core imports only core',
  floor: 'floor: ',
  onAFloor: 'every importing file of src is on a floor',
  emulator: 'src never imports the emulator',
  circle: 'no import circle',
  resolves: 'every import resolves',
};

interface Violation {
  type: string;
  from: string;
  to: string;
  rule: { name: string };
  cycle?: { name: string }[];
}
interface Cruise {
  modules: string[];
  violations: Violation[];
}

async function cruise(baseDir: string): Promise<Cruise> {
  const { stdout } = await promisify(execFile)(process.execPath, [RUNNER, baseDir, ...ENTRIES], {
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(stdout) as Cruise;
}

/** "from → to" for each violation of the rules whose name starts with `rule`. */
function edges(result: Cruise, rule: string): string[] {
  return result.violations
    .filter((v) => v.rule.name.startsWith(rule) && v.type !== 'cycle')
    .map((v) => `${v.from} → ${v.to}`)
    .sort();
}

/** Every circle whose first file is under `under`, written as "a → b → … → a". */
function circles(result: Cruise, under: string): string[] {
  return result.violations
    .filter((v) => v.rule.name === RULE.circle && v.from.startsWith(under))
    .map((v) => [v.from, ...(v.cycle ?? []).map((step) => step.name)].join(' → '))
    .sort();
}

/** "floor: <name>" → violations, for the floor rules only. */
function floorEdges(result: Cruise): Record<string, string[]> {
  const byRule: Record<string, string[]> = {};
  for (const v of result.violations.filter((v) => v.rule.name.startsWith(RULE.floor))) {
    byRule[v.rule.name] = [...(byRule[v.rule.name] ?? []), `${v.from} → ${v.to}`].sort();
  }
  return byRule;
}

function tsFilesUnder(root: string, dir: string): string[] {
  const full = path.join(root, dir);
  return readdirSync(full, { withFileTypes: true }).flatMap((entry) => {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return tsFilesUnder(root, rel);
    return /\.(c|m)?ts$/.test(entry.name) ? [rel] : [];
  });
}

describe('architecture floors, on src/ and packages/azure-emulator/src/', () => {
  let real: Cruise;
  beforeAll(async () => {
    real = await cruise(REPO);
  }, 120_000);

  test('the guard sees every file and resolves every import (else it would be blind)', () => {
    const onDisk = ENTRIES.flatMap((dir) => tsFilesUnder(REPO, dir));
    expect(onDisk.length).toBeGreaterThan(50);
    expect(onDisk.filter((file) => !real.modules.includes(file))).toEqual([]);
    expect(edges(real, RULE.resolves)).toEqual([]);
  });

  test('rule 1: src/core/ imports only src/core/, Node built-ins and uuid', () => {
    expect(edges(real, RULE.core)).toEqual([]);
  });

  test('rule 2: no file imports a higher floor, and every importing file of src/ is on a floor', () => {
    expect(floorEdges(real)).toEqual({});
    expect(edges(real, RULE.onAFloor)).toEqual([]);
  });

  test('rule 3: src/ never imports the emulator package', () => {
    expect(edges(real, RULE.emulator)).toEqual([]);
  });

  test('rule 4: no import circle in src/ (type-only imports count)', () => {
    expect(circles(real, 'src/')).toEqual([]);
  });

  test('rule 4: no import circle in packages/azure-emulator/src/ (type-only imports count)', () => {
    expect(circles(real, 'packages/azure-emulator/src/')).toEqual([]);
  });
});

/** A small tree shaped like this repository, with one or more violations of each rule. */
const FIXTURE: Record<string, string> = {
  // core: built-ins, uuid and core are fine; zod and a higher floor are not.
  'src/core/resourceId.ts': 'export const sameId = (a: string, b: string) => a === b;\n',
  'src/core/names.ts': [
    "import { createHash } from 'node:crypto';",
    "import { v5 } from 'uuid';",
    "import { sameId } from './resourceId';",
    'export const names = [createHash, v5, sameId];',
  ].join('\n'),
  'src/core/leaky.ts': [
    "import { z } from 'zod';",
    "import { settings } from '../config/settings';",
    'export const leaky = [z, settings];',
  ].join('\n'),
  'src/targets/kinds.ts': [
    "import { sameId } from '../core/resourceId';",
    "import { settings } from '../config/settings';", // up: targets → config
    'export const kinds = [sameId, settings];',
  ].join('\n'),
  'src/config/settings.ts': 'export const settings = {};\n',
  'src/azure/armClients.ts': [
    "import { names } from '../core/names';",
    "import { settings } from '../config/settings';", // same floor: fine
    "import { kinds } from '../targets/kinds';",
    "import type { AuditRecord } from '../audit/auditRecord';", // up (type-only): azure → audit
    'export const armClients = [names, settings, kinds];',
    'export type A = AuditRecord;',
  ].join('\n'),
  'src/audit/auditRecord.ts':
    "import { gone } from './missing';\nexport interface AuditRecord { id: string }\nexport const g = gone;\n",
  'src/audit/auditor.ts': [
    "import { armClients } from '../azure/armClients';",
    "import { reconcileVm } from '../reconcile/reconcileVm';", // up: audit → reconcile
    'export const auditor = [armClients, reconcileVm];',
  ].join('\n'),
  'src/reconcile/reconcileVm.ts': 'export const reconcileVm = 1;\n',
  'src/reconcile/sweep.ts': [
    "import { auditor } from '../audit/auditor';",
    "import { kinds } from '../targets/kinds';",
    "import { helper } from '../unfloored/helper';", // a file of src/ on no floor
    'export const sweep = [auditor, kinds, helper];',
  ].join('\n'),
  'src/reconcile/reconcileDeps.ts':
    "import type { ProvenIdentities } from './provenIdentities';\nexport interface ReconcileDeps { proven: ProvenIdentities }\n",
  'src/reconcile/provenIdentities.ts':
    "import type { ReconcileDeps } from './reconcileDeps';\nexport interface ProvenIdentities { deps?: ReconcileDeps }\n",
  'src/unfloored/helper.ts': "import { sameId } from '../core/resourceId';\nexport const helper = sameId;\n",
  'src/handlers/vmWriteHandler.ts': [
    "import { sweep } from '../reconcile/sweep';",
    "import { main } from '../cli/main';", // up: handlers → entry points
    'export const vmWriteHandler = [sweep, main];',
  ].join('\n'),
  'src/handlers/sweepHandler.ts': [
    "import { Store } from '../../packages/azure-emulator/src/store';", // the emulator, by path
    'export const sweepHandler = Store;',
  ].join('\n'),
  'src/runtime.ts': [
    "import { startEmulator } from '@acrpull/azure-emulator';", // the emulator, by package name
    "import { sweepHandler } from './handlers/sweepHandler';",
    'export const runtime = [startEmulator, sweepHandler];',
  ].join('\n'),
  'src/functions/vmWriteEvent.ts': [
    "import { vmWriteHandler } from '../handlers/vmWriteHandler';",
    "import { runtime } from '../runtime';",
    'export const vmWriteEvent = [vmWriteHandler, runtime];',
  ].join('\n'),
  'src/cli/main.ts': "import { names } from '../core/names';\nexport const main = names;\n",
  // The emulator's two circles as they were: through a Caller type, and through the public types of index.
  'packages/azure-emulator/package.json': JSON.stringify({
    name: '@acrpull/azure-emulator',
    main: 'src/index.ts',
  }),
  'packages/azure-emulator/src/armHttp.ts':
    "import type { Store } from './store';\nexport interface Caller { id: string }\nexport type S = Store;\n",
  'packages/azure-emulator/src/store.ts':
    "import { createdSystemData } from './systemData';\nexport class Store { made = createdSystemData; }\n",
  'packages/azure-emulator/src/systemData.ts':
    "export type { Caller } from './armHttp';\nexport const createdSystemData = () => ({});\n",
  'packages/azure-emulator/src/handle.ts':
    "import type { Emulator } from './index';\nexport const createHandle = (e?: Emulator) => e;\n",
  'packages/azure-emulator/src/index.ts': [
    "import { createHandle } from './handle';",
    "import { Store } from './store';",
    'export interface Emulator { store: Store }',
    'export const startEmulator = () => createHandle();',
  ].join('\n'),
  'node_modules/uuid/package.json': JSON.stringify({ name: 'uuid', main: 'index.js' }),
  'node_modules/uuid/index.js': 'exports.v5 = () => "";\n',
  'node_modules/zod/package.json': JSON.stringify({ name: 'zod', main: 'index.js' }),
  'node_modules/zod/index.js': 'exports.z = {};\n',
};

describe('the floors guard can fail: the same rules on a fixture tree with violations', () => {
  let dir: string;
  let fixture: Cruise;
  beforeAll(async () => {
    dir = realpathSync(mkdtempSync(path.join(tmpdir(), 'floors-')));
    for (const [file, text] of Object.entries(FIXTURE)) {
      mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      writeFileSync(path.join(dir, file), text);
    }
    // Like npm workspaces: node_modules/@acrpull/azure-emulator links to packages/azure-emulator.
    mkdirSync(path.join(dir, 'node_modules/@acrpull'), { recursive: true });
    symlinkSync(
      '../../packages/azure-emulator',
      path.join(dir, 'node_modules/@acrpull/azure-emulator'),
      'dir',
    );
    const { compilerOptions } = JSON.parse(readFileSync(path.join(REPO, 'tsconfig.json'), 'utf8'));
    const { types: _types, ...options } = compilerOptions;
    writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: options, include: ENTRIES }),
    );
    fixture = await cruise(dir);
  }, 120_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('rule 1 reports core importing an npm package or a higher floor, not node: built-ins or uuid', () => {
    expect(edges(fixture, RULE.core)).toEqual([
      'src/core/leaky.ts → node_modules/zod/index.js',
      'src/core/leaky.ts → src/config/settings.ts',
    ]);
  });

  test('rule 2 reports each import of a higher floor or of a file on no floor, and that file', () => {
    expect(floorEdges(fixture)).toEqual({
      'floor: handlers': ['src/handlers/vmWriteHandler.ts → src/cli/main.ts'],
      'floor: reconcile': ['src/reconcile/sweep.ts → src/unfloored/helper.ts'],
      'floor: audit': ['src/audit/auditor.ts → src/reconcile/reconcileVm.ts'],
      'floor: azure and config': ['src/azure/armClients.ts → src/audit/auditRecord.ts'],
      'floor: targets': ['src/targets/kinds.ts → src/config/settings.ts'],
      'floor: core': ['src/core/leaky.ts → src/config/settings.ts'],
    });
    expect(edges(fixture, RULE.onAFloor)).toEqual(['src/unfloored/helper.ts → src/core/resourceId.ts']);
  });

  test('rule 3 reports src importing the emulator by package name and by path', () => {
    expect(edges(fixture, RULE.emulator)).toEqual([
      'src/handlers/sweepHandler.ts → packages/azure-emulator/src/store.ts',
      'src/runtime.ts → packages/azure-emulator/src/index.ts',
    ]);
  });

  test('rule 4 reports circles of type-only imports and re-exports, naming their files', () => {
    expect(circles(fixture, 'src/')).toEqual([
      'src/reconcile/provenIdentities.ts → src/reconcile/reconcileDeps.ts → src/reconcile/provenIdentities.ts',
    ]);
    expect(circles(fixture, 'packages/azure-emulator/src/')).toEqual([
      'packages/azure-emulator/src/armHttp.ts → packages/azure-emulator/src/store.ts → packages/azure-emulator/src/systemData.ts → packages/azure-emulator/src/armHttp.ts',
      'packages/azure-emulator/src/handle.ts → packages/azure-emulator/src/index.ts → packages/azure-emulator/src/handle.ts',
    ]);
  });

  test('an import that does not resolve is reported, so the guard is never silently blind', () => {
    expect(edges(fixture, RULE.resolves)).toEqual(['src/audit/auditRecord.ts → ./missing']);
  });
});
