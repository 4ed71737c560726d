// A worker step's tool calls, as the step inspector lists them while they happen: the tool and
// what it is (MCP server, HTTP API, workflow, built-in), its arguments, its result or error,
// and how long it took. Each call is one step.tool_call event when it starts and one when it ends.

import type { ToolCallData } from '../api/events';
import { formatDuration } from './format';
import './tools.css';

const KIND: Record<string, string> = { builtin: 'built-in', mcp: 'MCP', http: 'HTTP', workflow: 'workflow' };

function shown(value: unknown): string {
  if (value === null || value === undefined) return '';
  return typeof value === 'string' ? value : JSON.stringify(value, null, 2);
}

export function toolCallSummary(calls: readonly ToolCallData[] | undefined): { total: number; failed: number; running: number } {
  const list = (calls ?? []).filter((c) => c.phase !== 'listing');
  return {
    total: list.length,
    failed: list.filter((c) => c.status === 'failed').length,
    running: list.filter((c) => c.status === 'running').length,
  };
}

export interface ToolCallsProps {
  calls: readonly ToolCallData[];
  /** the child step a workflow tool call ran as (its steps under it), if any */
  stepOf?: (callId: string) => string | null;
  onSelectStep?: (stepId: string) => void;
}

export function ToolCalls({ calls, stepOf, onSelectStep }: ToolCallsProps) {
  if (!calls.length) return null;
  return (
    <section className="detail-block tool-calls" data-testid="step-tool-calls">
      <h4>Tool calls · {calls.filter((c) => c.phase !== 'listing').length}</h4>
      <ol className="tool-call-list">
        {calls.map((call) => (
          <li
            key={`${call.phase ?? 'call'}-${call.id}`}
            className={`tool-call status-${call.status}`}
            data-testid={`tool-call-${call.tool}`}
          >
            <div className="tool-call-head">
              <strong>{call.tool}</strong>
              {call.kind && <span className="tool-kind">{KIND[call.kind] ?? call.kind}</span>}
              {call.ref && call.ref !== call.tool && <code className="tool-ref">{call.ref}</code>}
              <span className={`tool-status status-${call.status}`} data-testid={`tool-call-status-${call.tool}`}>
                {call.phase === 'listing' ? 'could not list' : call.status}
              </span>
              {typeof call.duration_ms === 'number' && call.status !== 'running' && (
                <span className="tool-duration">{formatDuration(call.duration_ms)}</span>
              )}
              {call.kind === 'workflow' && onSelectStep && stepOf?.(call.id) && (
                <button
                  type="button"
                  className="btn btn-link btn-small"
                  data-testid={`tool-call-steps-${call.tool}`}
                  title="The workflow's steps, recorded under this step"
                  onClick={() => onSelectStep(stepOf(call.id)!)}
                >
                  Its steps
                </button>
              )}
            </div>
            {call.arguments !== null && call.arguments !== undefined && (
              <pre className="tool-args" data-testid={`tool-call-args-${call.tool}`}>
                {shown(call.arguments)}
              </pre>
            )}
            {call.result !== undefined && (
              <pre className="tool-result" data-testid={`tool-call-result-${call.tool}`}>
                {call.result}
              </pre>
            )}
            {call.error !== undefined && (
              <pre className="tool-error" role="alert" data-testid={`tool-call-error-${call.tool}`}>
                {call.error}
              </pre>
            )}
          </li>
        ))}
      </ol>
    </section>
  );
}
