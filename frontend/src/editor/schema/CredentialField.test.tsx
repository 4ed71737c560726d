import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { useState } from 'react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Credential } from '../../api/credentials';
import type { JsonSchema } from '../../api/graph';
import { forgetCredentialChoices } from './credentialNames';
import { resolveField } from './resolve';
import { SchemaForm } from './SchemaForm';

// The worker's `credential` setting exactly as the engine describes it (WorkerConfig's JSON Schema).
const CREDENTIAL: JsonSchema = {
  credential_kinds: ['openai', 'anthropic'],
  default: '',
  description: "A workspace credential (openai or anthropic key) for the model calls; empty: the workspace's only key for the model's provider, else the server's",
  format: 'credential',
  pattern: '^[-a-zA-Z0-9_]{0,64}$',
  title: 'Credential',
  type: 'string',
} as JsonSchema;
const SCHEMA: JsonSchema = { type: 'object', properties: { credential: CREDENTIAL } };

const made = (name: string, kind: Credential['kind'], hint = '…a1b2'): Credential => ({
  name,
  kind,
  hint,
  config: {},
  created_by: 'alice',
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
});

function Harness({ initial, credentials, onChange }: { initial: Record<string, unknown>; credentials?: Credential[]; onChange?: (v: Record<string, unknown>) => void }) {
  const [value, setValue] = useState(initial);
  return (
    <SchemaForm
      schema={SCHEMA}
      value={value}
      credentials={credentials}
      onChange={(next) => {
        setValue(next);
        onChange?.(next);
      }}
    />
  );
}

const options = () => Array.from((screen.getByTestId('field-credential') as HTMLSelectElement).options).map((o) => [o.value, o.textContent]);

describe('the credential field', () => {
  beforeEach(() => forgetCredentialChoices());
  afterEach(() => {
    vi.unstubAllGlobals();
    window.history.replaceState(null, '', '/');
  });

  it('is resolved as a credential picker, not a text field', () => {
    expect(resolveField('credential', CREDENTIAL, SCHEMA).kind).toBe('credential');
  });

  it('offers the LLM credentials by name and "none", and sets or clears the setting', () => {
    const changes = vi.fn();
    render(<Harness initial={{}} credentials={[made('openai-prod', 'openai'), made('hook', 'http_bearer'), made('claude', 'anthropic', '')]} onChange={changes} />);
    const select = screen.getByTestId('field-credential') as HTMLSelectElement;
    expect(select.tagName).toBe('SELECT');
    expect(options()).toEqual([
      ['', 'None (default key)'],
      ['openai-prod', 'openai-prod (openai …a1b2)'],
      ['claude', 'claude (anthropic)'],
    ]);
    fireEvent.change(select, { target: { value: 'claude' } });
    expect(changes).toHaveBeenLastCalledWith({ credential: 'claude' });
    fireEvent.change(select, { target: { value: '' } });
    expect(changes).toHaveBeenLastCalledWith({});
  });

  it('keeps a name the workspace does not have, and says the step will fail', () => {
    render(<Harness initial={{ credential: 'gone' }} credentials={[made('openai-prod', 'openai')]} />);
    expect((screen.getByTestId('field-credential') as HTMLSelectElement).value).toBe('gone');
    expect(screen.getByTestId('field-error-credential').textContent).toContain('no openai or anthropic credential named “gone”');
  });

  it("asks the edited workflow's workspace for its credentials", async () => {
    window.history.replaceState(null, '', '/workflows/wf-1');
    const urls: string[] = [];
    vi.stubGlobal(
      'fetch',
      vi.fn(async (input: string | URL | Request) => {
        const url = String(input);
        urls.push(url);
        const body = url === '/api/workflows/wf-1/' ? { id: 'wf-1', workspace: 42 } : url === '/api/workspaces/42/credentials/' ? [made('team-key', 'openai')] : null;
        return new Response(JSON.stringify(body ?? { error: { code: 'not_found', message: 'Not found.' } }), { status: body ? 200 : 404, headers: { 'Content-Type': 'application/json' } });
      }),
    );
    render(<Harness initial={{ credential: 'team-key' }} />);
    await waitFor(() => expect(options().map(([value]) => value)).toEqual(['', 'team-key']));
    expect(urls).toEqual(['/api/workflows/wf-1/', '/api/workspaces/42/credentials/']);
    expect(screen.queryByTestId('field-error-credential')).toBeNull();
  });

  it('works for a nullable setting too (the http_request node: kinds written beside anyOf)', () => {
    const nullable = {
      anyOf: [{ type: 'string' }, { type: 'null' }],
      credential_kinds: ['http_bearer', 'http_header'],
      default: null,
      format: 'credential',
      title: 'Credential',
    } as JsonSchema;
    expect(resolveField('credential', nullable, { type: 'object', properties: { credential: nullable } }).kind).toBe('credential');
    const changes = vi.fn();
    render(
      <SchemaForm
        schema={{ type: 'object', properties: { credential: nullable } }}
        value={{}}
        credentials={[made('openai-prod', 'openai'), made('tracker', 'http_bearer')]}
        onChange={changes}
      />,
    );
    expect(options().map(([value]) => value)).toEqual(['', 'tracker']);
    fireEvent.change(screen.getByTestId('field-credential'), { target: { value: 'tracker' } });
    expect(changes).toHaveBeenLastCalledWith({ credential: 'tracker' }, 'credential');
  });

  it('says when there is nothing to pick from', () => {
    render(<Harness initial={{}} credentials={[made('hook', 'http_bearer')]} />);
    expect(screen.getByTestId('field-credential-none').textContent).toContain('Settings → Credentials');
  });
});
