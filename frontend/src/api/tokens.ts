// Personal API tokens for scripts (`Authorization: Token <secret>`): list, create (the secret
// comes back once, in the create answer), delete.

import { request } from './client';

export interface ApiToken {
  id: number;
  name: string;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
  expired: boolean;
}

export interface NewApiToken extends ApiToken {
  secret: string;
}

export function listTokens(options: { signal?: AbortSignal } = {}): Promise<ApiToken[]> {
  return request<ApiToken[]>('/api/tokens/', { signal: options.signal });
}

export function createToken(input: { name: string; expires_in_days: number | null }): Promise<NewApiToken> {
  return request<NewApiToken>('/api/tokens/', { method: 'POST', body: input });
}

export function deleteToken(id: number): Promise<void> {
  return request<void>(`/api/tokens/${id}/`, { method: 'DELETE' });
}
