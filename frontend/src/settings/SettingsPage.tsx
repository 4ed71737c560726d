// /settings/<section>: tabs for the settings sections and, for people in more than one
// workspace, which workspace the section shows. The choice is kept in ?workspace= so a link
// to a section of another workspace works.

import { listWorkspaces, type WorkspaceSummary } from '../api/workspaces';
import { LoadStatus } from '../components/LoadStatus';
import { EmptyState } from '../components/ui';
import { useLoad } from '../components/useLoad';
import { Link, navigate, paths, useSearch } from '../router';
import { SETTINGS_SECTIONS, sectionById } from './sections';

export function chosenWorkspace(workspaces: WorkspaceSummary[], search: string): WorkspaceSummary | undefined {
  const wanted = new URLSearchParams(search).get('workspace');
  return workspaces.find((w) => String(w.id) === wanted) ?? workspaces[0];
}

export function SettingsPage({ section }: { section: string }) {
  const { load } = useLoad((signal) => listWorkspaces({ signal }), []);
  const current = sectionById(section);
  const search = useSearch();

  const workspace = load.status === 'ready' ? chosenWorkspace(load.data, search) : undefined;
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
        {load.status === 'ready' && load.data.length > 1 && workspace && (
          <label className="settings-workspace">
            <span className="muted">Workspace</span>
            <select
              value={workspace.id}
              data-testid="settings-workspace"
              onChange={(event) => navigate(`${paths.settings(section)}?workspace=${event.target.value}`)}
            >
              {load.data.map((w) => (
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
      {current && <LoadStatus load={load} loading="Loading your workspaces…" errorTitle="Could not load your workspaces" signedOut="Sign in to see the settings." />}
      {current && workspace && current.render({ workspace })}
    </div>
  );
}
