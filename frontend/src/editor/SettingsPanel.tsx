// The side panel for the selected node: label, settings form from the type's JSON Schema
// (validated as you type), and the server's issues for this node.

import { memo, useEffect, useMemo, useSyncExternalStore, type ReactNode } from 'react';
import { cachedModels, loadModelsOnce, subscribeModels } from '../api/models';
import type { Issue, NodeTypeSpec } from '../api/graph';
import type { LinkEdge, StepNode } from '../graph/convert';
import { paths } from '../router';
import { usePanelWidth } from '../components/usePanelWidth';
import { categoryClass } from './look';
import { NodeIcon } from './NodeIcon';
import { SchemaForm, type UpstreamRef } from './schema/SchemaForm';
import { configPath, validate, type Errors } from './schema/validate';

export interface SettingsPanelProps {
  node: StepNode;
  spec: NodeTypeSpec | undefined;
  issues: Issue[];
  upstream: UpstreamRef[];
  readOnly?: boolean;
  onChange: (patch: { label?: string; config?: Record<string, unknown> }, key: string) => void;
  onDelete: () => void;
  onDuplicate: () => void;
  onClose: () => void;
  /** below the settings: the node's pinned data (see PinSection) */
  pinSection?: ReactNode;
}

/** Client-side messages, then the server's for fields the client found nothing wrong with. */
export function formErrors(spec: NodeTypeSpec | undefined, config: Record<string, unknown>, issues: Issue[]): Errors {
  const errors: Errors = spec ? validate(spec.config_schema, config) : {};
  for (const issue of issues) {
    const path = configPath(issue.field);
    if (path && !(path in errors)) errors[path] = issue.message;
  }
  return errors;
}

export const SettingsPanel = memo(function SettingsPanel({
  node,
  spec,
  issues,
  upstream,
  readOnly,
  onChange,
  onDelete,
  onDuplicate,
  onClose,
  pinSection,
}: SettingsPanelProps) {
  const config = node.data.config;
  // warnings (it runs, but likely not as meant) are listed, never marked as a field's error
  const blocking = useMemo(() => issues.filter((i) => i.severity !== 'warning'), [issues]);
  const warnings = useMemo(() => issues.filter((i) => i.severity === 'warning'), [issues]);
  const errors = useMemo(() => formErrors(spec, config, blocking), [spec, config, blocking]);
  // the model pickers offer the catalogue with prices (loaded once, shared with the models page)
  const models = useSyncExternalStore(subscribeModels, cachedModels, () => null);
  useEffect(loadModelsOnce, []);
  const general = blocking.filter((issue) => configPath(issue.field) === null || configPath(issue.field) === '');
  const errorCount = Object.keys(errors).length;
  const size = usePanelWidth('settings', 360);
  return (
    <aside className="side-panel settings-panel" aria-label="Node settings" data-testid="settings-panel" style={size.style}>
      {size.grip}
      <header className={`panel-head ${categoryClass(spec?.category)}`}>
        <span className="panel-glyph" aria-hidden="true">
          <NodeIcon type={node.data.type} category={spec?.category} size={20} />
        </span>
        <div className="panel-title">
          <h2>{node.data.label || spec?.label || node.data.type}</h2>
          <p className="muted small">
            {spec?.label ?? node.data.type} · <code>{node.id}</code>
          </p>
        </div>
        <button type="button" className="icon-btn" aria-label="Close settings" onClick={onClose}>
          ×
        </button>
      </header>
      <div className="panel-body">
        {spec?.description && <p className="panel-desc">{spec.description}</p>}
        {!spec && (
          <p className="banner banner-error">
            The server has no node type “{node.data.type}”. Delete this node or import the type.
          </p>
        )}
        {general.length > 0 && (
          <ul className="issue-list" data-testid="node-issues">
            {general.map((issue, i) => (
              <li key={i}>{issue.message}</li>
            ))}
          </ul>
        )}
        {issues.some((i) => i.code === 'model_unavailable') && (
          <p className="banner banner-error small" data-testid="model-unavailable">
            Nothing here can call this node&apos;s model yet.{' '}
            <a href={paths.settings('credentials')} data-testid="add-credential-link">
              Add a key under Settings → Credentials
            </a>{' '}
            (its Test makes one real call), or pick a model the list marks as ready.
          </p>
        )}
        {warnings.length > 0 && (
          <ul className="issue-list issue-list-warning" data-testid="node-warnings">
            {warnings.map((issue, i) => (
              <li key={i}>{issue.message}</li>
            ))}
          </ul>
        )}
        <fieldset disabled={readOnly} className="plain-fieldset">
          <div className="field">
            <label className="field-label" htmlFor={`label-${node.id}`}>
              Label
            </label>
            <input
              id={`label-${node.id}`}
              className="input"
              value={node.data.label}
              maxLength={200}
              placeholder={spec?.label}
              data-testid="node-label-input"
              onChange={(e) => onChange({ label: e.target.value }, `label:${node.id}`)}
            />
          </div>
          {spec && (
            <SchemaForm
              schema={spec.config_schema}
              value={config}
              errors={errors}
              upstream={upstream}
              models={models}
              onChange={(next, path) => onChange({ config: next }, `config:${node.id}:${path}`)}
            />
          )}
        </fieldset>
        {pinSection}
      </div>
      <footer className="panel-foot">
        <span className={errorCount ? 'text-error small' : 'muted small'} data-testid="settings-status">
          {errorCount
            ? `${errorCount} problem${errorCount === 1 ? '' : 's'}`
            : warnings.length
              ? `${warnings.length} warning${warnings.length === 1 ? '' : 's'}`
              : 'Settings look fine'}
        </span>
        <span className="spacer" />
        {!readOnly && (
          <>
            <button type="button" className="btn btn-secondary btn-small" onClick={onDuplicate}>
              Duplicate
            </button>
            <button type="button" className="btn btn-danger btn-small" data-testid="delete-node" onClick={onDelete}>
              Delete
            </button>
          </>
        )}
      </footer>
    </aside>
  );
});

export function EdgePanel({
  edge,
  issues,
  labelOf,
  readOnly,
  onDelete,
  onClose,
}: {
  edge: LinkEdge;
  issues: Issue[];
  labelOf: (id: string) => string;
  readOnly?: boolean;
  onDelete: () => void;
  onClose: () => void;
}) {
  const delegate = edge.data?.kind === 'delegate';
  return (
    <aside className="side-panel edge-panel" aria-label="Connection" data-testid="edge-panel">
      <header className="panel-head">
        <span className="panel-glyph" aria-hidden="true">
          {delegate ? '⇣' : '→'}
        </span>
        <div className="panel-title">
          <h2>{delegate ? 'Delegation' : 'Connection'}</h2>
          <p className="muted small">
            <code>{edge.id}</code>
          </p>
        </div>
        <button type="button" className="icon-btn" aria-label="Close" onClick={onClose}>
          ×
        </button>
      </header>
      <div className="panel-body">
        <dl className="facts">
          <dt>From</dt>
          <dd>
            {labelOf(edge.source)}
            {!delegate && edge.sourceHandle && edge.sourceHandle !== 'out' && <span className="chip static">{edge.sourceHandle}</span>}
          </dd>
          <dt>To</dt>
          <dd>{labelOf(edge.target)}</dd>
          <dt>Kind</dt>
          <dd>{delegate ? 'delegate: the manager may hand tasks to this worker' : 'flow: data moves along it when the source finishes'}</dd>
        </dl>
        {issues.length > 0 && (
          <ul className="issue-list">
            {issues.map((issue, i) => (
              <li key={i}>{issue.message}</li>
            ))}
          </ul>
        )}
      </div>
      {!readOnly && (
        <footer className="panel-foot">
          <span className="spacer" />
          <button type="button" className="btn btn-danger btn-small" onClick={onDelete}>
            Delete connection
          </button>
        </footer>
      )}
    </aside>
  );
}
