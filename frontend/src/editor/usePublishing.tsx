// Publishing: which saved version API calls, webhooks and the MCP endpoint run. The editor's Run
// keeps running the latest saved version, so edits can be tried without changing what callers
// get; publishing (with an optional name) is the step that does. Publishing an older version from
// Versions is the rollback; unpublishing lets callers run the latest saved version again.

import { useCallback, useState, type ReactNode } from 'react';
import { errorMessage } from '../api/client';
import { api, type PublishedVersion, type WorkflowDetail } from '../api/resources';
import { Modal } from '../components/Modal';
import { useToast } from '../components/toast';

export interface Publishing {
  /** the published version, or null when none is */
  published: PublishedVersion | null;
  /** opens the publish dialog for a version ('latest': the latest saved, saving unsaved edits first) */
  ask: (number: number | 'latest') => void;
  unpublish: () => Promise<void>;
  /** changes after each publish or unpublish, so the version list knows to reload */
  changes: number;
  dialog: ReactNode;
}

interface Options {
  workflowId: string;
  workflow: WorkflowDetail | null;
  /** the latest saved version */
  latest: number | null;
  dirty: boolean;
  /** saves the canvas as a new version; false when it was not saved */
  save: () => Promise<boolean>;
}

export function usePublishing({ workflowId, workflow, latest, dirty, save }: Options): Publishing {
  const toast = useToast();
  // undefined: nothing changed here yet, the loaded workflow says what is published
  const [changed, setChanged] = useState<PublishedVersion | null | undefined>(undefined);
  const [changes, setChanges] = useState(0);
  const [target, setTarget] = useState<number | 'latest' | null>(null);
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const published = changed !== undefined ? changed : (workflow?.published ?? null);

  const ask = useCallback((number: number | 'latest') => {
    setName('');
    setTarget(number);
  }, []);

  const adopt = useCallback((result: WorkflowDetail) => {
    setChanged(result.published ?? null);
    setChanges((n) => n + 1);
  }, []);

  const publish = useCallback(async () => {
    if (target === null) return;
    setBusy(true);
    try {
      let number = target;
      if (number === 'latest') {
        // unsaved edits are saved first: what is published is always a saved version
        if (dirty && !(await save())) return;
        number = (await api.getWorkflow(workflowId)).version ?? 0;
      }
      const result = await api.publishVersion(workflowId, number, name);
      adopt(result);
      setTarget(null);
      const given = result.published?.name;
      toast.show(`Published version ${number}${given ? ` “${given}”` : ''}: API calls, webhooks and MCP run it now.`, 'success');
    } catch (error) {
      toast.show(`Could not publish: ${errorMessage(error)}`, 'error');
    } finally {
      setBusy(false);
    }
  }, [adopt, dirty, name, save, target, toast, workflowId]);

  const unpublish = useCallback(async () => {
    try {
      adopt(await api.unpublish(workflowId));
      toast.show('Unpublished: API calls, webhooks and MCP run the latest saved version again.', 'success');
    } catch (error) {
      toast.show(`Could not unpublish: ${errorMessage(error)}`, 'error');
    }
  }, [adopt, toast, workflowId]);

  const number = target === 'latest' ? (dirty ? null : latest) : target;
  const title = number === null ? 'Publish your changes' : `Publish version ${number}`;
  const dialog = (
    <Modal
      title={title}
      open={target !== null}
      onClose={() => setTarget(null)}
      testId="publish-dialog"
      footer={
        <>
          <span className="spacer" />
          <button type="button" className="btn btn-secondary" onClick={() => setTarget(null)}>
            Cancel
          </button>
          <button type="button" className="btn btn-primary" disabled={busy} data-testid="publish-submit" onClick={() => void publish()}>
            {busy ? 'Publishing…' : 'Publish'}
          </button>
        </>
      }
    >
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void publish();
        }}
      >
        <p className="muted small publish-explain">
          API calls, webhooks and the MCP endpoint will run {number === null ? 'the version your changes are saved as' : `version ${number}`}
          {published ? ` instead of version ${published.number}` : ''}. Run in the editor keeps running the latest saved version.
          {target === 'latest' && dirty ? ' Your unsaved changes are saved first.' : ''}
        </p>
        <label className="field-label" htmlFor="publish-name-input">
          Name (optional)
        </label>
        <input
          id="publish-name-input"
          className="input"
          maxLength={100}
          value={name}
          placeholder="e.g. v2 – added approval"
          data-testid="publish-name"
          onChange={(e) => setName(e.target.value)}
        />
      </form>
    </Modal>
  );
  return { published, ask, unpublish, changes, dialog };
}
