// ARM's cloud metadata endpoint: GET /metadata/endpoints?api-version=…, answered WITHOUT a token (a
// client reads it before it can get one: `az cloud register --endpoint-resource-manager …` fetches
// `{arm}/metadata/endpoints?api-version=2015-01-01` through msrestazure's
// _populate_from_metadata_endpoint and reads galleryEndpoint, graphEndpoint,
// authentication.loginEndpoint and authentication.audiences[0]; azure-cli's cloud.py maps the
// 2019-05-01 list shape: name, resourceManager, authentication{loginEndpoint, audiences, tenant,
// identityProvider}, suffixes…). Two shapes, by version:
// - 2015-01-01: one object {galleryEndpoint, graphEndpoint, portalEndpoint, authentication
//   {loginEndpoint, audiences}}; 2018-01-01 adds graphAudience and authentication.tenant /
//   identityProvider;
// - 2019-05-01: a list of clouds; 2022-09-01: this cloud alone, in the same per-cloud shape (plus
//   microsoftGraphResourceId).
// The bodies per version are those public test stubs of the endpoint hard-code (pulumi-azure-native's
// cloud metadata test), checked against what msrestazure and azure-cli read.
// The emulator describes itself as a copy of the public cloud whose resource manager is the emulator:
// the audiences are the ones its ARM accepts (and its token endpoint issues). Directory endpoints keep
// the public cloud's values; nothing here serves them (the managed-identity endpoint is the only way
// to a token), and the no-egress settings keep clients from reaching them.
import { type Handler, ok } from '../armHttp';
import { ALLOWED_AUDIENCES } from '../errors';

const AUDIENCES = ALLOWED_AUDIENCES.filter((a) => a.endsWith('/'));

export const getMetadataEndpoints: Handler = (req, ctx) => {
  const resourceManager = `${ctx.baseUrl}/`;
  if (req.apiVersion === '2015-01-01' || req.apiVersion === '2018-01-01') {
    const newer = req.apiVersion === '2018-01-01';
    return ok({
      galleryEndpoint: 'https://gallery.azure.com/',
      graphEndpoint: 'https://graph.windows.net/',
      ...(newer ? { graphAudience: 'https://graph.windows.net/' } : {}),
      portalEndpoint: 'https://portal.azure.com/',
      authentication: {
        loginEndpoint: 'https://login.microsoftonline.com/',
        audiences: AUDIENCES,
        ...(newer ? { tenant: 'common', identityProvider: 'AAD' } : {}),
      },
    });
  }
  const cloud = {
    portal: 'https://portal.azure.com',
    authentication: {
      loginEndpoint: 'https://login.microsoftonline.com',
      audiences: AUDIENCES,
      tenant: 'common',
      identityProvider: 'AAD',
    },
    graphAudience: 'https://graph.windows.net/',
    graph: 'https://graph.windows.net/',
    ...(req.apiVersion === '2022-09-01' ? { microsoftGraphResourceId: 'https://graph.microsoft.com/' } : {}),
    name: 'AzureCloud',
    suffixes: {
      acrLoginServer: 'azurecr.io',
      keyVaultDns: 'vault.azure.net',
      storage: 'core.windows.net',
      sqlServerHostname: 'database.windows.net',
    },
    resourceManager,
    gallery: 'https://gallery.azure.com/',
  };
  return ok(req.apiVersion === '2019-05-01' ? [cloud] : cloud);
};
