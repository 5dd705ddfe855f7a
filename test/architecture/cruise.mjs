// Runs dependency-cruiser with the repository's rules (/.dependency-cruiser.cjs) over a tree and prints
// { modules, violations } as JSON on stdout. Usage: node cruise.mjs <baseDir> <entry>...
//
// floors.test.ts runs this in a child process because dependency-cruiser is ESM-only and jest here runs
// CommonJS without --experimental-vm-modules, so the test cannot import() it in-process.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cruise } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';

const CONFIG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../.dependency-cruiser.cjs');

const [baseDir, ...entries] = process.argv.slice(2);
if (!baseDir || entries.length === 0) {
  process.stderr.write('usage: node cruise.mjs <baseDir> <entry>...\n');
  process.exit(2);
}

// The same rules and options for the real tree and for the test's fixture trees: paths are relative to baseDir.
process.chdir(baseDir);
const options = await extractDepcruiseOptions(CONFIG);
const tsConfig = options.tsConfig?.fileName ? extractTSConfig(options.tsConfig.fileName) : undefined;
const { output } = await cruise(entries, options, {}, { tsConfig });

process.stdout.write(
  JSON.stringify({
    modules: output.modules.map((module) => module.source),
    violations: output.summary.violations,
  }),
);
