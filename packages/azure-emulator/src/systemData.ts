// ARM's `systemData` on the resources it creates: who created and who last modified a resource,
// taken from the caller's token, never from the request body. Every ARM resource carries it
// (common-types v5 `systemData`, readOnly; shared/reference/azure-rest.md §11). What ARM writes:
// - an application (service principal) caller: createdBy = its application (client) id,
//   createdByType `Application` (seen in Azure SDK test recordings);
// - a managed identity: createdByType `ManagedIdentity` with a GUID in createdBy (seen in public
//   `az vm image terms accept` output, e.g. Azure Cloud Shell runs). Whether that GUID is the client
//   id or the object id is not documented, so the emulator does either (`systemDataCreatedBy`) and the
//   tests run both; the app accepts both ids of its own identity;
// - a user: the user's sign-in name, `User` (only seeds here: the emulator issues no user tokens).
import type { Caller } from './caller';

export type CreatedByType = 'User' | 'Application' | 'ManagedIdentity' | 'Key';

export interface SystemDataActor {
  by: string;
  type: CreatedByType;
}

/** Which id of a managed-identity caller ARM writes into systemData.createdBy. */
export type SystemDataCreatedBy = 'clientId' | 'objectId';

export interface SystemDataRecord {
  createdBy: string;
  createdByType: CreatedByType;
  createdAt: string;
  lastModifiedBy: string;
  lastModifiedByType: CreatedByType;
  lastModifiedAt: string;
}

/** Who the caller is, as ARM records it. */
export function actorOf(caller: Caller, createdBy: SystemDataCreatedBy): SystemDataActor {
  if (!caller.managedIdentity) return { by: caller.clientId, type: 'Application' };
  return { by: createdBy === 'objectId' ? caller.objectId : caller.clientId, type: 'ManagedIdentity' };
}

export function createdSystemData(actor: SystemDataActor, atMs: number): SystemDataRecord {
  const at = new Date(atMs || Date.now()).toISOString();
  return {
    createdBy: actor.by,
    createdByType: actor.type,
    createdAt: at,
    lastModifiedBy: actor.by,
    lastModifiedByType: actor.type,
    lastModifiedAt: at,
  };
}

/** A later write changes only the lastModified* fields: the creator stays. */
export function modifiedSystemData(record: SystemDataRecord, actor: SystemDataActor, atMs: number): void {
  record.lastModifiedBy = actor.by;
  record.lastModifiedByType = actor.type;
  record.lastModifiedAt = new Date(atMs).toISOString();
}
