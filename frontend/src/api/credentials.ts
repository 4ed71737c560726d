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

// ---- a credential's Test: ask a model through it, and learn what its server can do ----

export type TestProblem =
  | 'unreachable'
  | 'outbound_refused'
  | 'invalid_base_url'
  | 'auth'
  | 'model_unknown'
  | 'not_found'
  | 'capability_refused'
  | 'rate_limited'
  | 'timeout'
  | 'server_error'
  | 'bad_request'
  | 'bad_answer';

export type CapabilitySource = 'default' | 'detected' | 'catalogue' | 'provider';

export interface ServerCapabilities {
  structured_output: 'json_schema' | 'json_object' | 'instructions';
  structured_output_source: CapabilitySource;
  stream_usage: 'reported' | 'counted';
  stream_usage_source: CapabilitySource;
  tools: 'native' | 'prompted';
  tools_source: CapabilitySource;
}

export interface CredentialTestResult {
  ok: boolean;
  provider: string;
  model: string; // the catalogue id asked for, e.g. openai/gpt-4o-mini
  server: string; // the host
  message: string; // what happened; on a problem, what to do
  problem: TestProblem | null;
  capability: string | null; // capability_refused: which one
  capabilities: ServerCapabilities | null; // OpenAI-compatible servers, when ok
  warnings: string[];
}

/** POST …/test/: a few tiny calls through the credential; a server's failure is an answer (ok: false). */
export function testCredential(workspaceId: number, name: string, model: string): Promise<CredentialTestResult> {
  return request<CredentialTestResult>(`${one(workspaceId, name)}test/`, { method: 'POST', body: { model } });
}
