// A workspace's credentials (LLM keys, HTTP tool tokens). The value is write-only: it goes to the
// server on create/replace and never comes back; answers carry name, kind, hint and config.

import { request } from './client';

export type CredentialKind = 'openai' | 'anthropic' | 'http_bearer' | 'http_header';

export interface CredentialConfig {
  base_url?: string; // openai, anthropic: where the API lives (default: the vendor's)
  header?: string; // http_header: the header's name
}

export interface Credential {
  name: string;
  kind: CredentialKind;
  hint: string; // "…a1b2", or "" when the value is too short to show any of it
  config: CredentialConfig;
  created_by: string | null;
  created_at: string;
  updated_at: string;
}

export interface CredentialInput {
  name: string;
  kind: CredentialKind;
  value: string;
  config?: CredentialConfig;
}

export interface CredentialChange {
  name?: string;
  value?: string;
  config?: CredentialConfig;
}

export const KIND_LABELS: Record<CredentialKind, string> = {
  openai: 'OpenAI-compatible API key',
  anthropic: 'Anthropic API key',
  http_bearer: 'HTTP bearer token',
  http_header: 'HTTP header',
};

/** Kinds whose value an LLM node (worker, manager, classifier) can use. */
export const LLM_KINDS: CredentialKind[] = ['openai', 'anthropic'];

const base = (workspaceId: number) => `/api/workspaces/${workspaceId}/credentials/`;
const one = (workspaceId: number, name: string) => `${base(workspaceId)}${encodeURIComponent(name)}/`;

export function listCredentials(workspaceId: number, options: { signal?: AbortSignal } = {}): Promise<Credential[]> {
  return request<Credential[]>(base(workspaceId), { signal: options.signal });
}

export function createCredential(workspaceId: number, input: CredentialInput): Promise<Credential> {
  return request<Credential>(base(workspaceId), { method: 'POST', body: input });
}

/** PATCH: change any of name, value, config; what is left out stays. */
export function updateCredential(workspaceId: number, name: string, change: CredentialChange): Promise<Credential> {
  return request<Credential>(one(workspaceId, name), { method: 'PATCH', body: change });
}

export function deleteCredential(workspaceId: number, name: string): Promise<void> {
  return request<void>(one(workspaceId, name), { method: 'DELETE' });
}
