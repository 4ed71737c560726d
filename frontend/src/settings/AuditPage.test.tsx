import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { auditQuery, type AuditEntry } from '../api/audit';
import type { WorkspaceSummary } from '../api/workspaces';
import { AuditPage } from './AuditPage';
import { sectionById } from './sections';

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

const OWNED: WorkspaceSummary = { id: 7, name: 'Lab', slug: 'lab', role: 'owner', created_at: '2026-01-01T00:00:00Z' };

const entry = (id: number, action: string, extra: Partial<AuditEntry> = {}): AuditEntry => ({
  id,
  created_at: `2026-11-${String(10 + (id % 10)).padStart(2, '0')}T09:00:00Z`,
  actor: 'alice',
  via: 'session',
  action,
  target: { type: 'workflow', id: `wf-${id}`, label: `Flow ${id}` },
  detail: {},
  ...extra,
});

// 60 entries: two pages of 50 and 10, newest (highest id) first, as the server sends them.
let entries: AuditEntry[] = [];
let status = 200;
const urls: string[] = [];

const fetchMock = vi.fn(async (input: string | URL | Request) => {
  const url = new URL(String(input), 'http://testserver');
  urls.push(`${url.pathname}${url.search}`);
  if (url.pathname !== '/api/workspaces/7/audit/') return json({ error: { code: 'not_found', message: 'Not found.' } }, 404);
  if (status !== 200) return json({ error: { code: 'forbidden', message: 'your role in this workspace (editor) may not read the audit log; that takes owner' } }, status);
  const action = url.searchParams.get('action');
  const actor = url.searchParams.get('actor');
  const matching = entries.filter((e) => (!action || (action.endsWith('.') ? e.action.startsWith(action) : e.action === action)) && (!actor || e.actor === actor));
  const page = Number(url.searchParams.get('page') ?? '1');
  const size = Number(url.searchParams.get('page_size') ?? '50');
  const results = matching.slice((page - 1) * size, page * size);
  const next = page * size < matching.length ? `http://testserver${url.pathname}?page=${page + 1}` : null;
  return json({ count: matching.length, next, previous: null, results });
});

beforeEach(() => {
  entries = Array.from({ length: 60 }, (_, i) => 60 - i).map((id) =>
    id % 3 === 0 ? entry(id, 'run.started', { actor: 'bob', via: 'token', target: { type: 'run', id: `run-${id}`, label: `Flow (v${id})` } }) : entry(id, 'workflow.saved'),
  );
  status = 200;
  urls.length = 0;
  vi.stubGlobal('fetch', fetchMock);
});
afterEach(() => {
  vi.unstubAllGlobals();
});

describe('AuditPage', () => {
  it('shows who did what, to what, and how, and loads more on request', async () => {
    render(<AuditPage workspace={OWNED} />);
    const table = await screen.findByTestId('audit-table');
    expect(within(table).getAllByRole('row')).toHaveLength(51); // header + 50
    const newest = screen.getByTestId('audit-row-60');
    expect(newest.textContent).toContain('bob');
    expect(newest.textContent).toContain('run started');
    expect(newest.textContent).toContain('Flow (v60)');
    expect(newest.textContent).toContain('token');
    expect(screen.getByTestId('audit-row-59').textContent).toContain('workflow saved');
    expect(screen.getByTestId('audit-count').textContent).toContain('50 of 60');

    fireEvent.click(screen.getByTestId('audit-more'));
    await waitFor(() => expect(screen.getByTestId('audit-count').textContent).toContain('60 of 60'));
    expect(screen.getByTestId('audit-row-1')).toBeTruthy();
    expect(screen.queryByTestId('audit-more')).toBeNull();
    expect(urls[1]).toContain('page=2');
  });

  it('sends the filters and shows what matches', async () => {
    render(<AuditPage workspace={OWNED} />);
    await screen.findByTestId('audit-table');
    fireEvent.change(screen.getByTestId('audit-filter-action'), { target: { value: 'run.' } });
    fireEvent.change(screen.getByTestId('audit-filter-actor'), { target: { value: 'bob' } });
    fireEvent.click(screen.getByTestId('audit-apply'));
    await waitFor(() => expect(screen.getByTestId('audit-count').textContent).toContain('20 of 20'));
    const last = urls[urls.length - 1];
    expect(last).toContain('action=run.');
    expect(last).toContain('actor=bob');
    expect(screen.queryByTestId('audit-row-59')).toBeNull();

    fireEvent.change(screen.getByTestId('audit-filter-actor'), { target: { value: 'nobody' } });
    fireEvent.click(screen.getByTestId('audit-apply'));
    expect((await screen.findByTestId('audit-empty')).textContent).toContain('Nothing matches these filters');

    fireEvent.click(screen.getByTestId('audit-clear'));
    await waitFor(() => expect(screen.getByTestId('audit-count').textContent).toContain('50 of 60'));
  });

  it('tells a member who is not an owner why there is nothing, without asking the server', async () => {
    render(<AuditPage workspace={{ ...OWNED, role: 'editor' }} />);
    expect(screen.getByTestId('audit-forbidden').textContent).toContain('Only owners can see the audit log');
    expect(screen.getByTestId('audit-forbidden').textContent).toContain('Your role in Lab is editor');
    expect(urls).toHaveLength(0);
  });

  it('shows the owners-only state when the server refuses (a role changed meanwhile)', async () => {
    status = 403;
    render(<AuditPage workspace={OWNED} />);
    expect((await screen.findByTestId('audit-forbidden')).textContent).toContain('Only owners can see the audit log');
  });

  it('shows an error with a retry when the log cannot be loaded', async () => {
    status = 500;
    render(<AuditPage workspace={OWNED} />);
    expect((await screen.findByTestId('audit-error')).textContent).toContain('Could not load the audit log');
    status = 200;
    fireEvent.click(within(screen.getByTestId('audit-error')).getByRole('button'));
    await screen.findByTestId('audit-table');
  });

  it('is a settings section', () => {
    expect(sectionById('audit')?.label).toBe('Audit log');
  });
});

describe('auditQuery', () => {
  it('leaves out empty filters and trims the rest', () => {
    expect(auditQuery({ action: '', actor: ' bob ', target_type: undefined, since: '2026-11-01' }, 3)).toEqual({ page: 3, page_size: 50, actor: 'bob', since: '2026-11-01' });
  });
});
