import { readdirSync, readFileSync } from 'node:fs';
import { kustoDiagnostics } from '../support/kusto';
test('x', () => {
  const dir = '/work/main/queries';
  const out: Record<string, string[]> = {};
  for (const f of readdirSync(dir)) out[f] = kustoDiagnostics(readFileSync(`${dir}/${f}`, 'utf8'));
  console.log(JSON.stringify(out, null, 1));
});
