// The template's parameters: what it refuses before deploying anything, how it folds case and
// duplicates, and the example parameters file.
import { parseAllowlist } from '../../src/core/allowlist';
import { isAtOrBelow } from '../../src/core/resourceId';
import { OTHER_SUB, SUB } from '../support/harness';
import {
  CONTOSO_RG,
  evaluateTemplate,
  example,
  lower,
  main,
  OVERRIDE_IDENTITY,
  SAMPLE,
  SHARED,
  subscriptionScope,
  TAILSPIN,
  where,
} from '../support/infraTemplates';

describe('least-privilege permissions (the template evaluated for a sample deployment over five subscriptions)', () => {
  it('stops the deployment, before anything is deployed, on a grant scope that is a whole subscription or not a registry, a malformed override, the app identity as an override, or the app resource group as the identity resource group', () => {
    const storage = `/subscriptions/${SUB}/resourceGroups/rg-apps/providers/Microsoft.Storage/storageAccounts/st1`;
    expect(() => evaluateTemplate({ ...SAMPLE, grantScopes: [CONTOSO_RG, `/subscriptions/${SUB}`] })).toThrow(
      `grantScopes: each entry must be a container registry id or, with allowResourceGroupGrantScopes, a resource group id (a grant scope cannot be a whole subscription), not /subscriptions/${SUB}`,
    );
    expect(() => evaluateTemplate({ ...SAMPLE, grantScopes: [storage] })).toThrow(lower(storage));
    expect(() =>
      evaluateTemplate({
        ...SAMPLE,
        identityOverrides: `northwindimages=/subscriptions/${SUB}/resourceGroups/rg-own`,
      }),
    ).toThrow('identityOverrides: each entry must be <registry>=<user-assigned identity resource id>');
    // The app must never be able to hand out its own identity: not from its identity resource group,
    // not as an override.
    expect(() =>
      evaluateTemplate({
        ...SAMPLE,
        identityResourceGroupName: 'RG-ACRPULL-APP',
        appResourceGroupName: 'rg-acrpull-app',
      }),
    ).toThrow('identityResourceGroupName: must not be the app resource group');
    const appIdentity = `/subscriptions/${SUB}/resourceGroups/rg-acrpull-app/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-acrpull-app`;
    expect(() =>
      evaluateTemplate({ ...SAMPLE, identityOverrides: `northwindimages=${appIdentity.toUpperCase()}` }),
    ).toThrow("identityOverrides: names the app's own identity");
  });

  it('takes registry ids as grant scopes by default and a resource group only as an explicit opt-in (allowResourceGroupGrantScopes), refusing one without it before anything is deployed', () => {
    const registriesOnly = { ...SAMPLE, grantScopes: [SHARED, TAILSPIN] };
    const { allowResourceGroupGrantScopes: _optIn, ...withoutOptIn } = SAMPLE;
    expect(
      evaluateTemplate({ ...registriesOnly, allowResourceGroupGrantScopes: false })
        .assignments.filter((a) => a.role.kind === 'grant')
        .map((a) => a.scope),
    ).toEqual([SHARED, TAILSPIN].map(lower));
    // The default is false: a resource group among the grant scopes stops the deployment, naming it.
    expect(() => evaluateTemplate(withoutOptIn)).toThrow(
      `grantScopes: a resource group grant scope lets the app grant pull on every registry in it, present and future; list registry ids, or set allowResourceGroupGrantScopes to true to opt in: ${lower(CONTOSO_RG)}`,
    );
    expect(() => evaluateTemplate({ ...SAMPLE, allowResourceGroupGrantScopes: false })).toThrow(
      'set allowResourceGroupGrantScopes to true',
    );
    // With the opt-in, the grant role is assigned at the resource group itself (a nested deployment into it).
    const optedIn = evaluateTemplate(SAMPLE).assignments.find((a) => a.scope === lower(CONTOSO_RG));
    expect(optedIn?.role.kind).toBe('grant');
    expect(optedIn?.madeIn).toEqual({ subscriptionId: SUB, resourceGroup: 'rg-registries' });
    const declared = (main.parameters as Record<string, { defaultValue?: unknown }>)
      .allowResourceGroupGrantScopes;
    expect(declared?.defaultValue).toBe(false);
  });

  it('folds case and duplicates: one assignment per subscription and per grant scope, overrides split on , ; or spaces', () => {
    const e = evaluateTemplate({
      ...SAMPLE,
      sweepSubscriptions: [SUB.toUpperCase(), ` ${SUB}`, OTHER_SUB],
      grantScopes: [CONTOSO_RG, CONTOSO_RG.toUpperCase()],
      identityOverrides: `northwindimages=${OVERRIDE_IDENTITY}; sharedimages=${OVERRIDE_IDENTITY.toUpperCase()} ,`,
    });

    expect(where(e).filter((w) => !/^(identities|registry|assignment)/.test(w))).toEqual([
      `fleet reader @ ${subscriptionScope(SUB)}`,
      `fleet reader @ ${subscriptionScope(OTHER_SUB)}`,
      `fleet writer @ ${subscriptionScope(SUB)}`,
      `fleet writer @ ${subscriptionScope(OTHER_SUB)}`,
      `grant @ ${lower(CONTOSO_RG)}`,
      `override identities @ ${lower(OVERRIDE_IDENTITY)}`,
    ]);
  });

  it('the example parameters deploy, and every registry their allowlist allows lies within one of their grant scopes', () => {
    const params = Object.fromEntries(Object.entries(example.parameters).map(([k, v]) => [k, v.value]));
    const e = evaluateTemplate(params, '11111111-1111-1111-1111-111111111111');
    const grantScopes = params.grantScopes as string[];

    expect(e.assignments.length).toBeGreaterThan(0);
    for (const rule of parseAllowlist(String(params.allowedRegistries))) {
      // A name or * cannot be checked against the grant scopes before deployment: the example uses ids.
      const id = rule.kind === 'registryId' ? rule.id : rule.kind === 'scope' ? rule.scope : undefined;
      expect(id && grantScopes.some((g) => isAtOrBelow(id, g))).toBeTruthy();
    }
  });
});
