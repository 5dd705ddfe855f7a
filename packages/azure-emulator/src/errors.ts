// One factory per real ARM error: status, code and message as Azure sends them. Messages marked
// "(not verbatim)" in README.md follow ARM's style but were not confirmed against live traffic.
import { compactGuid } from './resourceIds';

/** An entry of `error.details`, as Resource Graph sends them. */
export interface ErrorDetail {
  code: string;
  message: string;
  [extra: string]: unknown;
}

export class ArmError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly target?: string,
    readonly details?: ErrorDetail[],
  ) {
    super(message);
    this.name = 'ArmError';
  }

  toBody(): { error: { code: string; message: string; target?: string; details?: ErrorDetail[] } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.target ? { target: this.target } : {}),
        ...(this.details ? { details: this.details } : {}),
      },
    };
  }
}

/** ARM's front door (not the resource provider) produced the error. */
const GATEWAY = { 'x-ms-failure-cause': 'gateway' };

export const ALLOWED_AUDIENCES = [
  'https://management.core.windows.net/',
  'https://management.core.windows.net',
  'https://management.azure.com/',
  'https://management.azure.com',
];

// --- authentication (401) ---------------------------------------------------------------------

function challenge(description: string): Record<string, string> {
  return {
    'WWW-Authenticate': `Bearer authorization_uri="https://login.windows.net/", error="invalid_token", error_description="${description}"`,
  };
}

export const authenticationHeaderMissing = () =>
  new ArmError(
    401,
    'AuthenticationFailed',
    "Authentication failed. The 'Authorization' header is missing.",
    challenge("The authentication failed because of missing 'Authorization' header."),
  );

export const authenticationHeaderInvalid = () =>
  new ArmError(
    401,
    'AuthenticationFailed',
    "Authentication failed. The 'Authorization' header is provided in an invalid format.",
    challenge('The authentication failed because of an invalid Authorization header.'),
  );

export const invalidAuthenticationToken = () =>
  new ArmError(
    401,
    'InvalidAuthenticationToken',
    'The access token is invalid.',
    challenge('The access token is invalid.'),
  );

export const invalidTokenAudience = (audience: string) =>
  new ArmError(
    401,
    'InvalidAuthenticationTokenAudience',
    `The access token has been obtained for wrong audience or resource '${audience}'. It should exactly match with one of the allowed audiences ${ALLOWED_AUDIENCES.map((a) => `'${a}'`).join(',')}.`,
    challenge('The access token has been obtained for wrong audience or resource.'),
  );

export const expiredAuthenticationToken = (expiry: Date, now: Date) =>
  new ArmError(
    401,
    'ExpiredAuthenticationToken',
    `The access token expiry UTC time '${expiry.toUTCString()}' is earlier than current UTC time '${now.toUTCString()}'.`,
    challenge('The access token expiry UTC time is earlier than current UTC time.'),
  );

// --- request shape (400 / 404 / 501) ---------------------------------------------------------

export const missingApiVersion = () =>
  new ArmError(
    400,
    'MissingApiVersionParameter',
    'The api-version query parameter (?api-version=) is required for all requests.',
  );

/**
 * An api-version ARM's own types (subscriptions) do not take; the versions newest first, comma
 * without space (hashicorp/vault-plugin-secrets-azure#13, ansible-collections/azure#1739).
 */
export const invalidApiVersion = (given: string, supported: readonly string[]) =>
  new ArmError(
    400,
    'InvalidApiVersionParameter',
    `The api-version '${given}' is invalid. The supported versions are '${[...supported].sort().reverse().join(',')}'.`,
  );

/**
 * An api-version a resource provider's type does not take: the type without its namespace, the
 * versions ascending, comma and space (turbot/steampipe-plugin-azure#379, Azure/migAz#246). The
 * emulator models no provider locations, so that list is empty.
 */
export const noRegisteredProviderFound = (
  location: string,
  given: string,
  type: string,
  supported: readonly string[],
) =>
  new ArmError(
    400,
    'NoRegisteredProviderFound',
    `No registered resource provider found for location '${location}' and API version '${given}' for type '${type}'. The supported api-versions are '${[...supported].sort().join(', ')}'. The supported locations are ''.`,
  );

export const invalidResourceNamespace = (namespace: string) =>
  new ArmError(404, 'InvalidResourceNamespace', `The resource namespace '${namespace}' is invalid.`);

export const invalidResourceType = (type: string, namespace: string, apiVersion: string) =>
  new ArmError(
    404,
    'InvalidResourceType',
    `The resource type '${type}' could not be found in the namespace '${namespace}' for api version '${apiVersion}'.`,
  );

export const pathNotFound = (path: string) =>
  new ArmError(404, 'NotFound', `No HTTP resource was found that matches the request URI '${path}'.`);

export const notImplemented = (what: string) =>
  new ArmError(501, 'NotImplemented', `The local Azure emulator does not implement ${what}.`);

export const invalidRequestContent = (detail?: string) =>
  new ArmError(
    400,
    'InvalidRequestContent',
    `The request content was invalid and could not be deserialized${detail ? `: ${detail}` : '.'}`,
  );

export const invalidSkipToken = (token: string) =>
  new ArmError(400, 'InvalidSkipToken', `The skip token '${token}' is not valid.`);

// --- existence (404) -----------------------------------------------------------------------

export const invalidSubscriptionId = (sub: string) =>
  new ArmError(
    400,
    'InvalidSubscriptionId',
    `The provided subscription identifier '${sub}' is malformed or invalid.`,
  );

export const subscriptionNotFound = (sub: string) =>
  new ArmError(404, 'SubscriptionNotFound', `The subscription '${sub}' could not be found.`, GATEWAY);

export const resourceGroupNotFound = (rg: string) =>
  new ArmError(404, 'ResourceGroupNotFound', `Resource group '${rg}' could not be found.`, GATEWAY);

export const resourceNotFound = (type: string, name: string, rg: string) =>
  new ArmError(
    404,
    'ResourceNotFound',
    `The Resource '${type}/${name}' under resource group '${rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
  );

export const operationNotFound = () =>
  new ArmError(404, 'NotFound', 'The entity was not found in this Azure location.');

// --- resource groups (Microsoft.Resources) -----------------------------------------------------

/**
 * ARM's wording as users report it: Azure/azure-cli#22242 (409 from `az group create`), and
 * microsoft/microsoft-foundry-for-vscode#53 (InvalidResourceGroup; ARM appends a "For more details"
 * link, left out here).
 */
export const invalidResourceGroupLocation = (requested: string, existing: string) =>
  new ArmError(
    409,
    'InvalidResourceGroupLocation',
    `Invalid resource group location '${requested}'. The Resource group already exists in location '${existing}'.`,
  );

/** The emulator's words: ARM's message for a name too long or ending in '.' is not on record. */
export const invalidResourceGroupShape = (name: string) =>
  new ArmError(
    400,
    'InvalidResourceGroup',
    `The provided resource group name '${name}' is invalid: it must be 1 to 90 characters long and must not end in '.'.`,
  );

export const invalidResourceGroupName = (name: string, invalid: string) =>
  new ArmError(
    400,
    'InvalidResourceGroup',
    `The provided resource group name '${name}' has these invalid characters: '${invalid}'. The name can only be a letter, digit, '-', '.', '(', ')' or '_'.`,
  );

// --- generic resource writes ------------------------------------------------------------------

export const locationRequired = () =>
  new ArmError(400, 'LocationRequired', 'The location property is required for this definition.');

export const invalidResourceLocation = (name: string, existing: string, rg: string, requested: string) =>
  new ArmError(
    409,
    'InvalidResourceLocation',
    `The resource '${name}' already exists in location '${existing}' in resource group '${rg}'. A resource with the same name cannot be created in location '${requested}'. Please select a new resource name.`,
  );

export const invalidResourceName = (name: string, type: string) =>
  new ArmError(
    400,
    'InvalidResourceName',
    `Resource name '${name}' is invalid for type '${type}'. The name can contain only letters, digits, underscores and hyphens, must start with a letter or digit, and be 3 to 128 characters long.`,
  );

export const preconditionFailed = (given: string) =>
  new ArmError(
    412,
    'PreconditionFailed',
    `The condition specified using HTTP conditional header(s) is not met: If-Match '${given}' does not match the current entity tag.`,
  );

// --- Compute -----------------------------------------------------------------------------------

export const concurrentRequestConflict = () =>
  new ArmError(
    409,
    'Conflict',
    'The request failed due to conflict with a concurrent request. To resolve it, please refer to https://aka.ms/activitylog to get more details on the conflicting requests.',
  );

export const vmBeingProvisioned = (vmName: string) =>
  new ArmError(
    409,
    'OperationNotAllowed',
    `Operation 'Update VM' is not allowed on VM '${vmName}' since another operation is in progress (the VM is being provisioned). Retry after the operation completes.`,
  );

export const invalidParameter = (message: string, target: string) =>
  new ArmError(400, 'InvalidParameter', message, {}, target);

/**
 * A system-assigned identity on a Flexible scale set, which takes user-assigned ones only (the
 * Flexible orchestration feature table: "User Assigned Identity Only"); the message as users report
 * it (Azure/Azure-Landing-Zones#3994).
 */
export const flexibleSystemIdentity = (value: string) =>
  invalidParameter(
    `The value '${value}' of parameter 'identity' is not allowed. Allowed values are: UserAssigned, None`,
    'identity',
  );

export const requiredParameterMissing = (target: string) =>
  invalidParameter(`Required parameter '${target}' is missing (null).`, target);

export const missingIdentityIds = () =>
  new ArmError(
    400,
    'MissingIdentityIds',
    "The identity ids must not be null or empty for 'UserAssigned' identity type.",
  );

export const identityNotFound = (resourceId: string, identityId: string) =>
  new ArmError(
    400,
    'FailedIdentityOperation',
    `Identity operation for resource '${resourceId}' failed with error 'Failed to perform resource identity operation. Status: 'NotFound'. Response: '{"error":{"code":"NotFound","message":"Resource '${identityId}' not found"}}'.'.`,
  );

// --- Authorization -----------------------------------------------------------------------------

export const invalidRoleAssignmentId = (name: string) =>
  new ArmError(
    400,
    'InvalidRoleAssignmentId',
    `The role assignment ID '${name}' is not valid. The role assignment ID must be a GUID.`,
  );

export const roleAssignmentExists = (existingName: string) =>
  new ArmError(
    409,
    'RoleAssignmentExists',
    `The role assignment already exists. The ID of the existing role assignment is ${compactGuid(existingName)}.`,
  );

export const roleAssignmentUpdateNotPermitted = () =>
  new ArmError(
    400,
    'RoleAssignmentUpdateNotPermitted',
    'Tenant ID, application ID, principal ID, and scope are not allowed to be updated.',
  );

export const roleAssignmentNotFound = (name: string) =>
  new ArmError(404, 'RoleAssignmentNotFound', `The role assignment '${name}' is not found.`);

export const principalNotFound = (principalId: string, tenantId: string) =>
  new ArmError(
    400,
    'PrincipalNotFound',
    `Principal ${compactGuid(principalId)} does not exist in the directory ${tenantId}. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay. In this case, set the role assignment principalType property to a value, such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype`,
  );

export const unmatchedPrincipalType = (principalId: string, actual: string, given: string) =>
  new ArmError(
    400,
    'UnmatchedPrincipalType',
    `The PrincipalId '${compactGuid(principalId)}' has type '${actual}' , which is different from specified PrincipalType '${given}'.`,
  );

export const invalidPrincipalId = () =>
  new ArmError(400, 'InvalidPrincipalId', 'A valid principal ID must be provided for role assignment.');

export const invalidPrincipalType = (given: string) =>
  new ArmError(
    400,
    'InvalidPrincipalType',
    `The principal type '${given}' is not valid. Valid values are User, Group, ServicePrincipal, ForeignGroup and Device.`,
  );

export const invalidRoleDefinitionId = (given: string) =>
  new ArmError(400, 'InvalidRoleDefinitionId', `The role definition ID '${given}' is not valid.`);

export const roleDefinitionDoesNotExist = (guid: string) =>
  new ArmError(
    400,
    'RoleDefinitionDoesNotExist',
    `The specified role definition with ID '${compactGuid(guid)}' does not exist.`,
  );

/**
 * GET of a role definition that does not exist: 404 with the same code and message (as quoted from
 * `RoleDefinitionsClient#Get` in Azure/Enterprise-Scale's troubleshooting page: "Status=404
 * Code=\"RoleDefinitionDoesNotExist\" Message=\"The specified role definition with ID '…' does not exist.\"").
 */
export const roleDefinitionNotFound = (guid: string) =>
  new ArmError(
    404,
    'RoleDefinitionDoesNotExist',
    `The specified role definition with ID '${compactGuid(guid)}' does not exist.`,
  );

export const unsupportedRoleAssignmentFilter = (filter: string) =>
  new ArmError(
    400,
    'UnsupportedQuery',
    `The filter '${filter}' is not supported. Supported filters are either 'atScope()' or 'principalId eq '{value}' or assignedTo('{value}')'.`,
  );

// --- Resource Graph: a generic top-level error, the specific reason in `details` ----------------

/** Resource Graph's top-level message: only a timestamp and the correlation id. */
const supportInfo = (correlationId: string) =>
  `Please provide below info when asking for support: timestamp = ${new Date().toISOString()}, correlationId = ${correlationId}.`;

const graphError = (
  status: number,
  code: string,
  correlationId: string,
  details: ErrorDetail[],
  headers: Record<string, string> = {},
) => new ArmError(status, code, supportInfo(correlationId), headers, undefined, details);

export const graphQueryInvalid = (correlationId: string, query: string, reason: string) =>
  graphError(400, 'BadRequest', correlationId, [
    {
      code: 'InvalidQuery',
      message:
        'Query is invalid. Please refer to the documentation for the Azure Resource Graph service and fix the error before retrying.',
    },
    {
      code: 'UnsupportedQuery',
      message: `The local Azure emulator does not evaluate this query (${reason}); it recognizes only the query shapes listed in emulator/README.md. Query: ${query}`,
    },
  ]);

/** A request field Resource Graph refuses (`$top` out of range, malformed subscription id, …). */
export const graphRequestInvalid = (correlationId: string, code: string, message: string) =>
  graphError(400, 'BadRequest', correlationId, [{ code, message }]);

export const graphSkipTokenInvalid = (correlationId: string) =>
  graphError(400, 'BadRequest', correlationId, [
    {
      code: 'InvalidSkipToken',
      message:
        'The $skipToken is not valid for this request. A skip token must be used with the same query and scopes that returned it.',
    },
  ]);

export const graphRateLimited = (
  correlationId: string,
  retryAfterSeconds: number,
  headers: Record<string, string>,
  withRetryAfter = true,
) =>
  graphError(
    429,
    'RateLimiting',
    correlationId,
    [
      {
        code: 'RateLimiting',
        message: `Client application has been throttled and should not attempt to repeat the request until an amount of time has elapsed (${retryAfterSeconds} s). Please see https://aka.ms/resourcegraph-throttling for help.`,
      },
    ],
    withRetryAfter ? { ...headers, 'Retry-After': String(retryAfterSeconds) } : { ...headers },
  );

// --- throttling and faults ---------------------------------------------------------------------

/** ARM's 429 when a token bucket is empty (velero #9171 wording; the tenant variant is not verbatim). */
const requestsThrottled =
  (code: string, scope: 'subscription' | 'tenant') =>
  (
    id: string,
    kind: string,
    actor: string,
    retryAfterSeconds: number,
    headers: Record<string, string> = {},
  ) =>
    new ArmError(
      429,
      code,
      `Number of '${kind}' requests for ${scope} '${id}' actor '${actor}' exceeded. Please try again after '${retryAfterSeconds}' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling for additional information.`,
      headers,
    );

export const subscriptionThrottled = requestsThrottled('SubscriptionRequestsThrottled', 'subscription');

export const tenantThrottled = requestsThrottled('TenantRequestsThrottled', 'tenant');

export const internalServerError = (detail: string) =>
  new ArmError(
    500,
    'InternalServerError',
    `Encountered internal server error. Diagnostic information: ${detail}`,
  );

// --- Microsoft.Network and Private DNS child resources ----------------------------------------

/**
 * A child resource (subnet, peering, virtual network link, record set) missing under an existing
 * parent: the resource provider answers 404 NotFound naming the resource's id (not verbatim: the
 * Network RP's wording as users quote it, "Resource <id> not found.").
 */
export const childResourceNotFound = (id: string) =>
  new ArmError(404, 'NotFound', `Resource ${id} not found.`);
