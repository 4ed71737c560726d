// The run's OpenTelemetry trace: its id (to paste into a trace viewer) and, when the operator set
// TRACE_URL_TEMPLATE, a link that opens it there. Nothing when tracing was off at the run's start.

import { useState } from 'react';
import type { RunDetail } from '../api/resources';

export function RunTrace({ detail }: { detail: RunDetail | null }) {
  const [copied, setCopied] = useState(false);
  const traceId = detail?.trace_id;
  if (!traceId) return null;
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(traceId);
      setCopied(true);
    } catch {
      setCopied(false); // no clipboard (an insecure origin): the id is on screen to select
    }
  };
  return (
    <p className="run-trace small" data-testid="run-trace">
      <span className="muted">Trace </span>
      {detail?.trace_url ? (
        <a href={detail.trace_url} target="_blank" rel="noreferrer noopener" data-testid="run-trace-link" title="Open the run's trace">
          <code>{traceId}</code>
        </a>
      ) : (
        <code data-testid="run-trace-id">{traceId}</code>
      )}{' '}
      <button type="button" className="btn btn-ghost btn-small" onClick={copy} data-testid="run-trace-copy">
        {copied ? 'Copied' : 'Copy'}
      </button>
    </p>
  );
}
