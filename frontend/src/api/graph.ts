// A plain mirror of the graph format and the node-type catalogue (runtime/graph.py,
// runtime/nodes/base.py `describe()`). Keep it a mirror: no logic here, so it can later be
// generated from the Python models.

export type EdgeKind = 'flow' | 'delegate';

export interface Position {
  x: number;
  y: number;
}

export interface GraphNode {
  id: string;
  type: string;
  label: string;
  position: Position;
  config: Record<string, unknown>;
}

export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  kind?: EdgeKind;
  source_handle?: string | null;
  target_handle?: string | null;
}

export interface Graph {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/** One validation problem, naming the node or edge at fault (runtime.graph.Issue). */
export interface Issue {
  code: string;
  message: string;
  node_id?: string | null;
  edge_id?: string | null;
  /** e.g. "config.routes[0].when", "source_handle" */
  field?: string | null;
  /** set on warnings (runtime.validation.graph_warnings): it runs, but is likely not meant; a
   * warning never stops a save or a run. Errors leave it out. */
  severity?: 'warning';
}

/** The server's errors and warnings as one list, the warnings marked as such. */
export function withWarnings(errors: Issue[] | undefined, warnings: Issue[] | undefined): Issue[] {
  return [...(errors ?? []), ...(warnings ?? []).map((w) => ({ ...w, severity: 'warning' as const }))];
}

/** The issues that stop a run (everything but warnings). */
export function blockingIssues(issues: Issue[]): Issue[] {
  return issues.filter((issue) => issue.severity !== 'warning');
}

export type Category = 'io' | 'ai' | 'logic' | 'human' | 'integrations';

/** The subset of JSON Schema that pydantic generates for node settings, plus our `widget` key. */
export interface JsonSchema {
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  type?: 'string' | 'number' | 'integer' | 'boolean' | 'object' | 'array' | 'null';
  title?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  examples?: unknown[];
  widget?: 'template' | 'expression' | 'model' | 'models' | 'json-schema' | string;
}

export interface NodeTypeSpec {
  type: string;
  label: string;
  category: Category;
  description: string;
  /** target handles, e.g. ["in"] or [] */
  inputs: string[];
  /** source handles, e.g. ["out", "error"] */
  outputs: string[];
  /** name of a config field whose entries add one source handle each (a router's "routes") */
  dynamic_outputs: string | null;
  can_delegate: boolean;
  delegatable: boolean;
  /** map and loop: their one delegate edge goes to a body of any type that takes an input (older
   * servers do not send it: see delegatesToAny) */
  delegates_to_any?: boolean;
  config_schema: JsonSchema;
}

export const DEFAULT_SOURCE_HANDLE = 'out';
export const DEFAULT_TARGET_HANDLE = 'in';
export const ERROR_HANDLE = 'error';
/** Node and edge ids (runtime.graph.ID_PATTERN). */
export const ID_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$/;
