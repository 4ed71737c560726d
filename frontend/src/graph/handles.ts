// Which handles a node shows, from its catalogue entry and (for routers) its settings.

import { DEFAULT_TARGET_HANDLE, type NodeTypeSpec } from '../api/graph';

/** The manager's source handle for delegate edges. `@` cannot appear in a route name. */
export const DELEGATE_HANDLE = '@delegate';
/** The worker's target handle for delegate edges. */
export const TASK_HANDLE = '@task';

/** Types that hand their items to a body of any type, for a catalogue that does not say so. */
const ITERATION_TYPES: ReadonlySet<string> = new Set(['map', 'loop']);

/**
 * Whether a node type's delegate edge may go to a node of any type that takes an input (its body):
 * a map runs it once per item, a loop once per iteration. A manager delegates to workers only.
 */
export function delegatesToAny(spec: NodeTypeSpec | undefined): boolean {
  if (!spec || !spec.can_delegate) return false;
  return spec.delegates_to_any ?? ITERATION_TYPES.has(spec.type);
}

/** Whether a node of this type can be the body of a map or a loop. */
export function canBeBody(spec: NodeTypeSpec | undefined): boolean {
  return !!spec && spec.inputs.length > 0;
}

function schemaDefault(spec: NodeTypeSpec, field: string): unknown {
  return spec.config_schema.properties?.[field]?.default;
}

/**
 * Source handles of a node: the static outputs, or for a type with `dynamic_outputs` one handle
 * per entry of that settings field (its `name`), the `default` branch when one is set, then the
 * static outputs that are not the default branch (a classifier's `error`). Mirrors the engine's
 * RouterNode.outputs and ClassifierNode.outputs.
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
  const staticDefault = schemaDefault(spec, 'default');
  for (const handle of spec.outputs) {
    if (handle !== staticDefault && !handles.includes(handle)) handles.push(handle);
  }
  return handles;
}

export function targetHandles(spec: NodeTypeSpec): string[] {
  return spec.inputs;
}

export function defaultTargetHandle(spec: NodeTypeSpec): string | null {
  if (spec.inputs.includes(DEFAULT_TARGET_HANDLE)) return DEFAULT_TARGET_HANDLE;
  return spec.inputs[0] ?? null;
}

/**
 * When a node's settings change its dynamic handles (a route renamed, added or removed), say
 * where each old handle's edges go. With as many entries as before, the entry at each position
 * was edited, so its edges follow the new name (even an empty or half-typed one, so no edge is lost
 * while typing). With fewer entries, edges of names that are gone map to null (removed). The default
 * branch follows its field the same way. Unchanged handles are not listed.
 */
export function remapHandles(
  spec: NodeTypeSpec,
  before: Record<string, unknown>,
  after: Record<string, unknown>,
): Map<string, string | null> {
  const result = new Map<string, string | null>();
  if (!spec.dynamic_outputs) return result;
  const field = spec.dynamic_outputs;
  const nameOf = (entry: unknown): string | null => {
    const name = typeof entry === 'string' ? entry : (entry as { name?: unknown } | null)?.name;
    return typeof name === 'string' ? name : null;
  };
  const oldNames = (Array.isArray(before[field]) ? (before[field] as unknown[]) : []).map(nameOf);
  const newNames = (Array.isArray(after[field]) ? (after[field] as unknown[]) : []).map(nameOf);
  if (oldNames.length === newNames.length) {
    oldNames.forEach((name, index) => {
      const renamed = newNames[index];
      if (name !== null && renamed !== name) result.set(name, renamed);
    });
  } else {
    for (const name of oldNames) if (name && !newNames.includes(name)) result.set(name, null);
  }
  const defaultOf = (config: Record<string, unknown>) =>
    'default' in config ? config.default : schemaDefault(spec, 'default');
  const oldDefault = defaultOf(before);
  const newDefault = defaultOf(after);
  if (typeof oldDefault === 'string' && oldDefault && oldDefault !== newDefault && !newNames.includes(oldDefault)) {
    result.set(oldDefault, typeof newDefault === 'string' && newDefault ? newDefault : null);
  }
  return result;
}
