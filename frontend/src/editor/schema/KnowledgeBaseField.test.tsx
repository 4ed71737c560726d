// The retrieve node's base as a picker: the edited workflow's workspace's knowledge bases by name;
// a flow saved with a name or an id keeps it, and a base the workspace does not have is kept and
// said to fail.

import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { JsonSchema } from '../../api/graph';
import { forgetWorkspaces } from './workspaceChoices';
import { resolveField } from './resolve';
import { SchemaForm } from './SchemaForm';

// The retrieve node's `base` setting as the engine describes it (RetrieveConfig).
const BASE: JsonSchema = {
  description: 'The knowledge base to search, by name or id',
  format: 'knowledge_base',
  maxLength: 200,
  minLength: 1,
  title: 'Knowledge base',
  type: 'string',
} as JsonSchema;
const SCHEMA: JsonSchema = { type: 'object', properties: { base: BASE }, required: ['base'] };

const made = (id: string, name: string) => ({ id, name, workspace: 42, description: '', documents: 1, chunks: 3 });
const options = () => Array.from((screen.getByTestId('field-base') as HTMLSelectElement).options).map((o) => [o.value, o.textContent]);

let urls: string[] = [];
function serve(bases: unknown, status = 200) {
  urls = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (input: string | URL | Request) => {
      const url = String(input);
      urls.push(url);
      if (url === '/api/workflows/wf-1/') return new Response(JSON.stringify({ id: 'wf-1', workspace: 42 }), { status: 200, headers: { 'Content-Type': 'application/json' } });
      if (url === '/api/knowledge/?workspace=42') return new Response(JSON.stringify(bases), { status, headers: { 'Content-Type': 'application/json' } });
      return new Response(JSON.stringify({ error: { code: 'not_found', message: 'Not found.' } }), { status: 404, headers: { 'Content-Type': 'application/json' } });
    }),
  );
}

describe('the knowledge base field', () => {
  beforeEach(() => {
    forgetWorkspaces();
    window.history.replaceState(null, '', '/workflows/wf-1');
  });
  afterEach(() => {
    vi.unstubAllGlobals();
    window.history.replaceState(null, '', '/');
  });

  it('is resolved as a knowledge base picker, not a text field', () => {
    expect(resolveField('base', BASE, SCHEMA).kind).toBe('knowledge-base');
  });

  it("offers the workspace's bases by name and sets the chosen name", async () => {
    serve([made('b-1', 'Handbook'), made('b-2', 'Policies')]);
    const changes = vi.fn();
    render(<SchemaForm schema={SCHEMA} value={{ base: 'Handbook' }} onChange={changes} />);
    await waitFor(() =>
      expect(options()).toEqual([
        ['', 'Choose a knowledge base…'],
        ['Handbook', 'Handbook'],
        ['Policies', 'Policies'],
      ]),
    );
    expect((screen.getByTestId('field-base') as HTMLSelectElement).value).toBe('Handbook');
    expect(urls).toEqual(['/api/workflows/wf-1/', '/api/knowledge/?workspace=42']);
    fireEvent.change(screen.getByTestId('field-base'), { target: { value: 'Policies' } });
    expect(changes).toHaveBeenLastCalledWith({ base: 'Policies' }, 'base');
  });

  it('keeps a flow saved with the base’s id, shown by its name', async () => {
    serve([made('b-1', 'Handbook'), made('b-2', 'Policies')]);
    render(<SchemaForm schema={SCHEMA} value={{ base: 'b-2' }} onChange={() => {}} />);
    await waitFor(() => expect(options().map(([value]) => value)).toEqual(['', 'Handbook', 'b-2']));
    const select = screen.getByTestId('field-base') as HTMLSelectElement;
    expect(select.value).toBe('b-2');
    expect(select.selectedOptions[0].textContent).toBe('Policies');
    expect(screen.queryByTestId('field-error-base')).toBeNull();
  });

  it('keeps a base the workspace does not have, and says the step will fail', async () => {
    serve([made('b-1', 'Handbook')]);
    render(<SchemaForm schema={SCHEMA} value={{ base: 'Gone' }} onChange={() => {}} />);
    await waitFor(() => expect(screen.getByTestId('field-error-base').textContent).toContain('no knowledge base “Gone”'));
    expect((screen.getByTestId('field-base') as HTMLSelectElement).value).toBe('Gone');
  });

  it('says when the workspace has no bases, and when they cannot be listed', async () => {
    serve([]);
    const { unmount } = render(<SchemaForm schema={SCHEMA} value={{}} onChange={() => {}} />);
    await waitFor(() => expect(screen.getByTestId('field-base-none').textContent).toContain('No knowledge base'));
    unmount();
    serve({ error: { code: 'unavailable', message: 'The knowledge store cannot be reached.' } }, 503);
    render(<SchemaForm schema={SCHEMA} value={{}} onChange={() => {}} />);
    await waitFor(() => expect(screen.getByTestId('field-base-unavailable').textContent).toContain('cannot be reached'));
  });
});
