import { Auditor } from '../../../src/audit/auditor';
import { MemoryAuditSink } from '../../../src/audit/auditRecord';

describe('auditor', () => {
  it('fills the shared fields once and leaves no key for absent context', () => {
    const sink = new MemoryAuditSink();
    let now = 1_000;
    const auditor = new Auditor(
      sink,
      { mode: 'enforce', trigger: 'reconcile', vmId: '/vm', eventId: undefined, caller: undefined },
      () => now,
    );
    now = 1_250;

    auditor.record('identity-reused', 'unchanged', { registry: 'contosoapps', reason: undefined });

    expect(sink.records).toHaveLength(1);
    expect(Object.keys(sink.records[0] ?? {}).sort()).toEqual([
      'action',
      'durationMs',
      'mode',
      'outcome',
      'registry',
      'trigger',
      'vmId',
    ]);
    expect(sink.records[0]).toMatchObject({ durationMs: 250, registry: 'contosoapps' });
  });

  it('in a sweep, leaves verified unchanged state out of the trail', () => {
    const sink = new MemoryAuditSink();
    const auditor = new Auditor(sink, { mode: 'enforce', trigger: 'reconcile', vmId: '' }, Date.now, {
      skipUnchanged: true,
    });
    auditor.record('role-present', 'unchanged');
    auditor.record('role-assigned', 'changed');
    expect(sink.records.map((r) => r.action)).toEqual(['role-assigned']);
  });
});
