// Which handles a node shows, from its catalogue entry and (for routers) its settings.

import { DEFAULT_TARGET_HANDLE, type NodeTypeSpec } from '../api/graph';

/** The manager's source handle for delegate edges. `@` cannot appear in a route name. */
export const DELEGATE_HANDLE = '@delegate';
/** The worker's target handle for delegate edges. */
export const TASK_HANDLE = '@task';

function schemaDefault(spec: NodeTypeSpec, field: string): unknown {
  return spec.config_schema.properties?.[field]?.default;
}

/**
 * Source handles of a node: the static outputs, or for a type with `dynamic_outputs` one handle
 * per entry of that settings field (its `name`) plus the `default` branch when one is set
 * (mirrors RouterNode.outputs).
 */
export function sourceHandles(spec: NodeTypeSpec, config: Record<string, unknown>): string[] {
  if (!spec.dynamic_outputs) return spec.outputs;
  const entries = config[spec.dynamic_outputs];
  const handles: string[] = [];
  if (Array.isArray(entries)) {
    for (const entry of entries) {
      const name = typeof entry === 'string' ? entry : (entry as { name?: unknown } | null)?.name;
      if (typeof name === 'string' && name && !handles.includes(name)) handles.push(name);
    }
  }
  const fallback = 'default' in config ? config.default : schemaDefault(spec, 'default');
  if (typeof fallback === 'string' && fallback && !handles.includes(fallback)) handles.push(fallback);
  return handles;
}

export function targetHandles(spec: NodeTypeSpec): string[] {
  return spec.inputs;
}

export function defaultTargetHandle(spec: NodeTypeSpec): string | null {
  if (spec.inputs.includes(DEFAULT_TARGET_HANDLE)) return DEFAULT_TARGET_HANDLE;
  return spec.inputs[0] ?? null;
}
