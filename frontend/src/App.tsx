// The app shell: routes by URL, toasts, and a page for unknown addresses.

import { ToastProvider } from './components/toast';
import { EmptyState } from './components/ui';
import { EditorPage } from './pages/EditorPage';
import { WorkflowListPage } from './pages/WorkflowListPage';
import { Link, paths, useRoute } from './router';

export function App() {
  const route = useRoute();
  return (
    <ToastProvider>
      {route.name === 'list' && <WorkflowListPage />}
      {(route.name === 'editor' || route.name === 'run') && (
        // one editor per workflow: switching to its run view keeps unsaved edits and history
        <EditorPage key={route.id} workflowId={route.id} runId={route.name === 'run' ? route.runId : null} />
      )}
      {route.name === 'not-found' && (
        <div className="page page-center">
          <EmptyState title="Nothing here" icon="?" action={<Link to={paths.list()} className="btn btn-primary">Go to workflows</Link>}>
            There is no page at <code>{route.path}</code>.
          </EmptyState>
        </div>
      )}
    </ToastProvider>
  );
}
