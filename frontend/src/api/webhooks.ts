// A workflow's webhook trigger: a secret URL that starts a run with the posted JSON. The URL is
// only in the answer that makes (or rotates) it; reading the trigger never shows it.

import { ApiError, request } from './client';

export interface Webhook {
  enabled: boolean;
  prefix: string;
  rate_limit_per_minute: number;
  created_by: string | null;
  created_at: string;
  last_triggered_at: string | null;
}

export interface NewWebhook extends Webhook {
  url: string;
}

const url = (workflowId: string) => `/api/workflows/${encodeURIComponent(workflowId)}/webhook/`;

/** The workflow's trigger, or null when it has none. */
export async function getWebhook(workflowId: string, options: { signal?: AbortSignal } = {}): Promise<Webhook | null> {
  try {
    return await request<Webhook>(url(workflowId), { signal: options.signal });
  } catch (error) {
    if (error instanceof ApiError && error.status === 404 && error.code === 'not_found') return null;
    throw error;
  }
}

/** Make the trigger, or give it a new secret (the old URL stops working at once). */
export function createWebhook(workflowId: string, input: { rate_limit_per_minute?: number } = {}): Promise<NewWebhook> {
  return request<NewWebhook>(url(workflowId), { method: 'POST', body: input });
}

export function updateWebhook(workflowId: string, input: Partial<Pick<Webhook, 'enabled' | 'rate_limit_per_minute'>>): Promise<Webhook> {
  return request<Webhook>(url(workflowId), { method: 'PATCH', body: input });
}

export function deleteWebhook(workflowId: string): Promise<void> {
  return request<void>(url(workflowId), { method: 'DELETE' });
}

/** A curl command that calls the hook, for the dialog to show next to the URL. */
export function curlExample(hookUrl: string): string {
  return `curl -X POST '${hookUrl}' \\\n  -H 'Content-Type: application/json' \\\n  -d '{"topic": "tidal power"}'`;
}
