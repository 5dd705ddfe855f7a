// Who may call the function app: Event Grid, through its service tag, and nobody else on the main site; the
// SCM site (where Flex Consumption takes the code package: `func azure functionapp publish` posts it to
// /api/publish there, Azure/azure-dev#3658) keeps its own rules so that publishing still works.
//
// Learn, app-service/app-service-ip-restrictions ("Manage access restriction programmatically"): a service tag
// rule is `ipAddress: <tag>, tag: ServiceTag`; `ipSecurityRestrictionsDefaultAction` and
// `scmIpSecurityRestrictionsDefaultAction` take Allow or Deny; "Use main site rules" is
// `scmIpSecurityRestrictionsUseMain`. Event Grid delivers from the AzureEventGrid service tag (Learn,
// event-grid/network-security, "Service tags"; MicrosoftDocs/azure-docs#120578: an Azure Function's public
// interface with a rule for that tag still receives a system topic's events).
import { app, byType, evaluateTemplate, SAMPLE } from '../support/infraTemplates';

interface SiteConfig {
  ipSecurityRestrictions: Record<string, unknown>[];
  ipSecurityRestrictionsDefaultAction: string;
  scmIpSecurityRestrictionsUseMain: boolean;
  scmIpSecurityRestrictionsDefaultAction: string;
  scmIpSecurityRestrictions?: unknown[];
}

describe('deployment templates', () => {
  it('let only Event Grid reach the function app, and keep the SCM site reachable for publishing the code', () => {
    const site = byType(app, 'Microsoft.Web/sites')[0] as { properties: { siteConfig: SiteConfig } };
    const config = site.properties.siteConfig;

    expect(config.ipSecurityRestrictions).toEqual([
      expect.objectContaining({
        ipAddress: 'AzureEventGrid',
        tag: 'ServiceTag',
        action: 'Allow',
        priority: 100,
      }),
    ]);
    expect(config.ipSecurityRestrictionsDefaultAction).toBe('Deny');
    // The SCM site does not inherit the main site's rules (they would shut out the operator's publish).
    expect(config.scmIpSecurityRestrictionsUseMain).toBe(false);
    expect(config.scmIpSecurityRestrictionsDefaultAction).toBe('Allow');
    expect(config.scmIpSecurityRestrictions).toBeUndefined();

    // What Event Grid calls is this app's vmWriteEvent function (an AzureFunction endpoint), from every swept
    // subscription, so it is the one caller the rule lets in; the sweep is a timer and needs no inbound traffic.
    const e = evaluateTemplate(SAMPLE);
    const deployed = e.resources.find((r) => r.type === 'Microsoft.Web/sites');
    const destinations = e.resources
      .filter((r) => r.type === 'Microsoft.EventGrid/systemTopics/eventSubscriptions')
      .map(
        (r) =>
          (r.body.properties as { destination: { endpointType: string; properties: { resourceId: string } } })
            .destination,
      );
    expect(destinations).toHaveLength(SAMPLE.sweepSubscriptions.length);
    for (const destination of destinations) {
      expect(destination.endpointType).toBe('AzureFunction');
      expect(destination.properties.resourceId).toBe(
        `/subscriptions/${deployed?.at.subscriptionId}/resourceGroups/${deployed?.at.resourceGroup}/providers/Microsoft.Web/sites/${deployed?.name}/functions/vmWriteEvent`,
      );
    }
  });
});
