// Resource Graph adapter: finds every VM carrying the tag, a page of up to 1,000 rows at a time.
// The snapshot can lag ARM; callers re-read a VM before writing to it.
import type { ArmClients } from './armClients';

export interface TaggedVmRow {
  readonly id: string;
  readonly location: string;
  readonly tagKey: string;
  readonly tagValue: string;
  readonly identity?: {
    readonly type?: string;
    readonly userAssignedIdentities?: Readonly<Record<string, { principalId?: string; clientId?: string }>>;
  } | null;
}

export const GRAPH_PAGE_SIZE = 1000;

/** KQL string literal: single quotes, with `\` and `'` escaped. */
function kqlString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * Tag names are case-insensitive in ARM but Resource Graph's `tags['key']` lookup is not, so the tag
 * bag is expanded and its keys compared with `=~`.
 */
export function taggedVmQuery(tagKey: string): string {
  return [
    'resources',
    "| where type =~ 'microsoft.compute/virtualmachines'",
    '| mv-expand bagexpansion=array tags',
    `| where tostring(tags[0]) =~ ${kqlString(tagKey)}`,
    '| project id, location, tagKey = tostring(tags[0]), tagValue = tostring(tags[1]), identity',
  ].join('\n');
}

export interface TaggedVmPage {
  readonly rows: readonly TaggedVmRow[];
  /** Present when more rows remain: pass it to the next call. */
  readonly skipToken?: string;
}

export class ResourceGraph {
  constructor(private readonly clients: ArmClients) {}

  /** One Resource Graph request: a page of up to 1,000 tagged VMs. */
  async taggedVmPage(
    subscriptions: readonly string[],
    tagKey: string,
    skipToken?: string,
    abortSignal?: AbortSignal,
  ): Promise<TaggedVmPage> {
    const page = await this.clients.graph().resources(
      {
        query: taggedVmQuery(tagKey),
        subscriptions: [...subscriptions],
        options: { top: GRAPH_PAGE_SIZE, resultFormat: 'objectArray', ...(skipToken ? { skipToken } : {}) },
      },
      abortSignal ? { abortSignal } : {},
    );
    return {
      rows: (page.data as TaggedVmRow[] | undefined) ?? [],
      ...(page.skipToken ? { skipToken: page.skipToken } : {}),
    };
  }
}
