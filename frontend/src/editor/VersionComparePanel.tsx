// The list beside a comparison of two versions: nodes added, removed, changed (with each setting
// that differs, before → after) and only moved or renamed, and the connections added and removed.
// Picking a node shows it on the canvas.

import type { DiffNode, NodeChange, SettingChange, VersionComparison } from '../api/versionCompare';
import { formatSetting, type DiffMark } from './versionCompare';
import './versionCompare.css';

export interface VersionComparePanelProps {
  diff: VersionComparison;
  /** the node picked last, highlighted on the canvas */
  focus: string | null;
  onFocus: (nodeId: string) => void;
  onClose: () => void;
}

const SECTION_TITLE: Record<DiffMark, string> = {
  changed: 'Changed',
  added: 'Added',
  removed: 'Removed',
  moved: 'Moved or renamed',
};

function nodeName(node: DiffNode): string {
  return node.label || node.id;
}

function Setting({ change }: { change: SettingChange }) {
  return (
    <li className="compare-setting" data-testid="compare-setting" data-path={change.path}>
      <code className="compare-path">{change.path}</code>
      <span className="compare-values">
        <span className="compare-before" title="before">
          {formatSetting(change.before, change.change === 'added')}
        </span>
        <span aria-hidden="true"> → </span>
        <span className="sr-only"> becomes </span>
        <span className="compare-after" title="after">
          {formatSetting(change.after, change.change === 'removed')}
        </span>
      </span>
    </li>
  );
}

function NodeEntry({ node, mark, focus, onFocus }: { node: DiffNode | NodeChange; mark: DiffMark; focus: boolean; onFocus: (id: string) => void }) {
  const change = 'settings' in node ? node : null;
  const notes = change
    ? [change.renamed ? `renamed from “${change.label_before || node.id}”` : '', change.moved ? 'moved' : ''].filter(Boolean).join(', ')
    : '';
  return (
    <li className={`compare-node compare-${mark}${focus ? ' focused' : ''}`} data-testid={`compare-node-${node.id}`} data-mark={mark}>
      <button type="button" className="compare-node-head" onClick={() => onFocus(node.id)} title="Show it on the canvas">
        <span className="compare-dot" aria-hidden="true" />
        <span className="compare-node-name">{nodeName(node)}</span>
        <span className="muted small">{node.type}</span>
      </button>
      {notes && <div className="muted small compare-notes">{notes}</div>}
      {change && change.settings.length > 0 && (
        <ul className="compare-settings">
          {change.settings.map((setting) => (
            <Setting key={setting.path} change={setting} />
          ))}
        </ul>
      )}
    </li>
  );
}

export function VersionComparePanel({ diff, focus, onFocus, onClose }: VersionComparePanelProps) {
  const sections: [DiffMark, (DiffNode | NodeChange)[]][] = [
    ['changed', diff.nodes.changed],
    ['added', diff.nodes.added],
    ['removed', diff.nodes.removed],
    ['moved', diff.nodes.moved_or_renamed],
  ];
  const nothing = sections.every(([, nodes]) => nodes.length === 0) && !diff.edges.added.length && !diff.edges.removed.length;
  return (
    <aside className="side-panel compare-panel" aria-label="Version comparison" data-testid="compare-panel">
      <header className="panel-head">
        <div className="panel-title">
          <h2>
            Version {diff.from} → {diff.to}
          </h2>
          <p className="muted small" data-testid="compare-summary">
            {diff.nodes.changed.length} changed · {diff.nodes.added.length} added · {diff.nodes.removed.length} removed ·{' '}
            {diff.nodes.unchanged} unchanged
          </p>
        </div>
        <button type="button" className="icon-btn" aria-label="Close comparison" onClick={onClose}>
          ×
        </button>
      </header>
      <div className="panel-body">
        {nothing && <p className="muted">No differences: the two versions are the same graph.</p>}
        {sections
          .filter(([, nodes]) => nodes.length > 0)
          .map(([mark, nodes]) => (
            <section key={mark} className="compare-section" data-testid={`compare-${mark}`}>
              <h3>
                {SECTION_TITLE[mark]} <span className="muted">({nodes.length})</span>
              </h3>
              <ul className="list">
                {nodes.map((node) => (
                  <NodeEntry key={node.id} node={node} mark={mark} focus={focus === node.id} onFocus={onFocus} />
                ))}
              </ul>
            </section>
          ))}
        {(diff.edges.added.length > 0 || diff.edges.removed.length > 0) && (
          <section className="compare-section" data-testid="compare-edges">
            <h3>Connections</h3>
            <ul className="compare-edges">
              {diff.edges.added.map((edge) => (
                <li key={`+${edge.id}-${edge.source}-${edge.target}-${edge.source_handle}`} className="compare-added">
                  + {edge.source}
                  {edge.source_handle !== 'out' ? `:${edge.source_handle}` : ''} → {edge.target}
                  {edge.kind === 'delegate' ? ' (delegate)' : ''}
                </li>
              ))}
              {diff.edges.removed.map((edge) => (
                <li key={`-${edge.id}-${edge.source}-${edge.target}-${edge.source_handle}`} className="compare-removed">
                  − {edge.source}
                  {edge.source_handle !== 'out' ? `:${edge.source_handle}` : ''} → {edge.target}
                  {edge.kind === 'delegate' ? ' (delegate)' : ''}
                </li>
              ))}
            </ul>
          </section>
        )}
      </div>
    </aside>
  );
}
