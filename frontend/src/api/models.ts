// The model catalogue: built-in models and the workspace's own entries (prices in USD per
// million tokens). GET lists, POST adds or overrides, POST reset/ drops the workspace's entry.

import { request } from './client';

// How the model's server is asked for what a node needs (runtime/providers/capabilities.py);
// '' is auto: detected from the server's refusals.
export type StructuredOutputMode = '' | 'json_schema' | 'json_object' | 'instructions';
export type StreamUsageMode = '' | 'reported' | 'counted';
export type ToolsMode = '' | 'native' | 'prompted';

export interface ModelCapabilities {
  structured_output: StructuredOutputMode;
  stream_usage: StreamUsageMode;
  tools: ToolsMode;
}

export interface ModelEntry extends Partial<ModelCapabilities> {
  model: string;
  input_price: number;
  output_price: number;
  context: number | null;
  source: 'builtin' | 'workspace';
  builtin: boolean;
  /** what to know before picking it (the local tiny model: what it is for, the hardware it needs) */
  note?: string;
  /** why nothing here can call it now (no provider, no credential of its vendor); '' when ready */
  unavailable?: string;
}

export interface ModelInput extends Partial<ModelCapabilities> {
  model: string;
  input_price: number;
  output_price: number;
  context?: number | null;
}

export function listModels(options: { workspace?: string | null; signal?: AbortSignal } = {}): Promise<ModelEntry[]> {
  return request<ModelEntry[]>('/api/models/', { query: { workspace: options.workspace ?? undefined }, signal: options.signal });
}

export function saveModel(input: ModelInput): Promise<ModelEntry[]> {
  return request<ModelEntry[]>('/api/models/', { method: 'POST', body: input });
}

export function resetModel(model: string): Promise<ModelEntry[]> {
  return request<ModelEntry[]>('/api/models/reset/', { method: 'POST', body: { model } });
}

// one shared copy for the model pickers: loaded on first use, refreshed when the settings page saves
let cached: ModelEntry[] | null = null;
let loading: Promise<void> | null = null;
const listeners = new Set<() => void>();

export function cachedModels(): ModelEntry[] | null {
  return cached;
}

export function setCachedModels(models: ModelEntry[]): void {
  cached = models;
  for (const listener of listeners) listener();
}

export function subscribeModels(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Loads the catalogue once (errors leave the cache empty; pickers fall back to the fixed list). */
export function loadModelsOnce(): void {
  if (cached || loading) return;
  loading = listModels()
    .then(setCachedModels)
    .catch(() => undefined)
    .finally(() => {
      loading = null;
    });
}
