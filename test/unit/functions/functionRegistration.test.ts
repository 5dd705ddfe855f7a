// The trigger file builds the runtime at load: a bad setting must stop the app, naming the variable.
const RG = '/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-identities';

describe('function app startup', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  function load(): void {
    jest.isolateModules(() => {
      require('../../../src/functions/vmWriteEvent');
    });
  }

  it('fails at load, naming the variable, when a setting is invalid', () => {
    process.env.ACRPULL_IDENTITY_RESOURCE_GROUP = RG;
    process.env.ACRPULL_MODE = 'on';
    expect(load).toThrow(/^ACRPULL_MODE: invalid value "on"/);
  });

  it('fails at load when the identity resource group is missing', () => {
    delete process.env.ACRPULL_IDENTITY_RESOURCE_GROUP;
    expect(load).toThrow(/^ACRPULL_IDENTITY_RESOURCE_GROUP: is required/);
  });

  it('loads with valid settings and warns once that no registry is allowed', () => {
    process.env.ACRPULL_IDENTITY_RESOURCE_GROUP = RG;
    delete process.env.ACRPULL_ALLOWED_REGISTRIES;
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      expect(load).not.toThrow();
      const warnings = warn.mock.calls.map((c) => String(c[0]));
      expect(warnings.filter((w) => w.includes('ACRPULL_ALLOWED_REGISTRIES is not set'))).toHaveLength(1);
    } finally {
      warn.mockRestore();
    }
  });
});

describe('timer function startup', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  it('fails at load, naming the variable, when the schedule is not NCRONTAB', () => {
    process.env.ACRPULL_IDENTITY_RESOURCE_GROUP = RG;
    process.env.ACRPULL_RECONCILE_SCHEDULE = '*/15 * * * *';
    expect(() =>
      jest.isolateModules(() => {
        require('../../../src/functions/reconcileSweep');
      }),
    ).toThrow(
      /^ACRPULL_RECONCILE_SCHEDULE: invalid value "\*\/15 \* \* \* \*": must be an NCRONTAB expression with six fields/,
    );
  });

  it('loads with the default schedule', () => {
    process.env.ACRPULL_IDENTITY_RESOURCE_GROUP = RG;
    process.env.ACRPULL_ALLOWED_REGISTRIES = 'contosoapps';
    delete process.env.ACRPULL_RECONCILE_SCHEDULE;
    expect(() =>
      jest.isolateModules(() => {
        require('../../../src/functions/reconcileSweep');
      }),
    ).not.toThrow();
  });
});
