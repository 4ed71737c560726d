// The app shell: routes by URL, toasts, and a page for unknown addresses.

import { lazy, Suspense } from 'react';
import { ApprovalsPage } from './approvals/ApprovalsPage';
import { ApprovalsProvider } from './approvals/ApprovalsProvider';
import { ToastProvider } from './components/toast';
import { EmptyState, LoadingState } from './components/ui';
import { WorkflowListPage } from './pages/WorkflowListPage';
import { Link, paths, useRoute } from './router';
import { SettingsPage } from './settings/SettingsPage';

// the canvas (React Flow) loads only when a workflow is opened
const EditorPage = lazy(() => import('./pages/EditorPage').then((m) => ({ default: m.EditorPage })));
// two runs side by side, with the line-diff library: loaded when opened
const RunComparePage = lazy(() => import('./run/RunComparePage').then((m) => ({ default: m.RunComparePage })));
// knowledge bases: loaded when opened
const RunsPage = lazy(() => import('./run/RunsPage').then((m) => ({ default: m.RunsPage })));
const KnowledgePage = lazy(() => import('./knowledge/KnowledgePage').then((m) => ({ default: m.KnowledgePage })));

export function App() {
  const route = useRoute();
  return (
    <ToastProvider>
      {/* approvals for me: header badge, notification toasts and the decision dialog, on every page */}
      <ApprovalsProvider>
        {route.name === 'list' && <WorkflowListPage />}
        {route.name === 'approvals' && <ApprovalsPage approvalId={route.approvalId} />}
        {route.name === 'runs' && (
          <Suspense fallback={null}>
            <RunsPage />
          </Suspense>
        )}
        {route.name === 'settings' && <SettingsPage section={route.section} />}
        {route.name === 'knowledge' && (
          <Suspense fallback={<LoadingState label="Opening knowledge bases…" />}>
            <KnowledgePage baseId={route.baseId} />
          </Suspense>
        )}
        {(route.name === 'editor' || route.name === 'run') && (
          // one editor per workflow: switching to its run view keeps unsaved edits and history
          <Suspense fallback={<LoadingState label="Opening the editor…" />}>
            <EditorPage key={route.id} workflowId={route.id} runId={route.name === 'run' ? route.runId : null} />
          </Suspense>
        )}
        {route.name === 'run-compare' && (
          <Suspense fallback={<LoadingState label="Comparing the runs…" />}>
            <RunComparePage workflowId={route.workflow} />
          </Suspense>
        )}
        {route.name === 'not-found' && (
          <div className="page page-center">
            <EmptyState title="Nothing here" icon="?" action={<Link to={paths.list()} className="btn btn-primary">Go to workflows</Link>}>
              There is no page at <code>{route.path}</code>.
            </EmptyState>
          </div>
        )}
      </ApprovalsProvider>
    </ToastProvider>
  );
}
