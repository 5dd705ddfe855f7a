// Timer trigger: the periodic sweep over every tagged VM. Thin: all logic is in the handler.
import { app } from '@azure/functions';
import { DEFAULT_RECONCILE_SCHEDULE } from '../config/settings';
import { createSweepHandler } from '../handlers/sweepHandler';
import { getRuntime } from '../runtime';

const handleSweep = createSweepHandler(getRuntime());

app.timer('reconcileSweep', {
  // The binding expression reads the app setting; it only resolves when the setting exists.
  schedule: process.env.ACRPULL_RECONCILE_SCHEDULE
    ? '%ACRPULL_RECONCILE_SCHEDULE%'
    : DEFAULT_RECONCILE_SCHEDULE,
  handler: async (timer, context) => {
    await handleSweep(timer, context);
  },
});
