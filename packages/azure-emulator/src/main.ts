// `npm run emulator`: the emulator on its own, with a small sample world, printing the settings that
// point the app at it, as `export NAME='value'` lines a POSIX shell takes as they are (the Application
// Insights connection string holds `;`). Runs until Ctrl-C.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startEmulator } from './index';

const SUBSCRIPTION = '00000000-0000-0000-0000-000000000001';
const LOCATION = 'westeurope';

function port(variable: string): number {
  const value = Number(process.env[variable] ?? 0);
  if (!Number.isInteger(value) || value < 0 || value > 65535)
    throw new Error(`${variable} must be a port number`);
  return value;
}

async function main(): Promise<void> {
  const emu = await startEmulator({
    armPort: port('EMULATOR_ARM_PORT'),
    identityPort: port('EMULATOR_IDENTITY_PORT'),
    ingestionPort: port('EMULATOR_INGESTION_PORT'),
    imdsPort: port('EMULATOR_IMDS_PORT'),
  });

  const identityGroup = emu.seedResourceGroup(SUBSCRIPTION, 'rg-identities', LOCATION);
  emu.seedResourceGroup(SUBSCRIPTION, 'rg-apps', LOCATION);
  const base = { subscriptionId: SUBSCRIPTION, resourceGroup: 'rg-apps', location: LOCATION };
  const contosoapps = emu.seedRegistry({
    ...base,
    name: 'contosoapps',
    roleAssignmentMode: 'LegacyRegistryPermissions',
  });
  emu.seedRegistry({
    ...base,
    name: 'contosoabac',
    roleAssignmentMode: 'AbacRepositoryPermissions',
    sku: 'Premium',
  });
  const vm = emu.seedVm({ ...base, name: 'vm-web-01', tags: { acrPull: 'contosoapps' } });
  // Someone to run the manual runbook as (`az login --identity --username <client id>`): a platform
  // engineer's automation identity, which is not the app.
  const operator = emu.seedIdentity({
    subscriptionId: SUBSCRIPTION,
    resourceGroup: 'rg-identities',
    name: 'id-platform-operator',
    location: LOCATION,
  });

  // Two workloads that pull from contosoapps themselves (scripts/skopeo/run.sh): vm-pull-01's identity
  // holds AcrPull on the registry, vm-nogrant-01's holds nothing. Untagged, so the app leaves them be.
  const identities = { subscriptionId: SUBSCRIPTION, resourceGroup: 'rg-identities', location: LOCATION };
  const puller = emu.seedIdentity({ ...identities, name: 'id-vm-pull-01' });
  emu.seedRoleAssignment({
    scope: contosoapps.id,
    roleDefinitionId: '7f951dda-4ed3-4680-a7ca-43fe172d538d',
    principalId: puller.principalId,
  });
  const pullVm = emu.seedVm({ ...base, name: 'vm-pull-01', userAssignedIdentityIds: [puller.id] });
  const stranger = emu.seedIdentity({ ...identities, name: 'id-vm-nogrant-01' });
  const noGrantVm = emu.seedVm({ ...base, name: 'vm-nogrant-01', userAssignedIdentityIds: [stranger.id] });
  const registry = await emu.registryEndpoint(contosoapps.id);

  const caPath = path.resolve(process.cwd(), '.emulator', 'ca.pem');
  mkdirSync(path.dirname(caPath), { recursive: true });
  writeFileSync(caPath, emu.caCertPem);

  const settings = {
    ACRPULL_ARM_ENDPOINT: emu.armEndpoint,
    ACRPULL_ARM_AUDIENCE: 'https://management.azure.com',
    IDENTITY_ENDPOINT: emu.identityEndpoint,
    IDENTITY_HEADER: emu.identityHeader,
    NODE_EXTRA_CA_CERTS: caPath,
    ACRPULL_IDENTITY_RESOURCE_GROUP: identityGroup,
    ACRPULL_ALLOWED_REGISTRIES: 'contosoapps,contosoabac',
    APPLICATIONINSIGHTS_CONNECTION_STRING: emu.connectionString,
    // Keeps applicationinsights 3.x's statsbeat home (README: "No egress"). Its settings poll needs a
    // dead HTTPS_PROXY, which would break every other HTTPS tool in the shell: the CLI sets one for its
    // own process when ARM and ingestion are both on loopback (src/cli/localEgress.ts).
    APPLICATION_INSIGHTS_NO_STATSBEAT: 'true',
    // The same endpoint in App Service's legacy protocol (api-version 2017-09-01, `secret` header), as
    // azure-cli 2.45 speaks it when APPSETTING_WEBSITE_SITE_NAME is set (README: Other clients).
    MSI_ENDPOINT: emu.identityEndpoint,
    MSI_SECRET: emu.identityHeader,
    EMULATOR_OPERATOR_CLIENT_ID: operator.clientId,
    // The registry data plane and the VMs' IMDS (docs/emulator.md, "Pulling from a registry").
    EMULATOR_REGISTRY_HOST: registry.host,
    EMULATOR_REGISTRY_LOGIN_SERVER: contosoapps.loginServer,
    EMULATOR_HELLO_WORLD_DIGEST: emu.imageDigest(contosoapps.id, 'hello-world', 'latest') ?? '',
    EMULATOR_PULL_VM_IMDS: emu.vmImdsEndpoint(pullVm.id),
    EMULATOR_NOGRANT_VM_IMDS: emu.vmImdsEndpoint(noGrantVm.id),
  };
  console.log(`# Azure emulator running (tenant ${emu.tenantId}, subscription ${SUBSCRIPTION}).`);
  console.log(`# Sample: registries contosoapps (legacy RBAC) and contosoabac (ABAC), VM ${vm.id}`);
  console.log('# Point the app at it: paste these lines into your shell (or eval them):');
  for (const [name, value] of Object.entries(settings)) console.log(shellExport(name, value));
  console.log('# Ctrl-C to stop.');

  const stop = () => {
    emu.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/** `export NAME='value'`: single-quoted, so `;`, `$` and spaces stay in the value; a quote is closed, escaped, reopened. */
function shellExport(name: string, value: string): string {
  return `export ${name}='${value.replace(/'/g, "'\\''")}'`;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
