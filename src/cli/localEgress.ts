// Against the local emulator (ARM and the audit trail's ingestion both on loopback), the Application
// Insights SDK still reaches for Microsoft's endpoints on its own: statsbeat, and its dynamic settings
// poll, which nothing turns off but a proxy (packages/azure-emulator/README.md, "No egress"). This
// process, and only it, gets a dead proxy for them: the emulator does not print one for the shell,
// where it would break every other HTTPS tool.

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/i;

function isLoopbackUrl(url: string | undefined): boolean {
  if (!url) return false;
  try {
    return LOOPBACK.test(new URL(url).hostname);
  } catch {
    return false;
  }
}

/** The IngestionEndpoint of an Application Insights connection string. */
function ingestionEndpoint(connectionString: string | undefined): string | undefined {
  return /(?:^|;)\s*IngestionEndpoint=([^;]+)/i.exec(connectionString ?? '')?.[1]?.trim();
}

/**
 * When both ARM and ingestion are on loopback, sets (in `env`, this process's environment) a proxy
 * on a closed local port for everything but loopback, and turns statsbeat off. Returns whether it did.
 */
export function keepSdkLocal(env: Record<string, string | undefined>): boolean {
  const ingestion = ingestionEndpoint(env.APPLICATIONINSIGHTS_CONNECTION_STRING);
  if (!isLoopbackUrl(env.ACRPULL_ARM_ENDPOINT) || !isLoopbackUrl(ingestion)) return false;
  env.APPLICATION_INSIGHTS_NO_STATSBEAT = 'true';
  env.HTTPS_PROXY = 'http://127.0.0.1:9';
  const noProxy = (env.NO_PROXY ?? env.no_proxy ?? '').split(',').filter((h) => h.trim());
  for (const host of ['127.0.0.1', 'localhost']) if (!noProxy.includes(host)) noProxy.push(host);
  env.NO_PROXY = noProxy.join(',');
  return true;
}
