// /settings/<section>: tabs for the settings sections and, for people in more than one
// workspace, which workspace the section shows. The choice is kept in ?workspace= so a link
// to a section of another workspace works.

import { useEffect, useState } from 'react';
import { ApiError, errorMessage } from '../api/client';
import { listWorkspaces, type WorkspaceSummary } from '../api/workspaces';
import { EmptyState, ErrorState, LoadingState } from '../components/ui';
import { Link, loginUrl, navigate, paths, useSearch } from '../router';
import { SETTINGS_SECTIONS, sectionById } from './sections';

type Load = { status: 'loading' } | { status: 'error'; error: unknown } | { status: 'ready'; workspaces: WorkspaceSummary[] };

export function chosenWorkspace(workspaces: WorkspaceSummary[], search: string): WorkspaceSummary | undefined {
  const wanted = new URLSearchParams(search).get('workspace');
  return workspaces.find((w) => String(w.id) === wanted) ?? workspaces[0];
}

export function SettingsPage({ section }: { section: string }) {
  const [load, setLoad] = useState<Load>({ status: 'loading' });
  const current = sectionById(section);
  const search = useSearch();

  useEffect(() => {
    const controller = new AbortController();
    listWorkspaces({ signal: controller.signal })
      .then((workspaces) => setLoad({ status: 'ready', workspaces }))
      .catch((error: unknown) => {
        if (error instanceof DOMException && error.name === 'AbortError') return;
        setLoad({ status: 'error', error });
      });
    return () => controller.abort();
  }, []);

  const workspace = load.status === 'ready' ? chosenWorkspace(load.workspaces, search) : undefined;
  const query = workspace ? `?workspace=${workspace.id}` : '';

  return (
    <div className="settings-shell" data-testid="settings-page">
      <div className="settings-bar">
        <Link to={paths.list()} className="btn btn-ghost btn-small">
          ← Workflows
        </Link>
        <nav className="settings-tabs" aria-label="Settings">
          {SETTINGS_SECTIONS.map((s) => (
            <Link key={s.id} to={paths.settings(s.id) + query} className="settings-tab" aria-current={s.id === section ? 'page' : undefined} data-testid={`settings-tab-${s.id}`}>
              {s.label}
            </Link>
          ))}
        </nav>
        {load.status === 'ready' && load.workspaces.length > 1 && workspace && (
          <label className="settings-workspace">
            <span className="muted">Workspace</span>
            <select
              value={workspace.id}
              data-testid="settings-workspace"
              onChange={(event) => navigate(`${paths.settings(section)}?workspace=${event.target.value}`)}
            >
              {load.workspaces.map((w) => (
                <option key={w.id} value={w.id}>
                  {w.name} ({w.role})
                </option>
              ))}
            </select>
          </label>
        )}
      </div>
      {!current && (
        <div className="page page-center">
          <EmptyState title="No such settings page" icon="?">
            There is no settings page called <code>{section}</code>.
          </EmptyState>
        </div>
      )}
      {current && load.status === 'loading' && <LoadingState label="Loading your workspaces…" />}
      {current && load.status === 'error' &&
        (load.error instanceof ApiError && load.error.needsLogin ? (
          <div className="page-center">
            <ErrorState title="You are signed out" message="Sign in to see the settings." />
            <a className="btn btn-primary" href={loginUrl()}>
              Sign in
            </a>
          </div>
        ) : (
          <ErrorState title="Could not load your workspaces" message={errorMessage(load.error)} />
        ))}
      {current && workspace && current.render({ workspace })}
    </div>
  );
}
