// Small shared pieces: spinner, status pill, empty / loading / error states.

import type { ReactNode } from 'react';

export function Spinner({ label = 'Loading', small = false }: { label?: string; small?: boolean }) {
  return <span className={`spinner${small ? ' spinner-small' : ''}`} role="status" aria-label={label} />;
}

const STATUS_TEXT: Record<string, string> = {
  idle: 'Not run',
  pending: 'Pending',
  queued: 'Queued',
  running: 'Running',
  waiting: 'Waiting',
  succeeded: 'Succeeded',
  failed: 'Failed',
  skipped: 'Skipped',
  cancelled: 'Cancelled',
  reused: 'Reused',
  rejected: 'Rejected',
};

export function statusText(status: string): string {
  return STATUS_TEXT[status] ?? status;
}

export function StatusPill({ status, testId }: { status: string; testId?: string }) {
  return (
    <span className={`pill pill-${status}`} data-testid={testId} data-status={status}>
      {status === 'running' ? <Spinner small label="Running" /> : <span className="pill-dot" aria-hidden="true" />}
      {statusText(status)}
    </span>
  );
}

export function EmptyState({ title, children, action, icon = '◇' }: { title: string; children?: ReactNode; action?: ReactNode; icon?: string }) {
  return (
    <div className="empty-state">
      <div className="empty-icon" aria-hidden="true">
        {icon}
      </div>
      <h3>{title}</h3>
      {children && <div className="muted">{children}</div>}
      {action && <div className="empty-actions">{action}</div>}
    </div>
  );
}

export function LoadingState({ label = 'Loading…' }: { label?: string }) {
  return (
    <div className="loading-state">
      <Spinner label={label} />
      <span>{label}</span>
    </div>
  );
}

export function ErrorState({ title = 'Something went wrong', message, onRetry }: { title?: string; message: string; onRetry?: () => void }) {
  return (
    <div className="error-state" role="alert">
      <div className="empty-icon" aria-hidden="true">
        !
      </div>
      <h3>{title}</h3>
      <p>{message}</p>
      {onRetry && (
        <button type="button" className="btn btn-secondary" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

/** A field's (or a form's) error message under it; nothing when there is none. */
export function FieldError({ message, testId }: { message?: string; testId?: string }) {
  if (!message) return null;
  return (
    <div className="field-error" role="alert" data-testid={testId}>
      {message}
    </div>
  );
}

/** A labelled form field: the label, the control(s) given as children, and the field's error. */
export function Field({ id, label, error, errorTestId, children }: { id: string; label: ReactNode; error?: string; errorTestId?: string; children: ReactNode }) {
  return (
    <div className="field">
      <label className="field-label" htmlFor={id}>
        {label}
      </label>
      {children}
      <FieldError message={error} testId={errorTestId} />
    </div>
  );
}
