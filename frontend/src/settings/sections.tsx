// The settings sections, in the order of the tabs. Each section is one page of its own module,
// given the workspace chosen in the settings header; add a section by adding an entry here.

import type { ReactNode } from 'react';
import type { WorkspaceSummary } from '../api/workspaces';
import { ModelsPage } from '../models/ModelsPage';
import { AuditPage } from './AuditPage';
import { CredentialsPage } from './CredentialsPage';
import { MembersPage } from './MembersPage';
import { TokensPage } from './TokensPage';
import { ToolsPage } from './ToolsPage';

export interface SettingsSection {
  id: string;
  label: string;
  render: (props: { workspace: WorkspaceSummary }) => ReactNode;
}

export const SETTINGS_SECTIONS: SettingsSection[] = [
  { id: 'models', label: 'Models', render: ({ workspace }) => <ModelsPage key={workspace.id} /> },
  { id: 'members', label: 'Members', render: ({ workspace }) => <MembersPage key={workspace.id} workspace={workspace} /> },
  { id: 'tokens', label: 'API tokens', render: () => <TokensPage /> },
  { id: 'credentials', label: 'Credentials', render: ({ workspace }) => <CredentialsPage key={workspace.id} workspace={workspace} /> },
  { id: 'tools', label: 'Tools', render: ({ workspace }) => <ToolsPage key={workspace.id} workspace={workspace} /> },
  { id: 'audit', label: 'Audit log', render: ({ workspace }) => <AuditPage key={workspace.id} workspace={workspace} /> },
];

export function sectionById(id: string): SettingsSection | undefined {
  return SETTINGS_SECTIONS.find((section) => section.id === id);
}
