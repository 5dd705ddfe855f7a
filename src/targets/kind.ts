// What a resource kind the app gives pull access to must declare: where ARM keeps it, which events
// name it, how Resource Graph lists it, which calls of the compute SDK read and write it, which
// identities it can hold and how its members get pull access. One file per kind declares these
// (virtualMachine.ts, scaleSet.ts); the rest of the app asks the declaration, never the kind's name.

/** The kinds the app knows: a VM, or a scale set (its model's identity). */
export type TargetKindName = 'vm' | 'scaleSet';

/** Which managed identities a resource of the kind can hold. */
export type IdentityModel = 'user-assigned' | 'system-assigned' | 'both';

export interface TargetKind {
  readonly name: TargetKindName;
  /** For messages: "virtual machine", "scale set". */
  readonly label: string;
  /** ARM's resource type, as in resource ids. */
  readonly armType: string;
  /** Event Grid `data.operationName` of a write to it (Microsoft.Resources.ResourceWriteSuccess). */
  readonly writeOperation: string;
  /** Resource Graph's `type` (lower-case, as Resource Graph returns it). */
  readonly resourceGraphType: string;
  /**
   * The compute SDK's operation group that reads it (`get`) and the REST collection its identity
   * PATCH goes to: the adapter (azure/targetResources.ts) is the same for every kind that has the
   * VM's identity shape and PATCH semantics.
   */
  readonly sdkOperations: 'virtualMachines' | 'virtualMachineScaleSets';
  /** Which identities it can hold, given its orchestration mode where it has one. */
  identityModel(orchestrationMode: string | undefined): IdentityModel;
  /**
   * What an identity attached to it reaches (for the audit record when the app attaches one), or
   * undefined when it is just the resource itself.
   */
  attachReach(orchestrationMode: string | undefined): string | undefined;
  /**
   * Whether its GET reports the principal id each attached user-assigned identity is bound to: only
   * then can a stale binding (an identity deleted and re-created under the same name) be seen.
   */
  reportsBoundPrincipals(orchestrationMode: string | undefined): boolean;
}
