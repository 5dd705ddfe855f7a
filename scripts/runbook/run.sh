#!/usr/bin/env bash
# The manual runbook this project automates, run with the real Azure CLI against `npm run emulator`:
#   az identity create                      (a user-assigned identity for the VM)
#   az role assignment create --role AcrPull (on the registry, for that identity)
#   az vm identity assign / az vm identity show
# then the app's event for that VM, which must find it compliant for one ARM read and no write.
#
# Needs Debian's azure-cli (apt-get install azure-cli; 2.45 on bookworm) and `npm ci`. Nothing leaves
# the machine: az talks to the emulator on 127.0.0.1 (custom cloud, managed-identity login through
# App Service's legacy MSI_ENDPOINT protocol), and everything else goes to a dead proxy.
#
# Debian's packaging of az 2.45 is broken for two of the runbook's commands (`az vm …`: Compute
# api-version 2022-11-01 missing from its azure-mgmt-compute 29.0.0, Azure/azure-cli#25826;
# `az role assignment create`: AttributeError 'config', Azure/azure-cli#24959). Those two run through
# scripts/runbook/az-debian.py: the same az, with both bugs patched in memory (see that file). Every
# other command runs as `az` itself.
set -euo pipefail
cd "$(dirname "$0")/../.."

command -v az >/dev/null || { echo "runbook: az not found: apt-get install azure-cli" >&2; exit 1; }
PREFIX=runbook
# The emulator, as a user starts it; its settings exported (see scripts/lib/emulator.sh).
# shellcheck source=../lib/emulator.sh
source scripts/lib/emulator.sh
SUB=00000000-0000-0000-0000-000000000001
VM_ID=/subscriptions/$SUB/resourceGroups/rg-apps/providers/Microsoft.Compute/virtualMachines/vm-web-01

# --- the Azure CLI, isolated and offline ------------------------------------------------------------
export AZURE_CONFIG_DIR="$WORK/az" AZURE_CORE_COLLECT_TELEMETRY=no AZURE_CORE_SURVEY_MESSAGE=no
export AZURE_CORE_NO_COLOR=yes REQUESTS_CA_BUNDLE="$NODE_EXTRA_CA_CERTS"
export HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 NO_PROXY=127.0.0.1,localhost
# As App Service sets it: msrestazure then speaks the 2017-09-01 protocol to MSI_ENDPOINT with MSI_SECRET.
export APPSETTING_WEBSITE_SITE_NAME=acrpull-runbook
# Debian's az 2.45 (its modules in Debian's own Python, not a python3 earlier on PATH): the two
# commands its packaging breaks go through az-debian.py. Any other az (Microsoft's packages, pip)
# runs them as they are.
if [[ "$(/usr/bin/python3 -c 'from azure.cli.core import __version__; print(__version__)' 2>/dev/null)" == 2.45.0 ]]; then
  AZ_DEBIAN=(/usr/bin/python3 scripts/runbook/az-debian.py)
  VIA="  # via az-debian.py"
else
  AZ_DEBIAN=(az)
  VIA=
fi

step az cloud register --name AcrpullEmulator --endpoint-resource-manager "$ACRPULL_ARM_ENDPOINT/"
az cloud register --name AcrpullEmulator --endpoint-resource-manager "$ACRPULL_ARM_ENDPOINT/" --only-show-errors
az cloud set --name AcrpullEmulator --only-show-errors
step az login --identity --username "$EMULATOR_OPERATOR_CLIENT_ID"
az login --identity --username "$EMULATOR_OPERATOR_CLIENT_ID" --output none
ACCOUNT=$(az account show --query id -o tsv)
[[ "$ACCOUNT" == "$SUB" ]] || fail "az login found subscription '$ACCOUNT', not $SUB"

step az group show --name rg-identities
GROUP_STATE=$(az group show --name rg-identities --query properties.provisioningState -o tsv)
[[ "$GROUP_STATE" == Succeeded ]] || fail "az group show: '$GROUP_STATE'"
step az resource list --resource-type Microsoft.ContainerRegistry/registries
REGISTRY_ID=$(az resource list --resource-type Microsoft.ContainerRegistry/registries \
  --query "[?name=='contosoapps'].id | [0]" -o tsv)
[[ "$REGISTRY_ID" == */registries/contosoapps ]] || fail "registry contosoapps not listed (got '$REGISTRY_ID')"

step az identity create --resource-group rg-identities --name id-vm-web-01-pull
az identity create --resource-group rg-identities --name id-vm-web-01-pull --output json >"$WORK/identity.json"
IDENTITY_ID=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' <"$WORK/identity.json")
PRINCIPAL_ID=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["principalId"])' <"$WORK/identity.json")

step az role assignment create --role AcrPull --assignee-object-id "$PRINCIPAL_ID" \
  --assignee-principal-type ServicePrincipal --scope "$REGISTRY_ID" "$VIA"
ROLE=$("${AZ_DEBIAN[@]}" role assignment create --role AcrPull --assignee-object-id "$PRINCIPAL_ID" \
  --assignee-principal-type ServicePrincipal --scope "$REGISTRY_ID" --query roleDefinitionId -o tsv)
[[ "$ROLE" == */roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d ]] || fail "AcrPull not granted (got '$ROLE')"
# `az role assignment list` looks principals up in Microsoft Graph, which the emulator does not serve:
# read the assignments back with az rest (ARM's list, filtered by principal) instead.
step az rest --method get --url "<registry>/providers/Microsoft.Authorization/roleAssignments?\$filter=principalId eq '…'"
LISTED=$(az rest --method get \
  --url "$ACRPULL_ARM_ENDPOINT$REGISTRY_ID/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01&\$filter=principalId eq '$PRINCIPAL_ID'" \
  --query "value[?ends_with(properties.roleDefinitionId, '7f951dda-4ed3-4680-a7ca-43fe172d538d')] | length(@)" \
  -o tsv)
[[ "$LISTED" == 1 ]] || fail "AcrPull assignments listed for the identity: '$LISTED', not 1"

step az vm identity assign --resource-group rg-apps --name vm-web-01 --identities "$IDENTITY_ID" "$VIA"
"${AZ_DEBIAN[@]}" vm identity assign --resource-group rg-apps --name vm-web-01 --identities "$IDENTITY_ID" \
  --output none
step az vm identity show --resource-group rg-apps --name vm-web-01 "$VIA"
"${AZ_DEBIAN[@]}" vm identity show --resource-group rg-apps --name vm-web-01 --output json | tee "$WORK/vm-identity.json"
python3 - "$IDENTITY_ID" "$WORK/vm-identity.json" <<'PY' || fail "the identity is not on the VM"
import json, sys
wanted, path = sys.argv[1].lower(), sys.argv[2]
identity = json.load(open(path))
assert wanted in {k.lower() for k in (identity.get("userAssignedIdentities") or {})}, identity
PY
step az vm show --resource-group rg-apps --name vm-web-01 "$VIA"
SHOWN=$("${AZ_DEBIAN[@]}" vm show --resource-group rg-apps --name vm-web-01 \
  --query '{os: storageProfile.osDisk.osType, computer: osProfile.computerName, nic: networkProfile.networkInterfaces[0].id}' \
  --output tsv)
[[ "$SHOWN" == $'Linux\tvm-web-01\t'*/networkInterfaces/vm-web-01VMNic ]] || fail "az vm show: '$SHOWN'"

# --- the app: its event for the VM ------------------------------------------------------------------
step "app: Event Grid event for vm-web-01 (ACRPULL_IDENTITY_OVERRIDES=contosoapps=<the runbook's identity>)"
ACRPULL_IDENTITY_OVERRIDES="contosoapps=$IDENTITY_ID" npx ts-node --transpile-only scripts/runbook/checkApp.ts "$VM_ID"
echo "runbook: PASS"
