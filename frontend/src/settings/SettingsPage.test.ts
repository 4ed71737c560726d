import { describe, expect, it } from 'vitest';
import type { WorkspaceSummary } from '../api/workspaces';
import { chosenWorkspace } from './SettingsPage';

const ws = (id: number): WorkspaceSummary => ({ id, name: `w${id}`, slug: `w${id}`, role: 'owner', created_at: '' });

describe('chosenWorkspace', () => {
  it('takes ?workspace= when it names one of mine', () => {
    expect(chosenWorkspace([ws(1), ws(2)], '?workspace=2')?.id).toBe(2);
  });
  it('falls back to the first workspace for a missing or foreign id', () => {
    expect(chosenWorkspace([ws(1), ws(2)], '')?.id).toBe(1);
    expect(chosenWorkspace([ws(1), ws(2)], '?workspace=99')?.id).toBe(1);
  });
  it('has nothing to choose without workspaces', () => {
    expect(chosenWorkspace([], '?workspace=1')).toBeUndefined();
  });
});
