// App-wide approvals: the pending approvals for me (the header badge and the inbox), the
// notification socket with its "Approval needed" toasts, and the one decision dialog every page
// opens (inbox, toast, canvas).

import { createContext, useCallback, useContext, useEffect, useMemo, useReducer, useRef, useState, type ReactNode } from 'react';
import { approvalsApi, type Approval } from '../api/approvals';
import { errorMessage } from '../api/client';
import { openNotificationSocket, type NotificationMessage } from '../api/notificationSocket';
import { useToast } from '../components/toast';
import { DecisionDialog } from './DecisionDialog';
import { gateOrigin, quorumText } from './decision';
import { badgeCount, inboxReducer, initialInbox, shouldNotify, type InboxState } from './inbox';

type Listener = (message: NotificationMessage) => void;

export interface ApprovalsApi {
  inbox: InboxState;
  count: number;
  refresh: () => void;
  loadMore: () => Promise<void>;
  /** open the decision dialog for an approval (or its id) */
  open: (approval: Approval | string) => void;
  /** hear approval.opened / approval.decided, including my own decisions */
  subscribe: (listener: Listener) => () => void;
}

const noop = () => undefined;
const ApprovalsContext = createContext<ApprovalsApi>({
  inbox: initialInbox,
  count: 0,
  refresh: noop,
  loadMore: async () => undefined,
  open: noop,
  subscribe: () => noop,
});

/** The key of an approval's "Approval needed" toast; `approval:<run>:` covers a run's. */
export function approvalToastKey(approval: Pick<Approval, 'id' | 'run'>): string {
  return `approval:${approval.run}:${approval.id}`;
}

export function useApprovals(): ApprovalsApi {
  return useContext(ApprovalsContext);
}

/** Call `listener` for every approval message while mounted. */
export function useApprovalMessages(listener: Listener): void {
  const { subscribe } = useApprovals();
  const ref = useRef(listener);
  ref.current = listener;
  useEffect(() => subscribe((message) => ref.current(message)), [subscribe]);
}

interface DialogState {
  open: boolean;
  approval: Approval | null;
  loading: boolean;
  error: string | null;
}

const CLOSED: DialogState = { open: false, approval: null, loading: false, error: null };

export function ApprovalsProvider({ children, live = true }: { children: ReactNode; live?: boolean }) {
  const toast = useToast();
  const [inbox, dispatch] = useReducer(inboxReducer, initialInbox);
  const inboxRef = useRef(inbox);
  inboxRef.current = inbox;
  const [dialog, setDialog] = useState<DialogState>(CLOSED);
  const listeners = useRef(new Set<Listener>());
  const loadSeq = useRef(0);

  const refresh = useCallback(() => {
    const seq = ++loadSeq.current;
    dispatch({ type: 'loading' });
    approvalsApi.pendingMine().then(
      (page) => seq === loadSeq.current && dispatch({ type: 'loaded', page }),
      (error) => seq === loadSeq.current && dispatch({ type: 'failed', error: errorMessage(error) }),
    );
  }, []);

  const loadMore = useCallback(async () => {
    const next = inboxRef.current.next;
    if (!next) return;
    try {
      dispatch({ type: 'more', page: await approvalsApi.pendingMine(next) });
    } catch (error) {
      toast.show(`Could not load more approvals: ${errorMessage(error)}`, 'error');
    }
  }, [toast]);

  const emit = useCallback((message: NotificationMessage) => {
    for (const listener of listeners.current) listener(message);
  }, []);

  const fetchInto = useCallback((id: string) => {
    approvalsApi.get(id).then(
      (fresh) =>
        setDialog((d) => (d.open && (d.approval === null || String(d.approval.id) === String(fresh.id)) ? { ...d, approval: fresh, loading: false, error: null } : d)),
      (error) => setDialog((d) => (d.open && !d.approval ? { ...d, loading: false, error: errorMessage(error) } : d)),
    );
  }, []);

  const open = useCallback(
    (target: Approval | string) => {
      if (typeof target === 'string') {
        setDialog({ open: true, approval: null, loading: true, error: null });
        fetchInto(target);
      } else {
        setDialog({ open: true, approval: target, loading: false, error: null });
        fetchInto(String(target.id)); // fresh decisions and can_decide
      }
    },
    [fetchInto],
  );

  // the first load, and the notification socket
  useEffect(() => {
    if (!live) return;
    refresh();
    if (typeof WebSocket === 'undefined') return;
    const socket = openNotificationSocket({
      onMessage: (message) => {
        const approval = message.approval;
        if (message.type === 'approval.opened' && shouldNotify(inboxRef.current, approval)) {
          const origin = gateOrigin(approval.step, approval.flow_label);
          const node = `${approval.node_label || approval.node}${origin ? ` (${origin})` : ''}`;
          toast.show(`Approval needed: ${approval.workflow?.name ?? 'a workflow'} — ${node}`, 'info', {
            testId: 'toast-approval',
            duration: 12_000,
            key: approvalToastKey(approval),
            action: { label: 'Open', testId: 'toast-approval-open', onClick: () => open(approval) },
          });
        }
        // decided, expired (its run was cancelled) or anything else that closes it: its toast goes
        if (message.type !== 'approval.opened' || approval.status !== 'pending') toast.dismiss(approvalToastKey(approval));
        dispatch({ type: message.type === 'approval.opened' ? 'opened' : 'decided', approval });
        // the dialog showing this approval follows along
        setDialog((d) => (d.approval && String(d.approval.id) === String(approval.id) ? { ...d, approval } : d));
        emit(message);
      },
      // nothing is replayed after a drop: ask the server what is pending now
      onState: (state, detail) => {
        if (state === 'open' && detail.reconnected) refresh();
      },
    });
    return () => socket.close();
  }, [live, refresh, toast, open, emit]);

  // an approval left that was not loaded: the count needs the server
  useEffect(() => {
    if (!inbox.stale) return;
    const timer = setTimeout(refresh, 500);
    return () => clearTimeout(timer);
  }, [inbox.stale, refresh]);

  const onDecided = useCallback(
    (approval: Approval) => {
      dispatch({ type: 'decided', approval });
      emit({ type: 'approval.decided', approval });
      toast.dismiss(approvalToastKey(approval));
      setDialog(CLOSED);
      const text =
        approval.status === 'approved'
          ? 'Approved.'
          : approval.status === 'rejected'
            ? 'Rejected.'
            : `Your decision is recorded (${quorumText(approval)} approvals).`;
      toast.show(text, 'success');
    },
    [emit, toast],
  );

  const subscribe = useCallback((listener: Listener) => {
    listeners.current.add(listener);
    return () => {
      listeners.current.delete(listener);
    };
  }, []);

  const value = useMemo<ApprovalsApi>(
    () => ({ inbox, count: badgeCount(inbox), refresh, loadMore, open, subscribe }),
    [inbox, refresh, loadMore, open, subscribe],
  );

  return (
    <ApprovalsContext.Provider value={value}>
      {children}
      <DecisionDialog
        open={dialog.open}
        approval={dialog.approval}
        loading={dialog.loading}
        loadError={dialog.error}
        onClose={() => setDialog(CLOSED)}
        onDecided={onDecided}
        onRefresh={() => dialog.approval && fetchInto(String(dialog.approval.id))}
      />
    </ApprovalsContext.Provider>
  );
}
