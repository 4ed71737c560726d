// Version history: every save is a version; preview one on the canvas, or restore it (which
// saves it again as the newest version).

import { EmptyState, ErrorState, LoadingState } from '../components/ui';
import { formatDate } from '../run/format';
import { useVersionHistory } from './useVersions';

export interface VersionsPanelProps {
  workflowId: string;
  current: number | null;
  previewing: number | null;
  refreshKey: unknown;
  onPreview: (number: number) => void;
  onRestore: (number: number) => void;
  onClose: () => void;
}

export function VersionsPanel({ workflowId, current, previewing, refreshKey, onPreview, onRestore, onClose }: VersionsPanelProps) {
  const { versions, error, reload } = useVersionHistory(workflowId, refreshKey);
  return (
    <aside className="drawer" aria-label="Version history" data-testid="versions-panel">
      <header className="panel-head">
        <div className="panel-title">
          <h2>Versions</h2>
        </div>
        <button type="button" className="icon-btn" aria-label="Close versions" onClick={onClose}>
          ×
        </button>
      </header>
      <div className="panel-body">
        {error && <ErrorState message={error} onRetry={reload} />}
        {!error && versions === null && <LoadingState label="Loading versions…" />}
        {versions && versions.length === 0 && <EmptyState title="No versions yet">Save to create the first one.</EmptyState>}
        {versions && versions.length > 0 && (
          <ul className="list">
            {versions.map((version) => (
              <li key={version.number} className={`list-row static${previewing === version.number ? ' selected' : ''}`} data-testid={`version-${version.number}`}>
                <span className="list-row-main">
                  <span>
                    Version {version.number}
                    {version.number === current && <span className="chip static">current</span>}
                    {version.valid === false && <span className="chip static chip-warn">draft</span>}
                  </span>
                  <span className="muted small">
                    {formatDate(version.created_at ?? null)}
                    {version.created_by ? ` · ${version.created_by}` : ''}
                  </span>
                </span>
                <span className="list-row-actions">
                  <button type="button" className="btn btn-secondary btn-small" onClick={() => onPreview(version.number)} aria-label={`Preview version ${version.number}`}>
                    View
                  </button>
                  {version.number !== current && (
                    <button type="button" className="btn btn-secondary btn-small" onClick={() => onRestore(version.number)} aria-label={`Restore version ${version.number}`} data-testid={`restore-${version.number}`}>
                      Restore
                    </button>
                  )}
                </span>
              </li>
            ))}
          </ul>
        )}
      </div>
    </aside>
  );
}
