import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { JsonSchema } from '../../api/graph';
import type { WorkflowSummary } from '../../api/resources';
import { forgetCredentialChoices } from './credentialNames';
import { resolveField } from './resolve';
import { SchemaForm } from './SchemaForm';

// The subflow node's `workflow` setting exactly as the engine describes it (SubflowConfig).
const WORKFLOW: JsonSchema = {
  default: '',
  description: 'The workflow to run (another workflow of this workspace; its current version runs)',
  format: 'workflow',
  maxLength: 200,
  title: 'Workflow',
  type: 'string',
} as JsonSchema;
const SCHEMA: JsonSchema = { type: 'object', properties: { workflow: WORKFLOW } };

const made = (id: string, name: string): WorkflowSummary => ({ id, name, description: '', updated_at: '2026-01-01T00:00:00Z' });
const options = () => Array.from((screen.getByTestId('field-workflow') as HTMLSelectElement).options).map((o) => [o.value, o.textContent]);

describe('the workflow field', () => {
  beforeEach(() => forgetCredentialChoices());
  afterEach(() => {
    vi.unstubAllGlobals();
    window.history.replaceState(null, '', '/');
  });

  it('is resolved as a workflow picker, not a text field', () => {
    expect(resolveField('workflow', WORKFLOW, SCHEMA).kind).toBe('workflow');
  });

  it('offers the workflows by name and sets the chosen id', () => {
    const changes = vi.fn();
    render(<SchemaForm schema={SCHEMA} value={{}} workflows={[made('w-1', 'Fact check'), made('w-2', 'Summary')]} onChange={changes} />);
    expect(options()).toEqual([
      ['', 'Choose a workflow…'],
      ['w-1', 'Fact check'],
      ['w-2', 'Summary'],
    ]);
    fireEvent.change(screen.getByTestId('field-workflow'), { target: { value: 'w-2' } });
    expect(changes).toHaveBeenLastCalledWith({ workflow: 'w-2' }, 'workflow');
  });

  it('keeps an id the workspace does not have, and says the step will fail', () => {
    render(<SchemaForm schema={SCHEMA} value={{ workflow: 'gone' }} workflows={[made('w-1', 'Fact check')]} onChange={() => {}} />);
    expect((screen.getByTestId('field-workflow') as HTMLSelectElement).value).toBe('gone');
    expect(screen.getByTestId('field-error-workflow').textContent).toContain('no workflow “gone”');
  });

  it("asks the edited workflow's workspace for its workflows, every page, and leaves itself out", async () => {
    window.history.replaceState(null, '', '/workflows/wf-1');
    const urls: string[] = [];
    const answers: Record<string, unknown> = {
      '/api/workflows/wf-1/': { id: 'wf-1', workspace: 42 },
      '/api/workflows/?workspace=42': { count: 3, next: 'http://testserver/api/workflows/?page=2&workspace=42', previous: null, results: [made('wf-1', 'This one'), made('w-2', 'Summary')] },
      '/api/workflows/?page=2&workspace=42': { count: 3, next: null, previous: null, results: [made('w-3', 'Fact check')] },
    };
    vi.stubGlobal(
      'fetch',
      vi.fn(async (input: string | URL | Request) => {
        const url = String(input);
        urls.push(url);
        const body = answers[url];
        return new Response(JSON.stringify(body ?? { error: { code: 'not_found', message: 'Not found.' } }), { status: body ? 200 : 404, headers: { 'Content-Type': 'application/json' } });
      }),
    );
    render(<SchemaForm schema={SCHEMA} value={{ workflow: 'w-3' }} onChange={() => {}} />);
    await waitFor(() => expect(options().map(([value]) => value)).toEqual(['', 'w-2', 'w-3']));
    expect(urls).toEqual(['/api/workflows/wf-1/', '/api/workflows/?workspace=42', '/api/workflows/?page=2&workspace=42']);
    expect(screen.queryByTestId('field-error-workflow')).toBeNull();
  });
});
