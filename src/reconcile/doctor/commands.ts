// What the VM's owner runs on the VM: the login commands, the raw IMDS call, and a probe script that
// walks the whole pull (DNS, IMDS token, ACR token exchange, repository token, manifest) and says
// which step fails. Pure: text only.

export const IMDS_TOKEN_URL = 'http://169.254.169.254/metadata/identity/oauth2/token';
export const ACR_RESOURCE = 'https://containerregistry.azure.net';

export interface OwnerCommands {
  readonly login: string;
  readonly acrLogin: string;
  readonly exposeToken: string;
  readonly imdsUrl: string;
  readonly imds: string;
}

export interface PullEndpoint {
  readonly registry: string;
  readonly loginServer: string;
  /** The pull identity's client id, or undefined when not known. */
  readonly clientId?: string;
  /** `<name>.<region>.data.azurecr.io` when the registry serves blobs from a dedicated data endpoint. */
  readonly dataEndpoint?: string;
}

export function imdsTokenUrl(clientId: string): string {
  return `${IMDS_TOKEN_URL}?api-version=2018-02-01&resource=${ACR_RESOURCE}&client_id=${clientId}`;
}

export function ownerCommands(endpoint: PullEndpoint): OwnerCommands {
  const clientId = endpoint.clientId ?? '<clientId>';
  const imdsUrl = imdsTokenUrl(clientId);
  return {
    login: `az login --identity --client-id ${clientId}`,
    acrLogin: `az acr login -n ${endpoint.registry}`,
    exposeToken: `az acr login -n ${endpoint.registry} --expose-token --output tsv --query accessToken | docker login ${endpoint.loginServer} --username 00000000-0000-0000-0000-000000000000 --password-stdin`,
    imdsUrl,
    imds: `curl -s -H Metadata:true '${imdsUrl}'`,
  };
}

/** Single-quoted for sh (the values come from ARM, never from the tag). */
const shQuote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

/**
 * A POSIX sh script the owner runs on the VM: `sh probe.sh [repository[:tag]]` (default
 * hello-world:latest). Needs curl; prints one line per step and stops at the first that fails, naming
 * it. The IMDS address and curl options can be overridden (ACRPULL_PROBE_IMDS, ACRPULL_PROBE_REGISTRY_URL,
 * ACRPULL_PROBE_CURL_OPTS) for testing.
 */
export function probeScript(endpoint: PullEndpoint, targetName: string): string {
  const clientId = endpoint.clientId ?? '';
  return `#!/bin/sh
# acrpull-autopilot doctor probe for ${targetName} -> ${endpoint.loginServer}
# Run on the VM: sh probe.sh [repository[:tag]]   (default hello-world:latest)
set -u

LOGIN_SERVER=${shQuote(endpoint.loginServer)}
DATA_ENDPOINT=${shQuote(endpoint.dataEndpoint ?? '')}
CLIENT_ID=${shQuote(clientId)}
IMDS="\${ACRPULL_PROBE_IMDS:-http://169.254.169.254}"
REGISTRY_URL="\${ACRPULL_PROBE_REGISTRY_URL:-https://$LOGIN_SERVER}"
CURL_OPTS="\${ACRPULL_PROBE_CURL_OPTS:-}"

REF="\${1:-hello-world:latest}"
case "$REF" in
  *@*) REPO="\${REF%%@*}"; REFERENCE="\${REF#*@}" ;;
  *:*) REPO="\${REF%:*}"; REFERENCE="\${REF##*:}" ;;
  *) REPO="$REF"; REFERENCE=latest ;;
esac

step() { printf '%-34s' "$1"; }
ok() { echo "ok\${1:+ ($1)}"; }
fail() { echo "FAIL"; echo "  $1" >&2; echo "probe: failed at: $STEP"; exit 1; }
json() { sed -n "s/.*\\"$1\\" *: *\\"\\([^\\"]*\\)\\".*/\\1/p"; }

command -v curl >/dev/null 2>&1 || { echo "probe: curl is needed"; exit 2; }
[ -n "$CLIENT_ID" ] || { echo "probe: the pull identity's client id is unknown (run the doctor again once it exists)"; exit 2; }

resolve() {
  if command -v getent >/dev/null 2>&1; then getent hosts "$1" | awk '{ print $1; exit }'
  elif command -v nslookup >/dev/null 2>&1; then nslookup "$1" 2>/dev/null | awk '/^Address/ { a = $2 } END { print a }'
  else echo unknown; fi
}
is_private() {
  case "$1" in
    10.*|192.168.*|172.1[6-9].*|172.2[0-9].*|172.3[01].*) return 0 ;;
    *) return 1 ;;
  esac
}

STEP="1 DNS $LOGIN_SERVER"
step "$STEP"
if [ -z "\${ACRPULL_PROBE_REGISTRY_URL:-}" ]; then
  IP="$(resolve "$LOGIN_SERVER")"
  [ -n "$IP" ] || fail "$LOGIN_SERVER does not resolve: check the VNet's DNS (privatelink.azurecr.io zone linked to it for a private endpoint)"
  if is_private "$IP"; then ok "$IP, private endpoint"; else ok "$IP, public"; fi
else
  ok "skipped: $REGISTRY_URL"
fi

if [ -n "$DATA_ENDPOINT" ] && [ -z "\${ACRPULL_PROBE_REGISTRY_URL:-}" ]; then
  STEP="1b DNS $DATA_ENDPOINT"
  step "$STEP"
  IP="$(resolve "$DATA_ENDPOINT")"
  [ -n "$IP" ] || fail "$DATA_ENDPOINT does not resolve: layers are served from the data endpoint, which needs its own DNS record"
  ok "$IP"
fi

STEP="2 IMDS token (client id $CLIENT_ID)"
step "$STEP"
BODY="$(curl -sS $CURL_OPTS -H Metadata:true "$IMDS/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${ACR_RESOURCE}&client_id=$CLIENT_ID" 2>&1)" \\
  || fail "IMDS did not answer: $BODY"
AAD_TOKEN="$(printf '%s' "$BODY" | json access_token)"
[ -n "$AAD_TOKEN" ] || fail "IMDS refused: $BODY (is the identity attached to this VM? is the client id right?)"
ok

STEP="3 POST /oauth2/exchange"
step "$STEP"
BODY="$(curl -sS $CURL_OPTS -X POST -H 'Content-Type: application/x-www-form-urlencoded' \\
  --data "grant_type=access_token&service=$LOGIN_SERVER&access_token=$AAD_TOKEN" "$REGISTRY_URL/oauth2/exchange" 2>&1)" \\
  || fail "the registry is not reachable: $BODY (network path, firewall, private endpoint)"
REFRESH="$(printf '%s' "$BODY" | json refresh_token)"
[ -n "$REFRESH" ] || fail "the registry refused the Entra token: $BODY"
ok

STEP="4 GET /oauth2/token ($REPO:pull)"
step "$STEP"
BODY="$(curl -sS $CURL_OPTS -u "00000000-0000-0000-0000-000000000000:$REFRESH" \\
  "$REGISTRY_URL/oauth2/token?service=$LOGIN_SERVER&scope=repository:$REPO:pull" 2>&1)" \\
  || fail "the token request failed: $BODY"
ACR_TOKEN="$(printf '%s' "$BODY" | json access_token)"
[ -n "$ACR_TOKEN" ] || fail "no repository token: $BODY (the pull grant is missing or not propagated yet)"
ok

STEP="5 HEAD manifest $REPO:$REFERENCE"
step "$STEP"
STATUS="$(curl -sS $CURL_OPTS -o /dev/null -w '%{http_code}' -I -H "Authorization: Bearer $ACR_TOKEN" \\
  -H 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json' \\
  "$REGISTRY_URL/v2/$REPO/manifests/$REFERENCE" 2>&1)" || fail "the manifest request failed: $STATUS"
case "$STATUS" in
  200) ok ;;
  401|403) fail "HTTP $STATUS: the identity may not pull $REPO (grant missing, conditioned, not propagated, or denied)" ;;
  404) fail "HTTP 404: $REPO:$REFERENCE does not exist in $LOGIN_SERVER (the pull itself is authorized)" ;;
  *) fail "HTTP $STATUS" ;;
esac

echo "probe: every step passed: this VM can pull $REPO:$REFERENCE from $LOGIN_SERVER"
`;
}
