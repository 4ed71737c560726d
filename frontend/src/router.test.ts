import { describe, expect, it } from 'vitest';
import { matchRoute } from './router';

describe('routes', () => {
  it('matches the list, the editor and the run view', () => {
    expect(matchRoute('/')).toEqual({ name: 'list' });
    expect(matchRoute('/workflows/')).toEqual({ name: 'list' });
    expect(matchRoute('/workflows/6f1c')).toEqual({ name: 'editor', id: '6f1c' });
    expect(matchRoute('/workflows/6f1c/')).toEqual({ name: 'editor', id: '6f1c' });
    expect(matchRoute('/workflows/6f1c/runs/9a')).toEqual({ name: 'run', id: '6f1c', runId: '9a' });
    expect(matchRoute('/workflows/6f1c/compare')).toEqual({ name: 'run-compare', workflow: '6f1c' });
    expect(matchRoute('/nope')).toEqual({ name: 'not-found', path: '/nope' });
    expect(matchRoute('/approvals')).toEqual({ name: 'approvals', approvalId: null });
    expect(matchRoute('/approvals/')).toEqual({ name: 'approvals', approvalId: null });
    expect(matchRoute('/approvals/ap%201')).toEqual({ name: 'approvals', approvalId: 'ap 1' });
    expect(matchRoute('/settings/models')).toEqual({ name: 'settings', section: 'models' });
    expect(matchRoute('/settings/models/')).toEqual({ name: 'settings', section: 'models' });
    expect(matchRoute('/settings')).toEqual({ name: 'settings', section: 'models' });
    expect(matchRoute('/settings/credentials')).toEqual({ name: 'settings', section: 'credentials' });
    expect(matchRoute('/settings/Bad_Name')).toEqual({ name: 'not-found', path: '/settings/Bad_Name' });
  });

  it('works under a mount prefix', () => {
    expect(matchRoute('/app/workflows/1', '/app')).toEqual({ name: 'editor', id: '1' });
    expect(matchRoute('/app', '/app')).toEqual({ name: 'list' });
  });
});
