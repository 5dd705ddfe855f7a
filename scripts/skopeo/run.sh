#!/usr/bin/env bash
# A real registry client against the emulated ACR data plane: skopeo reads contosoapps'
# hello-world:latest with the credentials ACR's token flow gives a VM workload (Azure/acr
# docs/AAD-OAuth.md):
#   1. the VM's IMDS: a managed-identity token for https://containerregistry.azure.net
#      (GET <IMDS>/metadata/identity/oauth2/token, header Metadata: true);
#   2. POST https://<registry>/oauth2/exchange → an ACR refresh token;
#   3. skopeo with user 00000000-0000-0000-0000-000000000000 and the refresh token as password: it
#      does the rest itself (GET /v2/ challenge, GET /oauth2/token with Basic auth, manifests, blobs).
# vm-pull-01's identity holds AcrPull on the registry and must get the image, with the digest the
# emulator printed; vm-nogrant-01's holds nothing: its exchange succeeds (ACR checks the pull right when
# it issues the access token) and skopeo must be refused.
#
# Needs skopeo (apt-get install skopeo) and `npm ci`. Offline: everything but 127.0.0.1 goes to a dead proxy.
set -euo pipefail
cd "$(dirname "$0")/../.."

command -v skopeo >/dev/null || { echo "skopeo: not found: apt-get install skopeo" >&2; exit 1; }
PREFIX=skopeo
# The emulator, as a user starts it; its settings exported (see scripts/lib/emulator.sh).
# shellcheck source=../lib/emulator.sh
source scripts/lib/emulator.sh

export HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 NO_PROXY=127.0.0.1,localhost
mkdir -p "$WORK/certs"
cp "$NODE_EXTRA_CA_CERTS" "$WORK/certs/ca.crt"
REGISTRY="$EMULATOR_REGISTRY_HOST"
NULL_GUID=00000000-0000-0000-0000-000000000000
json() { python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }

# The ACR refresh token of the VM whose IMDS base URL is $1.
refresh_token_of() {
  local aad
  aad=$(curl -sS --fail-with-body -H 'Metadata: true' \
    "$1/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fcontainerregistry.azure.net" | json access_token)
  curl -sS --fail-with-body --cacert "$NODE_EXTRA_CA_CERTS" -X POST \
    -H 'Content-Type: application/x-www-form-urlencoded' \
    --data-urlencode grant_type=access_token --data-urlencode "service=$EMULATOR_REGISTRY_LOGIN_SERVER" \
    --data-urlencode "access_token=$aad" "https://$REGISTRY/oauth2/exchange" | json refresh_token
}

step "IMDS of vm-pull-01 → POST https://$REGISTRY/oauth2/exchange"
REFRESH=$(refresh_token_of "$EMULATOR_PULL_VM_IMDS")
step skopeo inspect --raw --creds "$NULL_GUID:<refresh token>" --cert-dir "<ca.crt>" "docker://$REGISTRY/hello-world:latest"
skopeo inspect --raw --creds "$NULL_GUID:$REFRESH" --cert-dir "$WORK/certs" \
  "docker://$REGISTRY/hello-world:latest" >"$WORK/manifest.json"
cat "$WORK/manifest.json"
echo
RAW_DIGEST="sha256:$(sha256sum "$WORK/manifest.json" | cut -d' ' -f1)"
[[ "$RAW_DIGEST" == "$EMULATOR_HELLO_WORLD_DIGEST" ]] ||
  fail "manifest digest $RAW_DIGEST, not the emulator's $EMULATOR_HELLO_WORLD_DIGEST"
step skopeo inspect --format '{{.Digest}}' … "docker://$REGISTRY/hello-world:latest"
INSPECTED=$(skopeo inspect --format '{{.Digest}}' --creds "$NULL_GUID:$REFRESH" --cert-dir "$WORK/certs" \
  "docker://$REGISTRY/hello-world:latest")
echo "$INSPECTED"
[[ "$INSPECTED" == "$EMULATOR_HELLO_WORLD_DIGEST" ]] || fail "skopeo inspect: digest '$INSPECTED'"
step skopeo copy … "docker://$REGISTRY/hello-world:latest" "oci:<dir>:hello-world"
skopeo copy --quiet --src-creds "$NULL_GUID:$REFRESH" --src-cert-dir "$WORK/certs" \
  "docker://$REGISTRY/hello-world:latest" "oci:$WORK/oci:hello-world"
echo "copied: $(find "$WORK/oci/blobs/sha256" -type f | wc -l) blobs, every digest checked by skopeo"

step "IMDS of vm-nogrant-01 → POST https://$REGISTRY/oauth2/exchange (no role on the registry)"
DENIED_REFRESH=$(refresh_token_of "$EMULATOR_NOGRANT_VM_IMDS")
step skopeo inspect --raw --creds "$NULL_GUID:<its refresh token>" … "docker://$REGISTRY/hello-world:latest"
if skopeo inspect --raw --creds "$NULL_GUID:$DENIED_REFRESH" --cert-dir "$WORK/certs" \
  "docker://$REGISTRY/hello-world:latest" >"$WORK/denied.out" 2>"$WORK/denied.err"; then
  fail "a principal without a grant read the manifest"
fi
cat "$WORK/denied.err"
grep -qi 'unauthorized\|authentication required' "$WORK/denied.err" || fail "refused, but not as unauthorized"
echo "skopeo: PASS"
