// "New from example": the example flows that ship with the app (GET /api/examples/); choosing one
// imports it as a new workflow in the user's own workspace.

import { useCallback, useEffect, useState } from 'react';
import { errorMessage } from '../api/client';
import { api, type ExampleSummary, type WorkflowDetail } from '../api/resources';
import { Modal } from '../components/Modal';
import { EmptyState, ErrorState, LoadingState } from '../components/ui';

export function nodeCountText(count: number): string {
  return `${count} node${count === 1 ? '' : 's'}`;
}

export function ExamplesDialog({ onClose, onImported }: { onClose: () => void; onImported: (workflow: WorkflowDetail) => void }) {
  const [examples, setExamples] = useState<ExampleSummary[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [importing, setImporting] = useState<string | null>(null);
  const [importError, setImportError] = useState<string | null>(null);

  const load = useCallback(() => {
    setLoadError(null);
    setExamples(null);
    api.listExamples().then(setExamples, (cause) => setLoadError(errorMessage(cause)));
  }, []);
  useEffect(load, [load]);

  const choose = async (example: ExampleSummary) => {
    setImporting(example.name);
    setImportError(null);
    try {
      onImported(await api.importExample(example.name));
    } catch (cause) {
      setImportError(`Could not create “${example.title}”: ${errorMessage(cause)}`);
      setImporting(null);
    }
  };

  return (
    <Modal
      title="New from example"
      open
      wide
      onClose={onClose}
      testId="examples-dialog"
      footer={
        <>
          <span className="spacer" />
          <button type="button" className="btn btn-secondary" onClick={onClose}>
            Cancel
          </button>
        </>
      }
    >
      {loadError && <ErrorState title="Could not load the examples" message={loadError} onRetry={load} />}
      {!loadError && examples === null && <LoadingState label="Loading examples…" />}
      {examples && examples.length === 0 && <EmptyState title="No examples">This installation ships no example flows.</EmptyState>}
      {importError && (
        <p className="field-error" role="alert">
          {importError}
        </p>
      )}
      {examples && examples.length > 0 && (
        <ul className="list" data-testid="examples-list">
          {examples.map((example) => (
            <li key={example.name} className="list-row static">
              <span className="list-row-main">
                <strong>{example.title}</strong>
                {example.description && <span className="muted small">{example.description}</span>}
                <span className="muted small">{nodeCountText(example.node_count)}</span>
              </span>
              <span className="list-row-actions">
                <button
                  type="button"
                  className="btn btn-primary btn-small"
                  disabled={importing !== null}
                  onClick={() => void choose(example)}
                  aria-label={`Create a workflow from the example ${example.title}`}
                  data-testid={`example-${example.name}`}
                >
                  {importing === example.name ? 'Creating…' : 'Use'}
                </button>
              </span>
            </li>
          ))}
        </ul>
      )}
    </Modal>
  );
}
