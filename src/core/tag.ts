// Tag grammar: `acrPull=<ref>[,; ]<ref>…` where a ref is a registry name, a login server or a
// registry resource id. Pure: no I/O. Everything a caller can put in a tag is hostile input.
import { parseRegistryId, type RegistryIdRef } from './resourceId';

export type RegistryRef =
  | { readonly form: 'name'; readonly name: string; readonly text: string }
  | { readonly form: 'loginServer'; readonly name: string; readonly text: string }
  | {
      readonly form: 'resourceId';
      readonly name: string;
      readonly text: string;
      readonly registry: RegistryIdRef;
    };

export type TagParseResult =
  | { readonly ok: true; readonly refs: readonly RegistryRef[] }
  | { readonly ok: false; readonly reason: string };

const REGISTRY_NAME = /^[a-zA-Z0-9]{5,50}$/;
/** Public, China and US Government clouds; which one is this cloud's is `loginServerRefusal`'s to say. */
const LOGIN_SERVER = /^([a-zA-Z0-9]{5,50})\.azurecr\.(io|cn|us)$/i;
/** ARM caps tag values at 256 characters; anything longer did not come from ARM. */
export const MAX_TAG_VALUE_LENGTH = 256;

/** Quotes untrusted text for a reason string: bounded length, control characters escaped. */
export function quote(text: string, max = 80): string {
  const clipped = text.length > max ? `${text.slice(0, max)}...` : text;
  // JSON escapes quotes and control characters; bidi overrides and other non-ASCII are escaped too.
  return JSON.stringify(clipped).replace(
    /[^\x20-\x7e]/g,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** ARM tag names are case-insensitive: `ACRPULL` and `acrPull` are the same tag. */
export function findTagValue(
  tags: Readonly<Record<string, string>> | undefined,
  key: string,
): string | undefined {
  if (!tags) return undefined;
  const wanted = key.toLowerCase();
  const match = Object.keys(tags).find((k) => k.toLowerCase() === wanted);
  return match === undefined ? undefined : tags[match];
}

function parseRef(token: string): RegistryRef | string {
  if (token.startsWith('/')) {
    const registry = parseRegistryId(token);
    if (!registry) {
      return `${quote(token)} is not a registry resource id (/subscriptions/<guid>/resourceGroups/<rg>/providers/Microsoft.ContainerRegistry/registries/<name>)`;
    }
    return { form: 'resourceId', name: registry.name.toLowerCase(), text: token, registry };
  }
  if (token.includes('/')) {
    return `${quote(token)} is not a registry name, login server or resource id`;
  }
  if (token.includes('.')) {
    const m = LOGIN_SERVER.exec(token);
    if (!m)
      return `${quote(token)} is not a registry login server (<name>.azurecr.io, .azurecr.cn or .azurecr.us)`;
    return { form: 'loginServer', name: (m[1] as string).toLowerCase(), text: token };
  }
  if (!REGISTRY_NAME.test(token)) {
    return `${quote(token)} is not a registry name (5-50 letters and digits)`;
  }
  return { form: 'name', name: token.toLowerCase(), text: token };
}

/**
 * Why a login server reference is refused in a cloud whose registries' login servers end in
 * `.<suffix>` (e.g. `azurecr.io`): a login server of another cloud (`x.azurecr.cn` in the public
 * cloud) names a registry the app cannot reach, never the registry of that name here. Undefined for
 * a login server of this cloud, and for names and resource ids.
 */
export function loginServerRefusal(ref: RegistryRef, suffix: string): string | undefined {
  if (ref.form !== 'loginServer') return undefined;
  const domain = ref.text.slice(ref.text.indexOf('.') + 1).toLowerCase();
  if (domain === suffix.toLowerCase()) return undefined;
  return `${quote(ref.text)} is a login server of another cloud: this cloud's registries are <name>.${suffix}`;
}

/**
 * Whether a found registry is the one a login server names: its login server, as ARM reports it, is
 * that text (ignoring case). A registry reporting none is judged by its name alone.
 */
export function loginServerMatches(ref: RegistryRef, loginServer: string | undefined): boolean {
  return ref.form !== 'loginServer' || !loginServer || loginServer.toLowerCase() === ref.text.toLowerCase();
}

export function parseRegistryTag(value: string, maxRegistries: number): TagParseResult {
  if (value.length > MAX_TAG_VALUE_LENGTH) {
    return {
      ok: false,
      reason: `tag value is ${value.length} characters; at most ${MAX_TAG_VALUE_LENGTH} are allowed`,
    };
  }
  const nonAscii = [...value].findIndex(
    (ch) => ch.charCodeAt(0) > 0x7e || (ch.charCodeAt(0) < 0x20 && !/\s/.test(ch)),
  );
  if (nonAscii >= 0) {
    return { ok: false, reason: `tag value has a character outside printable ASCII at position ${nonAscii}` };
  }
  const tokens = value.split(/[\s,;]+/).filter(Boolean);
  if (tokens.length === 0) return { ok: false, reason: 'tag value is empty: name at least one registry' };

  const refs: RegistryRef[] = [];
  for (const token of tokens) {
    const ref = parseRef(token);
    if (typeof ref === 'string') return { ok: false, reason: ref };
    // The same registry named twice (any form) is one request.
    if (!refs.some((r) => r.name === ref.name)) refs.push(ref);
  }
  if (refs.length > maxRegistries) {
    return {
      ok: false,
      reason: `tag names ${refs.length} registries; at most ${maxRegistries} are allowed per VM`,
    };
  }
  return { ok: true, refs };
}
