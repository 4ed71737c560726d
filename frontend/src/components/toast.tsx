// Short notices in a polite live region ("Saved version 4", "Could not save: …").

import { createContext, useCallback, useContext, useMemo, useRef, useState, type ReactNode } from 'react';

export type ToastKind = 'info' | 'success' | 'error';
export interface ToastOptions {
  /** a button in the toast (e.g. "Open"); pressing it also dismisses the toast */
  action?: { label: string; onClick: () => void; testId?: string };
  /** replaces the default `toast-<kind>` test id */
  testId?: string;
  /** milliseconds before it goes away */
  duration?: number;
  /** what the toast is about ("approval:<run>:<id>"): a new toast with the same key replaces it,
   * and `dismiss(key)` takes it away once it is no longer true (the approval was decided) */
  key?: string;
}

interface Toast extends ToastOptions {
  id: number;
  kind: ToastKind;
  text: string;
}

interface ToastApi {
  show: (text: string, kind?: ToastKind, options?: ToastOptions) => void;
  /** takes away the toasts whose key is `key`, or starts with it when it ends with ':' */
  dismiss: (key: string) => void;
}

const ToastContext = createContext<ToastApi>({ show: () => undefined, dismiss: () => undefined });

export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const counter = useRef(0);
  const dismiss = useCallback((id: number) => setToasts((list) => list.filter((t) => t.id !== id)), []);
  const show = useCallback(
    (text: string, kind: ToastKind = 'info', options: ToastOptions = {}) => {
      const id = ++counter.current;
      const others = (list: Toast[]) => (options.key ? list.filter((t) => t.key !== options.key) : list);
      setToasts((list) => [...others(list).slice(-3), { ...options, id, kind, text }]);
      setTimeout(() => dismiss(id), options.duration ?? (kind === 'error' ? 8000 : 3500));
    },
    [dismiss],
  );
  const dismissKey = useCallback(
    (key: string) =>
      setToasts((list) => list.filter((t) => !t.key || (key.endsWith(':') ? !t.key.startsWith(key) : t.key !== key))),
    [],
  );
  const api = useMemo(() => ({ show, dismiss: dismissKey }), [show, dismissKey]);
  return (
    <ToastContext.Provider value={api}>
      {children}
      <div className="toasts" aria-live="polite" aria-relevant="additions">
        {toasts.map((toast) => (
          <div key={toast.id} className={`toast toast-${toast.kind}`} role={toast.kind === 'error' ? 'alert' : 'status'} data-testid={toast.testId ?? `toast-${toast.kind}`}>
            <span>{toast.text}</span>
            {toast.action && (
              <button
                type="button"
                className="btn btn-small toast-action"
                data-testid={toast.action.testId}
                onClick={() => {
                  dismiss(toast.id);
                  toast.action!.onClick();
                }}
              >
                {toast.action.label}
              </button>
            )}
            <button type="button" className="icon-btn" aria-label="Dismiss" onClick={() => dismiss(toast.id)}>
              ×
            </button>
          </div>
        ))}
      </div>
    </ToastContext.Provider>
  );
}

export function useToast(): ToastApi {
  return useContext(ToastContext);
}
