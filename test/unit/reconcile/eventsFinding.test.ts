import { deliversToApp } from '../../../src/reconcile/sweep/eventsFinding';

const APP =
  '/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg/providers/Microsoft.Web/sites/func';
const live = {
  id: 'es',
  provisioningState: 'Succeeded',
  endpointType: 'AzureFunction',
  functionId: `${APP}/functions/vmWriteEvent`,
  includedEventTypes: ['Microsoft.Resources.ResourceWriteSuccess'],
};

describe('deliversToApp', () => {
  it('a live Azure Function destination of this app for resource writes', () => {
    expect(deliversToApp(live, APP)).toBe(true);
    expect(deliversToApp({ ...live, includedEventTypes: [] }, APP)).toBe(true);
    expect(deliversToApp(live, undefined)).toBe(true);
  });

  it('not one still provisioning or failed, another endpoint type, another app, or other event types', () => {
    expect(deliversToApp({ ...live, provisioningState: 'Failed' }, APP)).toBe(false);
    expect(deliversToApp({ ...live, provisioningState: 'Creating' }, APP)).toBe(false);
    expect(deliversToApp({ ...live, endpointType: 'WebHook' }, APP)).toBe(false);
    expect(deliversToApp({ ...live, functionId: `${APP}-other/functions/vmWriteEvent` }, APP)).toBe(false);
    expect(
      deliversToApp({ ...live, includedEventTypes: ['Microsoft.Resources.ResourceDeleteSuccess'] }, APP),
    ).toBe(false);
  });
});
