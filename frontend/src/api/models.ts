// The model catalogue: built-in models and the workspace's own entries (prices in USD per
// million tokens). GET lists, POST adds or overrides, POST reset/ drops the workspace's entry.

import { request } from './client';

export interface ModelEntry {
  model: string;
  input_price: number;
  output_price: number;
  context: number | null;
  source: 'builtin' | 'workspace';
  builtin: boolean;
}

export interface ModelInput {
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
