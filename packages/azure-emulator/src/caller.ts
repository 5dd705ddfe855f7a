// Who called ARM, as the emulator's token authority read it from the bearer token. Its own file: the
// request shape (armHttp), systemData and the token authority all name it.
export interface Caller {
  objectId: string;
  tenantId: string;
  /** The token's `appid`: the application (client) id. */
  clientId: string;
  /** The token came from a managed-identity endpoint (it carries `xms_mirid`). */
  managedIdentity: boolean;
}
