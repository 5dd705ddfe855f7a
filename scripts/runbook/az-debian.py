#!/usr/bin/python3
"""Debian's azure-cli 2.45 (bookworm), with its two packaging bugs patched in memory for this process.

Nothing on disk changes; every other line of az runs as packaged. The bugs, both in how Debian pairs
azure-cli 2.45 with older Azure SDK packages, make the runbook's commands fail before they send any
request:

1. `az vm ...`: the CLI's `latest` profile asks for Compute api-version 2022-11-01, but Debian's
   azure-mgmt-compute 29.0.0 stops at 2022-08-01 ("ValueError: API version 2022-11-01 does not have
   operation group 'virtual_machines'", Azure/azure-cli#25826). Patch: Compute operation groups the
   SDK lacks fall back to the newest version it has (2022-08-01, which Compute still accepts).
2. `az role assignment create`: role/custom.py reads `assignments_client.config`, which
   azure-mgmt-authorization 3.0.0 names `_config` ("AttributeError: 'RoleAssignmentsOperations' object
   has no attribute 'config'", Azure/azure-cli#24959). Patch: a read-only `config` alias of `_config`.

Microsoft does not maintain distribution packages of the CLI (Azure/azure-cli#19640); with the
upstream CLI (or pip's) neither patch is needed. Usage: az-debian.py <az arguments>.
"""
import importlib
import os
import pkgutil
import runpy
import sys

from azure.cli.core import __version__ as AZ_VERSION
from azure.cli.core.profiles import ResourceType
from azure.cli.core.profiles._shared import AZURE_API_PROFILES, SDKProfile
import azure.mgmt.authorization
import azure.mgmt.compute

if AZ_VERSION != '2.45.0':
    sys.exit(f"az-debian.py patches Debian bookworm's azure-cli 2.45.0, not {AZ_VERSION}: run az itself")

# 1. Compute: versions the installed SDK has (its v2022_08_01-style packages).
HAVE = sorted(
    m.name[1:].replace('_', '-')
    for m in pkgutil.iter_modules(azure.mgmt.compute.__path__)
    if m.name.startswith('v20')
)
NEWEST = HAVE[-1]
latest = AZURE_API_PROFILES['latest']
compute = latest[ResourceType.MGMT_COMPUTE]
if compute.default_api_version not in HAVE:
    groups = {k: v for k, v in compute.profile.items() if k is not None}
    latest[ResourceType.MGMT_COMPUTE] = SDKProfile(
        NEWEST, {k: (v if v in HAVE else NEWEST) for k, v in groups.items()}
    )

# 2. Authorization: `config` as an alias of `_config` on every RoleAssignmentsOperations.
for module in pkgutil.iter_modules(azure.mgmt.authorization.__path__):
    if not module.name.startswith('v20'):
        continue
    try:
        ops = importlib.import_module(f'azure.mgmt.authorization.{module.name}.operations')
    except ImportError:
        continue
    cls = getattr(ops, 'RoleAssignmentsOperations', None)
    if cls is not None and not hasattr(cls, 'config'):
        cls.config = property(lambda self: self._config)

# Run az as /usr/bin/az does.
os.environ.setdefault('AZ_INSTALLER', 'DEB')
sys.argv = ['az', *sys.argv[1:]]
runpy.run_module('azure.cli')
