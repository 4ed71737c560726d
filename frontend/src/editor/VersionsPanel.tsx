// Version history: every save is a version; preview one on the canvas, compare one with the
// current version (or any two picked with their boxes), restore it (which saves it again as
// the newest version), or publish it (what API calls, webhooks and MCP run; an older one: a
// rollback). Each says what it is: published, draft, invalid (with its problems) or empty.

import { useState } from 'react';
import { EmptyState, ErrorState, LoadingState } from '../components/ui';
import { formatDate } from '../run/format';
import type { VersionSummary } from '../api/resources';
import { useVersionHistory } from './useVersions';

/** The chip that says what a version is; "draft" only for one that could be published. */
function StateChip({ version }: { version: VersionSummary }) {
  const state = version.state ?? (version.valid === false ? 'invalid' : 'draft');
  const testId = `version-state-${version.number}`;
  if (state === 'published')
    return (
      <span className="chip static chip-ok" title="API calls, webhooks and MCP run this version" data-testid={testId}>
        published
      </span>
    );
  if (state === 'empty')
    return (
      <span className="chip static" title="Nothing on the canvas in this version" data-testid={testId}>
        empty
      </span>
    );
  if (state === 'invalid')
    return (
      // "draft" said nothing: say what is wrong with it
      <span className="chip static chip-warn" title="This version has problems to fix before it can run or be published" data-testid={testId}>
        invalid
        {version.issue_count ? (
          <>
            {' · '}
            <span data-testid={`version-problems-${version.number}`}>{`${version.issue_count} problem${version.issue_count === 1 ? '' : 's'}`}</span>
          </>
        ) : null}
      </span>
    );
  return (
    <span className="chip static" title="Saved and runnable, not published" data-testid={testId}>
      draft
    </span>
  );
}

export interface VersionsPanelProps {
  workflowId: string;
  current: number | null;
  previewing: number | null;
  /** the two versions on the canvas now, if comparing */
  comparing?: { from: number; to: number } | null;
  refreshKey: unknown;
  /** whether the user may publish (owners and editors) */
  canEdit?: boolean;
  onPublish?: (number: number) => void;
  onUnpublish?: () => void;
  onPreview: (number: number) => void;
  onRestore: (number: number) => void;
  onCompare?: (a: number, b: number) => void;
  onClose: () => void;
}

export function VersionsPanel({ workflowId, current, previewing, comparing = null, refreshKey, canEdit = false, onPublish, onUnpublish, onPreview, onRestore, onCompare, onClose }: VersionsPanelProps) {
  const { versions, error, reload } = useVersionHistory(workflowId, refreshKey);
  // the versions ticked for "Compare picked", in the order they were ticked (two at most)
  const [picked, setPicked] = useState<number[]>([]);
  const pick = (number: number, on: boolean) =>
    setPicked((now) => (on ? [...now.filter((n) => n !== number), number].slice(-2) : now.filter((n) => n !== number)));
  const compared = (number: number) => comparing !== null && (comparing.from === number || comparing.to === number);
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
              <li
                key={version.number}
                className={`list-row static version-row${previewing === version.number || compared(version.number) ? ' selected' : ''}`}
                data-testid={`version-${version.number}`}
              >
                {onCompare && versions.length > 1 && (
                  <input
                    type="checkbox"
                    checked={picked.includes(version.number)}
                    onChange={(e) => pick(version.number, e.target.checked)}
                    aria-label={`Pick version ${version.number} to compare`}
                    data-testid={`pick-${version.number}`}
                  />
                )}
                <span className="list-row-main">
                  <span>
                    Version {version.number}
                    {version.number === current && <span className="chip static">current</span>}
                    <StateChip version={version} />
                  </span>
                  {version.name && (
                    <strong className="version-name" data-testid={`version-name-${version.number}`}>
                      {version.name}
                    </strong>
                  )}
                  {version.note && (
                    <span className="version-note" data-testid={`version-note-${version.number}`}>
                      {version.note}
                    </span>
                  )}
                  <span className="muted small">
                    {formatDate(version.created_at ?? null)}
                    {version.created_by ? ` · ${version.created_by}` : ''}
                  </span>
                </span>
                <span className="list-row-actions">
                  <button type="button" className="btn btn-secondary btn-small" onClick={() => onPreview(version.number)} aria-label={`Preview version ${version.number}`}>
                    View
                  </button>
                  {onCompare && current !== null && version.number !== current && (
                    <button
                      type="button"
                      className="btn btn-secondary btn-small"
                      onClick={() => onCompare(version.number, current)}
                      aria-label={`Compare version ${version.number} with current`}
                      title={`Compare with current (version ${current})`}
                      data-testid={`compare-${version.number}`}
                    >
                      Compare
                    </button>
                  )}
                  {canEdit && onPublish && version.state === 'draft' && (
                    <button
                      type="button"
                      className="btn btn-secondary btn-small"
                      onClick={() => onPublish(version.number)}
                      aria-label={`Publish version ${version.number}`}
                      title="API calls, webhooks and MCP run the published version"
                      data-testid={`publish-${version.number}`}
                    >
                      Publish
                    </button>
                  )}
                  {canEdit && onUnpublish && version.state === 'published' && (
                    <button
                      type="button"
                      className="btn btn-secondary btn-small"
                      onClick={onUnpublish}
                      aria-label={`Unpublish version ${version.number}`}
                      title="API calls, webhooks and MCP run the latest saved version again"
                      data-testid={`unpublish-${version.number}`}
                    >
                      Unpublish
                    </button>
                  )}
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
      {onCompare && versions && versions.length > 1 && (
        <footer className="panel-foot">
          <button
            type="button"
            className="btn btn-secondary btn-small"
            disabled={picked.length !== 2}
            onClick={() => onCompare(picked[0], picked[1])}
            data-testid="compare-picked"
          >
            Compare picked
          </button>
          <span className="muted small">{picked.length === 2 ? `versions ${[...picked].sort((a, b) => a - b).join(' and ')}` : 'tick two versions'}</span>
        </footer>
      )}
    </aside>
  );
}
