import {
  findTagValue,
  loginServerMatches,
  loginServerRefusal,
  parseRegistryTag,
  quote,
  type RegistryRef,
} from '../../../src/core/tag';

const SUB = '11111111-1111-1111-1111-111111111111';
const registryId = (name: string, sub = SUB) =>
  `/subscriptions/${sub}/resourceGroups/rg-acr/providers/Microsoft.ContainerRegistry/registries/${name}`;

describe('tag grammar', () => {
  it('accepts a registry name, lower-casing it', () => {
    const result = parseRegistryTag('ContosoApps', 10);
    expect(result).toEqual({ ok: true, refs: [{ form: 'name', name: 'contosoapps', text: 'ContosoApps' }] });
  });

  it('accepts login servers of the public and sovereign clouds', () => {
    const result = parseRegistryTag('contosoapps.azurecr.io fabrikam1.azurecr.cn tailspin1.AZURECR.us', 10);
    expect(result.ok && result.refs.map((r) => [r.form, r.name])).toEqual([
      ['loginServer', 'contosoapps'],
      ['loginServer', 'fabrikam1'],
      ['loginServer', 'tailspin1'],
    ]);
  });

  it('accepts a full registry resource id, keeping its subscription', () => {
    const result = parseRegistryTag(registryId('OtherSubReg'), 10);
    expect(result.ok).toBe(true);
    const ref = result.ok ? result.refs[0] : undefined;
    expect(ref?.form).toBe('resourceId');
    expect(ref?.name).toBe('othersubreg');
    expect(ref?.form === 'resourceId' && ref.registry.subscriptionId).toBe(SUB);
  });

  it.each([
    ['comma', 'regone1,regtwo2'],
    ['semicolon', 'regone1;regtwo2'],
    ['whitespace', ' regone1 \t regtwo2 '],
    ['mixed', 'regone1 ,; regtwo2,'],
  ])('splits several registries on %s', (_label, value) => {
    const result = parseRegistryTag(value, 10);
    expect(result.ok && result.refs.map((r) => r.name)).toEqual(['regone1', 'regtwo2']);
  });

  it('treats the same registry named twice (any form) as one request', () => {
    const result = parseRegistryTag('regone1 REGONE1.azurecr.io', 10);
    expect(result.ok && result.refs.length).toBe(1);
  });

  it.each([
    ['empty', '', /empty/],
    ['only separators', ' ,; ', /empty/],
    ['too short', 'abcd', /not a registry name \(5-50 letters and digits\)/],
    ['51 characters', 'a'.repeat(51), /not a registry name/],
    ['hyphen', 'my-registry', /not a registry name/],
    ['path-like', '../../subscriptions/x', /not a registry name, login server or resource id/],
    ['path-like id', `${registryId('goodname1')}/../../other`, /not a registry resource id/],
    [
      'id of a non-registry',
      `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/abcde`,
      /not a registry resource id/,
    ],
    ['300 characters', 'a'.repeat(300), /300 characters; at most 256/],
    ['non-ASCII', 'contosoäpps', /outside printable ASCII at position 7/],
    ['control character', 'contoso\u0000apps', /outside printable ASCII/],
    ['foreign login server', 'contosoapps.example.com', /not a registry login server/],
    [
      'login server with a path',
      'contosoapps.azurecr.io/evil',
      /not a registry name, login server or resource id/,
    ],
    ['login server of a look-alike domain', 'contosoapps.azurecr.io.evil.com', /not a registry login server/],
  ])('rejects %s with a specific reason', (_label, value, reason) => {
    const result = parseRegistryTag(value, 10);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toMatch(reason);
  });

  it('rejects the whole tag when one of several references is invalid', () => {
    const result = parseRegistryTag('goodname1,bad!', 10);
    expect(result.ok).toBe(false);
  });

  it('caps the number of registries one VM may request', () => {
    const result = parseRegistryTag('regone1 regtwo2 regthree3', 2);
    expect(!result.ok && result.reason).toBe('tag names 3 registries; at most 2 are allowed per VM');
  });

  it('quotes hostile text in reasons so it cannot forge log lines', () => {
    const result = parseRegistryTag('bad\nline', 10);
    // newline is a separator; "bad" is the token at fault and is quoted
    expect(!result.ok && result.reason).toBe('"bad" is not a registry name (5-50 letters and digits)');
  });
});

describe('tag lookup', () => {
  it('matches the tag key case-insensitively, as ARM does', () => {
    expect(findTagValue({ ACRPULL: 'contosoapps' }, 'acrPull')).toBe('contosoapps');
    expect(findTagValue({ other: 'x' }, 'acrPull')).toBeUndefined();
    expect(findTagValue(undefined, 'acrPull')).toBeUndefined();
  });
});

describe('quoting hostile text', () => {
  it('escapes control characters and bidi overrides, so a reason cannot forge or disguise a log line', () => {
    expect(quote('a\u202eb\u001b[31m\n"x"')).toBe(String.raw`"a\u202eb\u001b[31m\n\"x\""`);
    expect(quote('x'.repeat(100))).toBe(`"${'x'.repeat(80)}..."`);
  });
});

describe("a login server is this cloud's", () => {
  const ref = (text: string): RegistryRef => {
    const parsed = parseRegistryTag(text, 10);
    if (!parsed.ok || !parsed.refs[0]) throw new Error(`not a tag: ${text}`);
    return parsed.refs[0];
  };

  it.each([
    ['azurecr.io', 'contosoapps.azurecr.io'],
    ['azurecr.io', 'ContosoApps.AzureCR.IO'],
    ['azurecr.cn', 'contosoapps.azurecr.cn'],
    ['azurecr.us', 'contosoapps.azurecr.us'],
  ])('in a cloud of %s, accepts %s', (suffix, text) => {
    expect(loginServerRefusal(ref(text), suffix)).toBeUndefined();
  });

  it.each([
    ['azurecr.io', 'contosoapps.azurecr.cn'],
    ['azurecr.io', 'contosoapps.azurecr.us'],
    ['azurecr.cn', 'contosoapps.azurecr.io'],
    ['azurecr.us', 'contosoapps.azurecr.cn'],
  ])(
    "in a cloud of %s, refuses %s: another cloud's registry, never this cloud's of that name",
    (suffix, text) => {
      expect(loginServerRefusal(ref(text), suffix)).toBe(
        `${JSON.stringify(text)} is a login server of another cloud: this cloud's registries are <name>.${suffix}`,
      );
    },
  );

  it('says nothing of names and resource ids', () => {
    expect(loginServerRefusal(ref('contosoapps'), 'azurecr.cn')).toBeUndefined();
    expect(loginServerRefusal(ref(registryId('contosoapps')), 'azurecr.cn')).toBeUndefined();
  });

  it("matches a found registry only when ARM reports the tag's login server (any case), or none", () => {
    expect(loginServerMatches(ref('ContosoApps.azurecr.io'), 'contosoapps.azurecr.io')).toBe(true);
    expect(loginServerMatches(ref('contosoapps.azurecr.cn'), 'contosoapps.azurecr.io')).toBe(false);
    expect(loginServerMatches(ref('contosoapps.azurecr.io'), undefined)).toBe(true);
    expect(loginServerMatches(ref('contosoapps'), 'anything.example')).toBe(true);
  });
});
