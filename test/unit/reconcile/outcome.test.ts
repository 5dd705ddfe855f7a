import type { AuditRecord } from '../../../src/audit/auditRecord';
import { outcomeOf, worse } from '../../../src/reconcile/outcome';

const r = (action: AuditRecord['action'], outcome: AuditRecord['outcome']): AuditRecord => ({
  action,
  outcome,
  mode: 'enforce',
  trigger: 'event',
  vmId: 'x',
});

describe('outcome precedence', () => {
  it('ranks failed over deferred over changed over planned over rejected over compliant', () => {
    expect(outcomeOf([r('identity-attached', 'changed'), r('failed', 'failed')])).toBe('failed');
    expect(outcomeOf([r('identity-attached', 'changed'), r('identity-attached', 'deferred')])).toBe(
      'deferred',
    );
    expect(outcomeOf([r('registry-denied', 'rejected'), r('identity-attached', 'changed')])).toBe('changed');
    expect(outcomeOf([r('registry-denied', 'rejected'), r('identity-attached', 'planned')])).toBe('planned');
    expect(outcomeOf([r('already-compliant', 'unchanged'), r('registry-denied', 'rejected')])).toBe(
      'rejected',
    );
    expect(outcomeOf([r('already-compliant', 'unchanged')])).toBe('compliant');
    expect(outcomeOf([])).toBe('compliant');
  });

  it('calls a target gone skipped, whatever else was recorded for it', () => {
    expect(outcomeOf([r('identity-created', 'changed'), r('vm-not-found', 'skipped')])).toBe('skipped');
  });

  it('calls a target left alone for its IMDS default rejected, though its identity and grant were made', () => {
    expect(outcomeOf([r('identity-created', 'changed'), r('attach-refused', 'rejected')])).toBe('rejected');
    expect(outcomeOf([r('identity-attached', 'changed'), r('attach-refused', 'rejected')])).toBe('changed');
  });

  it('picks the worse of two outcomes the same way for the sweep', () => {
    expect(worse('compliant', 'rejected')).toBe('rejected');
    expect(worse('failed', 'deferred')).toBe('failed');
    expect(worse('deferred', 'failed')).toBe('failed');
    expect(worse('rejected', 'compliant')).toBe('rejected');
  });
});
