import { act, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Approval } from '../api/approvals';
import { ToastProvider } from '../components/toast';
import { FakeSocket } from '../test/fakeSocket';
import { approvalFixture } from '../test/fixtures';
import { ApprovalsLink } from './ApprovalsLink';
import { ApprovalsPage } from './ApprovalsPage';
import { ApprovalsProvider } from './ApprovalsProvider';

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

let pending: Approval[] = [];
let fail = false;
const fetchMock = vi.fn(async (input: string | URL | Request) => {
  const url = String(input);
  if (url.startsWith('/api/approvals/?')) {
    if (fail) return json({ error: { code: 'server_error', message: 'The database is down.' } }, 500);
    return json({ count: pending.length, next: null, previous: null, results: pending });
  }
  const one = /^\/api\/approvals\/([^/]+)\/$/.exec(url);
  if (one) return json(approvalFixture({ id: one[1] }));
  return json({ error: { code: 'not_found', message: 'Not found.' } }, 404);
});

beforeEach(() => {
  FakeSocket.made = [];
  pending = [];
  fail = false;
  vi.stubGlobal('WebSocket', FakeSocket);
  vi.stubGlobal('fetch', fetchMock);
});
afterEach(() => {
  vi.unstubAllGlobals();
});

function renderApp(page = false) {
  return render(
    <ToastProvider>
      <ApprovalsProvider>
        <ApprovalsLink />
        {page && <ApprovalsPage approvalId={null} />}
      </ApprovalsProvider>
    </ToastProvider>,
  );
}

describe('approvals provider', () => {
  it('badges the pending count and toasts new approvals with an Open button', async () => {
    pending = [approvalFixture({ id: 'a1' })];
    renderApp();
    await waitFor(() => expect(screen.getByTestId('approvals-badge').textContent).toBe('1'));
    expect(fetchMock.mock.calls[0][0]).toBe('/api/approvals/?status=pending&mine=1');
    expect(FakeSocket.made[0].url).toMatch(/\/ws\/notifications\/$/);

    act(() => FakeSocket.made[0].deliver({ type: 'approval.opened', approval: approvalFixture({ id: 'a2', workflow: { id: 'w2', name: 'Invoices' }, node: 'sign_off' }) }));
    const toast = await screen.findByTestId('toast-approval');
    expect(toast.textContent).toContain('Approval needed: Invoices — sign_off');
    expect(screen.getByTestId('approvals-badge').textContent).toBe('2');

    fireEvent.click(screen.getByTestId('toast-approval-open'));
    expect(await screen.findByTestId('decision-dialog')).toBeTruthy();
    await waitFor(() => expect(fetchMock.mock.calls.some((c) => String(c[0]) === '/api/approvals/a2/')).toBe(true));
    expect(screen.queryByTestId('toast-approval')).toBeNull();

    act(() => FakeSocket.made[0].deliver({ type: 'approval.decided', approval: approvalFixture({ id: 'a1', status: 'approved', can_decide: false }) }));
    await waitFor(() => expect(screen.getByTestId('approvals-badge').textContent).toBe('1'));
  });

  it('lists pending approvals on the inbox page and opens one', async () => {
    pending = [approvalFixture({ id: 'a1', deadline: new Date(Date.now() + 3600_000).toISOString() })];
    renderApp(true);
    const row = await screen.findByTestId('approval-a1');
    expect(row.textContent).toContain('Newsletter');
    expect(row.textContent).toContain('Publish this draft?');
    expect(row.textContent).toContain('deadline in 1 h');
    fireEvent.click(row);
    expect(await screen.findByTestId('decision-dialog')).toBeTruthy();
    expect(screen.getByTestId('approve')).toBeTruthy();
  });

  it('shows the empty and error states', async () => {
    const { unmount } = renderApp(true);
    expect(await screen.findByTestId('approvals-empty')).toBeTruthy();
    expect(screen.queryByTestId('approvals-badge')).toBeNull();
    unmount();
    fail = true;
    renderApp(true);
    expect((await screen.findByTestId('approvals-error')).textContent).toContain('The database is down.');
  });
});
