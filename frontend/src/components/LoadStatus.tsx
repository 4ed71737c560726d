// What a page shows while its data is not ready: a spinner, the error with Retry, or (where the
// page asks for it) "You are signed out" with a Sign in link.

import { ApiError, errorMessage } from '../api/client';
import { loginUrl } from '../router';
import { ErrorState, LoadingState } from './ui';

export function needsLogin(error: unknown): boolean {
  return error instanceof ApiError && error.needsLogin;
}

export function SignedOut({ message, className = 'page-center' }: { message: string; className?: string }) {
  return (
    <div className={className}>
      <ErrorState title="You are signed out" message={message} />
      <a className="btn btn-primary" href={loginUrl()}>
        Sign in
      </a>
    </div>
  );
}

/** Nothing once ready; the loading and error states otherwise. */
export function LoadStatus({
  load,
  loading,
  errorTitle,
  errorTestId,
  onRetry,
  signedOut,
}: {
  load: { status: string; error?: unknown };
  loading: string;
  errorTitle: string;
  errorTestId?: string;
  onRetry?: () => void;
  /** With a message: a signed-out error shows "You are signed out" and a Sign in link. */
  signedOut?: string;
}) {
  if (load.status === 'loading') return <LoadingState label={loading} />;
  if (load.status !== 'error') return null;
  if (signedOut && needsLogin(load.error)) return <SignedOut message={signedOut} />;
  const state = <ErrorState title={errorTitle} message={errorMessage(load.error)} onRetry={onRetry} />;
  return errorTestId ? <div data-testid={errorTestId}>{state}</div> : state;
}
