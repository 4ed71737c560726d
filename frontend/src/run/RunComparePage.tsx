// Two runs side by side (/workflows/<id>/compare?a=<run>&b=<run>): per node, each run's status,
// tokens, cost and duration, and a line diff of the outputs. Nodes whose outcome is the same are
// folded away (a click opens one; "Show unchanged" opens them all).

import { useEffect, useMemo, useState } from 'react';
import { errorMessage } from '../api/client';
import { api, type RunSummary } from '../api/resources';
import { timeTravel, type ComparedNode, type ComparedStep, type RunComparison } from '../api/timeTravel';
import { ErrorState, LoadingState, StatusPill } from '../components/ui';
import { Link, paths, useSearch } from '../router';
import { formatCost, formatDate, formatDuration, formatTokens } from './format';
import { diffCounts, lineDiff, outputText, type DiffRow } from './outputDiff';
import { modeLabel, reusedLabel, shortId } from './rerun';
import { toSeconds } from './reducer';
import './timeTravel.css';

type Labels = Record<string, string>;

export function RunComparePage({ workflowId }: { workflowId: string }) {
  const search = useSearch();
  const { a, b } = useMemo(() => {
    const params = new URLSearchParams(search);
    return { a: params.get('a') ?? '', b: params.get('b') ?? '' };
  }, [search]);
  const [comparison, setComparison] = useState<RunComparison | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [labels, setLabels] = useState<Labels>({});
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    setComparison(null);
    setError(null);
    if (!a || !b) {
      setError('Name the two runs to compare: ?a=<run id>&b=<run id>.');
      return;
    }
    const abort = new AbortController();
    timeTravel.compare(a, b, abort.signal).then(
      (found) => {
        setComparison(found);
        // the nodes' labels, from the versions the two runs ran (the later one wins)
        const versions = [found.a, found.b].filter((run) => typeof run.version === 'number' && run.workflow);
        for (const run of versions) {
          api.getVersion(run.workflow!, run.version!).then(
            (version) => {
              if (abort.signal.aborted) return;
              const named = Object.fromEntries(version.graph.nodes.map((n) => [n.id, n.label || n.id]));
              setLabels((known) => (run === found.b ? { ...known, ...named } : { ...named, ...known }));
            },
            () => undefined, // ids will do
          );
        }
      },
      (cause) => !abort.signal.aborted && setError(errorMessage(cause)),
    );
    return () => abort.abort();
  }, [a, b, attempt]);

  return (
    <div className="page run-compare-page" data-testid="run-compare">
      <header className="page-head rc-head">
        <Link to={paths.editor(workflowId)} className="btn btn-ghost" data-testid="run-compare-back">
          ← Back to the workflow
        </Link>
        <h1>Compare runs</h1>
      </header>
      {error && <ErrorState title="Could not compare the runs" message={error} onRetry={a && b ? () => setAttempt((n) => n + 1) : undefined} />}
      {!error && !comparison && <LoadingState label="Comparing the runs…" />}
      {comparison && <Comparison workflowId={workflowId} comparison={comparison} labels={labels} />}
    </div>
  );
}

export function Comparison({ workflowId, comparison, labels }: { workflowId: string; comparison: RunComparison; labels: Labels }) {
  const [showUnchanged, setShowUnchanged] = useState(false);
  const unchanged = comparison.nodes.filter((n) => n.same_output).length;
  const labelOf = (id: string) => labels[id] ?? id;
  return (
    <>
      <div className="rc-runs">
        <RunCard side="A" run={comparison.a} workflowId={workflowId} />
        <RunCard side="B" run={comparison.b} workflowId={workflowId} />
      </div>
      <div className="rc-bar">
        <p data-testid="run-compare-differences">
          {comparison.differences === 0
            ? 'Every node has the same outcome in both runs.'
            : `${comparison.differences} of ${comparison.nodes.length} node${comparison.nodes.length === 1 ? '' : 's'} differ${comparison.differences === 1 ? 's' : ''}.`}
        </p>
        {unchanged > 0 && (
          <label className="check-row">
            <input type="checkbox" checked={showUnchanged} onChange={(e) => setShowUnchanged(e.target.checked)} data-testid="run-compare-show-unchanged" />
            Show unchanged nodes ({unchanged})
          </label>
        )}
      </div>
      <ol className="rc-nodes">
        {comparison.nodes.map((node) => (
          <NodeRow key={`${node.node}-${showUnchanged}`} node={node} label={labelOf(node.node)} open={!node.same_output || showUnchanged} />
        ))}
      </ol>
    </>
  );
}

function RunCard({ side, run, workflowId }: { side: string; run: RunSummary; workflowId: string }) {
  const started = toSeconds(run.started_at ?? run.created_at ?? null);
  const finished = toSeconds(run.finished_at ?? null);
  const totals = run.totals;
  return (
    <section className={`rc-run rc-run-${side.toLowerCase()}`} data-testid={`run-compare-run-${side.toLowerCase()}`}>
      <header>
        <span className="rc-side">{side}</span>
        <Link to={paths.run(run.workflow ?? workflowId, run.id)}>Run {shortId(run.id)}</Link>
        <StatusPill status={run.status} />
      </header>
      <dl className="facts">
        <dt>Version</dt>
        <dd>{run.version ? `v${run.version}` : '—'}</dd>
        <dt>Started</dt>
        <dd>{formatDate(run.started_at ?? run.created_at ?? null) || '—'}</dd>
        <dt>Duration</dt>
        <dd>{started && finished ? formatDuration((finished - started) * 1000) : '—'}</dd>
        <dt>Tokens</dt>
        <dd>{formatTokens((totals?.tokens_in ?? 0) + (totals?.tokens_out ?? 0))}</dd>
        <dt>Cost</dt>
        <dd>{formatCost(totals?.cost)}</dd>
        {!!totals?.reused && (
          <>
            <dt>Reused</dt>
            <dd>
              {totals.reused} step{totals.reused === 1 ? '' : 's'}
              {totals.reused_cost ? ` (saved ${formatCost(totals.reused_cost)})` : ''}
            </dd>
          </>
        )}
        {run.source && (
          <>
            <dt>Made from</dt>
            <dd>
              {run.source.run ? (
                <Link to={paths.run(run.workflow ?? workflowId, run.source.run)}>run {shortId(run.source.run)}</Link>
              ) : (
                'pinned data'
              )}{' '}
              <span className="muted small">
                ({modeLabel(run.source.mode)}
                {run.source.step ? ` from ${run.source.step}` : ''})
              </span>
            </dd>
          </>
        )}
      </dl>
    </section>
  );
}

function Figures({ step }: { step: ComparedStep | null }) {
  if (!step) return <td className="muted">not run</td>;
  return (
    <td>
      <StatusPill status={step.status} />
      {step.reused_from && <span className={`reused-chip reused-${step.reused_from.kind}`}>{reusedLabel(step.reused_from)}</span>}
    </td>
  );
}

function cell(step: ComparedStep | null, value: (s: ComparedStep) => string) {
  return <td>{step ? value(step) || '—' : ''}</td>;
}

function NodeRow({ node, label, open }: { node: ComparedNode; label: string; open: boolean }) {
  const { a, b } = node;
  return (
    <li className={`rc-node ${node.same_output ? 'same' : 'differs'}`} data-testid={`run-compare-node-${node.node}`} data-same={node.same_output}>
      <details open={open}>
        <summary>
          <span className="rc-node-name">{label}</span>
          {label !== node.node && <code className="muted small">{node.node}</code>}
          <span className={`rc-tag ${node.same_output ? 'rc-tag-same' : 'rc-tag-differs'}`}>{node.same_output ? 'same' : 'differs'}</span>
          <span className="muted small rc-node-brief">
            {a?.status ?? 'not run'} → {b?.status ?? 'not run'}
          </span>
        </summary>
        <table className="rc-table">
          <thead>
            <tr>
              <th />
              <th>A</th>
              <th>B</th>
            </tr>
          </thead>
          <tbody>
            <tr>
              <th>Status</th>
              <Figures step={a} />
              <Figures step={b} />
            </tr>
            <tr>
              <th>Tokens</th>
              {cell(a, (s) => `${formatTokens(s.tokens_in + s.tokens_out)} (${s.tokens_in} in · ${s.tokens_out} out)`)}
              {cell(b, (s) => `${formatTokens(s.tokens_in + s.tokens_out)} (${s.tokens_in} in · ${s.tokens_out} out)`)}
            </tr>
            <tr>
              <th>Cost</th>
              {cell(a, (s) => formatCost(s.cost))}
              {cell(b, (s) => formatCost(s.cost))}
            </tr>
            <tr>
              <th>Duration</th>
              {cell(a, (s) => (s.status === 'reused' ? 'reused' : formatDuration(s.duration_ms)))}
              {cell(b, (s) => (s.status === 'reused' ? 'reused' : formatDuration(s.duration_ms)))}
            </tr>
            {(a?.branch || b?.branch) && (a?.branch ?? 'out') + (b?.branch ?? 'out') !== 'outout' && (
              <tr>
                <th>Branch</th>
                {cell(a, (s) => s.branch ?? '')}
                {cell(b, (s) => s.branch ?? '')}
              </tr>
            )}
            {(a?.error || b?.error) && (
              <tr>
                <th>Error</th>
                {cell(a, (s) => s.error?.message ?? '')}
                {cell(b, (s) => s.error?.message ?? '')}
              </tr>
            )}
          </tbody>
        </table>
        <OutputDiff a={a} b={b} same={node.same_output} />
      </details>
    </li>
  );
}

function OutputDiff({ a, b, same }: { a: ComparedStep | null; b: ComparedStep | null; same: boolean }) {
  const before = a ? outputText(a.output) : '';
  const after = b ? outputText(b.output) : '';
  const rows = useMemo(() => (before === after ? null : lineDiff(before, after)), [before, after]);
  if (before === after) {
    return (
      <section className="rc-output">
        <h4>Output {same ? '' : '(the same in both)'}</h4>
        <pre className="code-block" data-testid="run-compare-output-same">
          {before || <span className="muted">—</span>}
        </pre>
      </section>
    );
  }
  if (!rows) {
    return (
      <section className="rc-output rc-output-whole">
        <h4>Output (too different to compare line by line)</h4>
        <div className="rc-whole">
          <pre className="code-block">{before}</pre>
          <pre className="code-block">{after}</pre>
        </div>
      </section>
    );
  }
  const counts = diffCounts(rows);
  return (
    <section className="rc-output">
      <h4>
        Output <span className="muted small">A → B: {counts.removed} line{counts.removed === 1 ? '' : 's'} removed, {counts.added} added</span>
      </h4>
      <pre className="code-block output-diff" data-testid="run-compare-output-diff">
        {rows.map((row, i) => (
          <DiffLine key={i} row={row} />
        ))}
      </pre>
    </section>
  );
}

function DiffLine({ row }: { row: DiffRow }) {
  if (row.kind === 'gap') {
    return <span className="rc-line rc-line-gap">{`⋯ ${row.count} unchanged line${row.count === 1 ? '' : 's'}\n`}</span>;
  }
  const sign = row.kind === 'added' ? '+' : row.kind === 'removed' ? '−' : ' ';
  return <span className={`rc-line rc-line-${row.kind}`}>{`${sign} ${row.text}\n`}</span>;
}
