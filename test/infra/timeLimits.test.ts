// The host's function timeout and Event Grid's delivery timeout against the app's time budgets.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadSettings } from '../../src/config/settings';
import { IDENTITY_RG } from '../support/harness';
import { app, byType, root } from '../support/infraTemplates';

describe('time limits', () => {
  it('a sweep ends (and writes its summary) before the host would kill it, and an event is answered before Event Grid gives up', () => {
    const host = JSON.parse(readFileSync(path.join(root, 'host.json'), 'utf8')) as {
      functionTimeout: string;
    };
    const [h, m, s] = host.functionTimeout.split(':').map(Number) as [number, number, number];
    const timeoutSeconds = h * 3600 + m * 60 + s;
    const site = byType(app, 'Microsoft.Web/sites')[0] as {
      properties: { siteConfig: { appSettings: { name: string; value: string }[] } };
    };
    const setting = (name: string) =>
      Number(site.properties.siteConfig.appSettings.find((x) => x.name === name)?.value);
    const defaults = loadSettings({ ACRPULL_IDENTITY_RESOURCE_GROUP: IDENTITY_RG });
    for (const sweepBudget of [
      setting('ACRPULL_SWEEP_TIME_BUDGET_SECONDS'),
      defaults.sweepTimeBudgetMs / 1000,
    ]) {
      expect(sweepBudget + 60).toBeLessThanOrEqual(timeoutSeconds);
    }
    for (const eventBudget of [
      setting('ACRPULL_EVENT_TIME_BUDGET_SECONDS'),
      defaults.eventTimeBudgetMs / 1000,
    ]) {
      expect(eventBudget).toBeLessThan(30);
    }
  });
});
