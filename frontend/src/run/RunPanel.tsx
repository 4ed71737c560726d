// The run view's side panel: the streamed output, the timeline of steps, and one step's detail
// (input, output, error, attempts).

import { ToolCalls } from './ToolCalls';
import { memo, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { approvalRequestOf, type Approval } from '../api/approvals';
import { decisionVerb, quorumText } from '../approvals/decision';
import { StatusPill } from '../components/ui';
import { usePanelWidth } from '../components/usePanelWidth';
import { usePersistentFlag } from '../components/usePersistentFlag';
import { ChildSteps } from './ChildSteps';
import { CitedText } from './CitedText';
import { numberedSourcesFor, searchedSources, type ChunkSource } from './citations';
import { formatCost, formatDuration, formatTime, formatTokens, formatValue } from './format';
import { childrenTitle, itemNumber, progressOf, progressText } from './iteration';
import { depthOf, flowProgressOf, isFinished, isRejectedGate, runOutcome, subtreeFigures, type RunView, type StepView } from './reducer';
import { reusedLabel } from './rerun';
import { flowProgressText, flowTitle, stepNames, toolCallerOf, type FlowGraphOf, type StepNames } from './subflows';
import { Link, paths } from '../router';
import type { Connection } from './useRunView';

export type RunTab = 'output' | 'timeline' | 'step';

/** A node of the graph that ran: its type and settings (a map's items are listed as items). */
export interface RanNode {
  type: string;
  config: Record<string, unknown>;
}

/** Timeline rows drawn at first, and added by each "Show more". */
export const TIMELINE_PAGE = 200;
/** A step with more tasks than this (or a map) shows them in the timeline as one row. */
const GROUP_OVER = 25;

export interface RunPanelProps {
  view: RunView;
  tab: RunTab;
  onTab: (tab: RunTab) => void;
  selectedStep: string | null;
  onSelectStep: (id: string) => void;
  labelOf: (nodeId: string) => string;
  connection: Connection;
  /** the approvals of the run's gate steps, by step id */
  approvals?: Record<string, Approval>;
  /** open the decision dialog of a waiting gate step */
  onDecide?: (stepId: string) => void;
  /** under the run's figures: where the run came from, its re-runs, Retry */
  lineage?: ReactNode;
  /** in a step's detail, under its figures: where a reused output came from, re-run actions */
  stepExtra?: (step: StepView) => ReactNode;
  /** the type and settings of a node of the graph that ran */
  nodeOf?: (nodeId: string) => RanNode | undefined;
  /** the graph of a sub-flow the run runs, once fetched: its steps' labels and types */
  flowGraph?: FlowGraphOf;
}

const NO_NODE = (): RanNode | undefined => undefined;

const NO_APPROVALS: Record<string, Approval> = {};

function runDuration(view: RunView, finished: boolean): string {
  // the run's own start, else its first step's (a snapshot may come without started_at)
  const firstStep = view.order.map((id) => view.steps[id]?.startedAt).find((t) => t);
  const start = view.startedAt ?? firstStep ?? null;
  const end = view.finishedAt ?? (finished ? Math.max(0, ...Object.values(view.steps).map((s) => s.finishedAt ?? 0)) : null);
  if (start && end) return formatDuration((end - start) * 1000);
  return finished ? '—' : '…';
}

/** A run error as people read it: "Writer failed: …" rather than "step 'worker_1' failed: …"
 * (the server names steps by key; the id stays one click away, in the step's detail). */
export function readableError(message: string, view: RunView, names: StepNames): string {
  return message.replace(/\bstep '([^']+)'/g, (whole, key: string) => {
    const step = view.steps[key];
    if (step) return names.label(step);
    const node = key.split('.')[0];
    const label = names.labelIn(null)(node);
    return label && label !== node ? label : whole;
  });
}

export function connectionText(connection: Connection, finished: boolean): string {
  if (finished) return 'Finished';
  switch (connection.state) {
    case 'open':
      return 'Live';
    case 'connecting':
      return 'Connecting…';
    case 'reconnecting':
      return connection.delay !== undefined
        ? `Connection lost; retrying in ${Math.max(1, Math.round(connection.delay / 1000))} s`
        : 'Reconnecting…';
    case 'closed':
      return 'Disconnected';
    default:
      return '';
  }
}

export const RunPanel = memo(function RunPanel({
  view,
  tab,
  onTab,
  selectedStep,
  onSelectStep,
  labelOf,
  connection,
  approvals = NO_APPROVALS,
  onDecide,
  lineage,
  stepExtra,
  nodeOf = NO_NODE,
  flowGraph,
}: RunPanelProps) {
  const finished = isFinished(view);
  // a step's label and type in the flow it ran in: a sub-flow's steps by the sub-flow's graph
  const names = useMemo(() => stepNames(view, labelOf, nodeOf, flowGraph), [view, labelOf, nodeOf, flowGraph]);
  const size = usePanelWidth('run', 400);
  const [folded, setFolded] = usePersistentFlag('flow.runPanelFolded', false);
  const tabs: [RunTab, string][] = [
    ['output', 'Output'],
    ['timeline', `Timeline (${view.order.length})`],
    ['step', 'Step'],
  ];
  return (
    <aside className={`side-panel run-panel${folded ? ' folded' : ''}`} aria-label="Run" data-testid="run-panel" style={folded ? undefined : size.style}>
      {!folded && size.grip}
      <button
        type="button"
        className="btn btn-ghost btn-small run-panel-fold"
        aria-expanded={!folded}
        aria-label={folded ? 'Show the run panel' : 'Fold the run panel away'}
        title={folded ? 'Show the run panel' : 'Fold the run panel away (more room for the canvas)'}
        data-testid="run-panel-fold"
        onClick={() => setFolded(!folded)}
      >
        {folded ? '‹' : '›'}
      </button>
      <header className="run-summary">
        <div className="run-summary-row">
          <StatusPill status={runOutcome(view) === 'rejected' ? 'rejected' : view.status} testId="run-status" />
          <span className={`conn conn-${finished ? 'done' : connection.state}`} data-testid="run-connection" aria-live="polite">
            {connectionText(connection, finished)}
          </span>
        </div>
        <dl className="run-figures">
          <div>
            <dt>Tokens</dt>
            <dd data-testid="run-tokens">{formatTokens(view.totals.tokens_in + view.totals.tokens_out)}</dd>
          </div>
          <div>
            <dt>Cost</dt>
            <dd data-testid="run-cost">{formatCost(view.totals.cost)}</dd>
          </div>
          <div>
            <dt>Duration</dt>
            <dd>{runDuration(view, finished)}</dd>
          </div>
        </dl>
        {!!view.totals.reused && (
          <p className="run-reused muted small" data-testid="run-reused">
            {view.totals.reused} step{view.totals.reused === 1 ? '' : 's'} reused
            {view.totals.reused_cost ? ` (saved ${formatCost(view.totals.reused_cost)})` : ''}
          </p>
        )}
        {lineage}
      </header>
      <div className="tabs" role="tablist" aria-label="Run details">
        {tabs.map(([key, text]) => (
          <button
            key={key}
            type="button"
            role="tab"
            id={`run-tab-${key}`}
            aria-selected={tab === key}
            aria-controls={`run-tabpanel-${key}`}
            className={`tab${tab === key ? ' active' : ''}`}
            data-testid={`run-tab-${key}`}
            onClick={() => onTab(key)}
          >
            {text}
          </button>
        ))}
      </div>
      <div className="panel-body run-tab-body" role="tabpanel" id={`run-tabpanel-${tab}`} aria-labelledby={`run-tab-${tab}`}>
        {tab === 'output' && <OutputTab view={view} names={names} onSelectStep={onSelectStep} onDecide={onDecide} />}
        {tab === 'timeline' && <Timeline view={view} selected={selectedStep} onSelect={onSelectStep} names={names} approvals={approvals} />}
        {tab === 'step' && (
          <StepDetail
            view={view}
            step={selectedStep ? view.steps[selectedStep] : undefined}
            names={names}
            approval={selectedStep ? approvals[selectedStep] : undefined}
            onDecide={onDecide}
            extra={stepExtra}
            onSelectStep={onSelectStep}
          />
        )}
      </div>
    </aside>
  );
});

function OutputTab({
  view,
  names,
  onSelectStep,
  onDecide,
}: {
  view: RunView;
  names: StepNames;
  onSelectStep: (id: string) => void;
  onDecide?: (stepId: string) => void;
}) {
  // steps waiting for a person: not a manager, a map or a sub-flow waiting for its steps
  const waiting = view.order.filter((id) => {
    const step = view.steps[id];
    return step?.status === 'waiting' && !step.flow && !(step.children.length > 0 && step.request == null);
  });
  const streaming = view.streaming ? view.steps[view.streaming] : undefined;
  // a run that went through a rejected gate: say so instead of showing a null output as a success
  const rejectedGate = runOutcome(view) === 'rejected' ? view.order.map((id) => view.steps[id]).find((s) => s && s.parent === null && s.inFlow === null && isRejectedGate(s)) : undefined;
  const box = useRef<HTMLPreElement>(null);
  const text = streaming?.text ?? '';
  useEffect(() => {
    const el = box.current;
    if (el) el.scrollTop = el.scrollHeight; // follow the stream
  }, [text]);
  return (
    <div className="output-tab">
      {view.status === 'failed' && view.error && (
        <div className="banner banner-error" data-testid="run-error">
          <strong>The run failed.</strong> {readableError(view.error.message, view, names)}
          {view.error.step && (
            <button type="button" className="btn btn-link btn-small" onClick={() => onSelectStep(view.error!.step!)}>
              Show step
            </button>
          )}
        </div>
      )}
      {view.status === 'waiting' && (
        <div className="banner banner-warn" data-testid="run-waiting">
          The run is waiting for a person (an approval).
          {onDecide &&
            waiting.map((id) => (
              <button key={id} type="button" className="btn btn-primary btn-small" data-testid={`run-decide-${id}`} onClick={() => onDecide(id)}>
                Decide: {names.label(view.steps[id])}
                {view.steps[id].parent && itemNumber(id) !== null ? ` · #${itemNumber(id)}` : ''}
                {view.steps[id].inFlow !== null && ` · in sub-flow ${flowStepName(view, names, view.steps[id].inFlow!)}`}
              </button>
            ))}
        </div>
      )}
      {rejectedGate && (
        <div className="banner banner-error" data-testid="run-rejected">
          <strong>The run ended at a rejection.</strong> {names.label(rejectedGate)} was rejected; the steps after its “approved”
          branch did not run.
          <button type="button" className="btn btn-link btn-small" onClick={() => onSelectStep(rejectedGate.id)}>
            Show step
          </button>
        </div>
      )}
      <section data-testid="run-output" aria-live="polite" className="run-output">
        {streaming && (
          <>
            <h3 className="section-title">
              {names.label(streaming)} <span className="muted small">{streaming.status === 'running' ? 'streaming…' : ''}</span>
            </h3>
            <pre ref={box} className="stream" data-testid="run-stream">
              {text ||
                (streaming.status === 'running'
                  ? 'Waiting for output…'
                  : streaming.status === 'waiting'
                    ? 'Waiting for a person to decide…'
                    : streaming.output == null
                      ? 'No output.'
                      : formatValue(streaming.output))}
              {streaming.status === 'running' && <span className="caret" aria-hidden="true" />}
            </pre>
          </>
        )}
        {view.status === 'succeeded' && !(rejectedGate && view.output == null) && (
          <>
            <h3 className="section-title">Run output</h3>
            <pre className="stream final" data-testid="run-final-output">
              <CitedText text={formatValue(view.output)} numbered={numberedSourcesFor(view, null)} searched={searchedSources(view)} />
            </pre>
          </>
        )}
        {!streaming && view.status !== 'succeeded' && (
          <p className="muted">
            {view.status === 'idle' || view.status === 'queued' ? 'The run is queued; output appears here as it streams.' : 'No output yet.'}
          </p>
        )}
      </section>
    </div>
  );
}

function Timeline({
  view,
  selected,
  onSelect,
  names,
  approvals,
}: {
  view: RunView;
  selected: string | null;
  onSelect: (id: string) => void;
  names: StepNames;
  approvals: Record<string, Approval>;
}) {
  const [limit, setLimit] = useState(TIMELINE_PAGE);
  if (!view.order.length) return <p className="muted">No steps yet.</p>;
  const origin = view.startedAt ?? view.steps[view.order[0]]?.startedAt ?? null;
  // A map's items (or any step's many tasks) are one row here, opening the step's item list: a
  // timeline of 10,000 rows would be unreadable, and drawing it on every event hangs the page.
  const grouped = (step: StepView | undefined): boolean =>
    !!step && !step.flow && (names.node(step)?.type === 'map' || step.children.length > GROUP_OVER);
  const rows = view.order.filter((id) => {
    const parent = view.steps[id]?.parent;
    return !(parent && grouped(view.steps[parent]));
  });
  const shown = rows.slice(0, limit);
  return (
    <>
      <ol className="timeline" data-testid="run-timeline">
        {shown.map((id) => {
          const step = view.steps[id];
          if (!step) return null;
          const depth = depthOf(view, id);
          const group = grouped(step) ? progressOf(view.steps, step) : null;
          return (
            <li key={id}>
              <button
                type="button"
                className={`timeline-item${selected === id ? ' selected' : ''}`}
                style={{ paddingLeft: 8 + depth * 16 }}
                data-testid={`timeline-${id}`}
                data-status={step.status}
                onClick={() => onSelect(id)}
              >
                <span className={`dot dot-${step.status}`} aria-hidden="true" />
                <span className="timeline-name">
                  {depth > 0 && <span className="muted">↳ </span>}
                  {names.label(step)}
                  {step.flow && (
                    <span className="muted small">
                      {' '}
                      · {toolCallerOf(view, step) ? 'workflow tool: ' : ''}
                      {flowTitle(step.flow)}
                    </span>
                  )}
                  {step.attempt > 1 && <span className="badge-warn">×{step.attempt}</span>}
                  {step.status === 'reused' && <span className={`reused-chip reused-${step.reusedFrom?.kind ?? 'recorded'}`}>{reusedLabel(step.reusedFrom)}</span>}
                </span>
                <span className="timeline-meta muted small">
                  {step.startedAt && origin ? `+${formatDuration((step.startedAt - origin) * 1000)}` : ''}
                  {step.duration_ms !== null && step.status !== 'reused' ? ` · ${formatDuration(step.duration_ms)}` : ''}
                  {step.cost > 0 ? ` · ${formatCost(step.cost)}` : ''}
                </span>
              </button>
              {group && (
                <button
                  type="button"
                  className="timeline-group"
                  style={{ paddingLeft: 8 + (depth + 1) * 16 }}
                  data-testid={`timeline-items-${id}`}
                  onClick={() => onSelect(id)}
                >
                  <span className="muted">↳</span>
                  <span>
                    {childrenTitle(names.node(step)?.type)}: {progressText(group)}
                  </span>
                  <span className="btn-link">Show list</span>
                </button>
              )}
              {approvals[id] && <Decisions approval={approvals[id]} testId={`timeline-decisions-${id}`} compact />}
            </li>
          );
        })}
      </ol>
      {rows.length > shown.length && (
        <button type="button" className="btn btn-secondary btn-small timeline-more" data-testid="timeline-more" onClick={() => setLimit((n) => n + TIMELINE_PAGE)}>
          Show more ({(rows.length - shown.length).toLocaleString('en-US')} not shown)
        </button>
      )}
    </>
  );
}

// memo: a map's input may be a list of 10,000 items, not to be formatted again on every event
const Block = memo(function Block({
  title,
  value,
  testId,
  cited,
}: {
  title: string;
  value: unknown;
  testId?: string;
  /** the sources its citation markers link to (a step's output) */
  cited?: { numbered: ChunkSource[]; searched: Map<number, ChunkSource> };
}) {
  return (
    <section className="detail-block">
      <h4>{title}</h4>
      <pre className="code-block" data-testid={testId}>
        {value === null || value === undefined || value === '' ? (
          <span className="muted">—</span>
        ) : cited ? (
          <CitedText text={formatValue(value)} numbered={cited.numbered} searched={cited.searched} />
        ) : (
          formatValue(value)
        )}
      </pre>
    </section>
  );
});

/** Who decided what and when, from the gate's Approval. */
function Decisions({ approval, testId, compact = false }: { approval: Approval; testId?: string; compact?: boolean }) {
  const decisions = approval.decisions ?? [];
  if (compact && !decisions.length && approval.status === 'pending') return null;
  return (
    <ul className={`decision-list${compact ? ' decision-list-compact' : ''}`} data-testid={testId}>
      {decisions.map((d, i) => (
        <li key={i} className={`decision-item decision-${decisionVerb(d.decision)}`}>
          <span aria-hidden="true">{decisionVerb(d.decision) === 'approved' ? '✓ ' : decisionVerb(d.decision) === 'rejected' ? '✕ ' : ''}</span>
          <strong>{d.user}</strong> {decisionVerb(d.decision)}
          <span className="muted small"> · {formatTime(Date.parse(d.created_at) / 1000)}</span>
          {d.comment && <span className="decision-comment-text"> — “{d.comment}”</span>}
        </li>
      ))}
      {approval.status === 'expired' && <li className="muted small">Expired without a decision{approval.decided_at ? ` · ${formatTime(Date.parse(approval.decided_at) / 1000)}` : ''}</li>}
      {approval.status === 'pending' && approval.quorum > 1 && <li className="muted small">{quorumText(approval)} approvals so far</li>}
    </ul>
  );
}

function subtreeTokens(view: RunView, id: string): number {
  const figures = subtreeFigures(view.steps, id);
  return figures.tokens_in + figures.tokens_out;
}

/** How a sub-flow step is named in a line about one of its steps: its label in its own flow. */
function flowStepName(view: RunView, names: StepNames, flowStep: string): string {
  const step = view.steps[flowStep];
  return step ? names.label(step) : flowStep;
}

function StepDetail({
  view,
  step,
  names,
  approval,
  onDecide,
  extra,
  onSelectStep,
}: {
  view: RunView;
  step: StepView | undefined;
  names: StepNames;
  approval?: Approval;
  onDecide?: (stepId: string) => void;
  extra?: (step: StepView) => ReactNode;
  onSelectStep: (id: string) => void;
}) {
  if (!step) return <p className="muted">Click a node or a timeline entry to see its step.</p>;
  const flowStep = step.inFlow ? view.steps[step.inFlow] : undefined;
  // a sub-flow's step has its subflow step as parent: said as "in sub-flow", not as a delegation
  const parent = step.parent && step.parent !== step.inFlow ? view.steps[step.parent] : null;
  const parentType = parent ? names.node(parent)?.type : undefined;
  const ran = names.node(step);
  const number = itemNumber(step.id);
  const flowGraph = step.flow ? names.flowOf(step.id)?.graph : undefined;
  const caller = toolCallerOf(view, step);
  return (
    <div className="step-detail" data-testid="step-detail">
      <div className="step-detail-head">
        <h3>{names.label(step)}</h3>
        <StatusPill status={step.status} testId="step-status" />
      </div>
      <dl className="facts">
        <dt>Step</dt>
        <dd>
          <code>{step.id}</code>
        </dd>
        {caller && (
          <>
            <dt>Tool call of</dt>
            <dd data-testid="step-tool-caller">
              <button type="button" className="btn btn-link btn-small" data-testid="step-flow-parent" onClick={() => onSelectStep(caller.id)}>
                {names.label(caller)}
              </button>
              <span className="muted"> · it ran this workflow as a tool, inside its step</span>
            </dd>
          </>
        )}
        {step.inFlow !== null && !caller && (
          <>
            <dt>Flow</dt>
            <dd data-testid="step-in-flow">
              in sub-flow{' '}
              <button type="button" className="btn btn-link btn-small" data-testid="step-flow-parent" onClick={() => onSelectStep(step.inFlow!)}>
                {flowStepName(view, names, step.inFlow)}
              </button>
              {flowStep?.flow && ` (${flowTitle(flowStep.flow)})`}
            </dd>
          </>
        )}
        {step.flow && (
          <>
            <dt>Runs</dt>
            <dd data-testid="step-flow">
              <Link to={paths.editor(step.flow.workflow)} title="Open this workflow in the editor">
                {flowTitle(step.flow)}
              </Link>
              <span className="muted" data-testid="step-flow-progress">
                {' '}
                · {flowProgressText(flowProgressOf(view.steps, step), flowGraph?.nodes.length)}
              </span>
            </dd>
          </>
        )}
        {parent && (
          <>
            <dt>{parentType === 'map' ? 'Item of' : parentType === 'loop' ? 'Iteration of' : 'Delegated by'}</dt>
            <dd>
              <button type="button" className="btn btn-link btn-small" data-testid="step-parent" onClick={() => onSelectStep(parent.id)}>
                {names.label(parent)}
              </button>
              {(parentType === 'map' || parentType === 'loop') && number !== null && (
                <span className="muted" data-testid="step-item-number">
                  {' '}
                  · {parentType === 'map' ? 'item' : 'iteration'} {number} of {Math.max(parent.expected, parent.children.length).toLocaleString('en-US')}
                </span>
              )}
            </dd>
          </>
        )}
        <dt>Attempts</dt>
        <dd data-testid="step-attempts">{step.attempt || '—'}</dd>
        {step.model && (
          <>
            <dt>Model</dt>
            <dd>{step.model}</dd>
          </>
        )}
        <dt>Tokens</dt>
        <dd>
          {step.tokens_in} in · {step.tokens_out} out
        </dd>
        <dt>Cost</dt>
        <dd>{formatCost(step.cost)}</dd>
        {step.flow && (
          <>
            <dt>All told</dt>
            <dd data-testid="step-flow-subtree" title="This step and every step of its sub-flow">
              {formatCost(subtreeFigures(view.steps, step.id).cost)} · {formatTokens(subtreeTokens(view, step.id))} tok
            </dd>
          </>
        )}
        <dt>Duration</dt>
        <dd>{step.status === 'reused' ? 'none (reused)' : formatDuration(step.duration_ms) || '—'}</dd>
        {step.startedAt && (
          <>
            <dt>Started</dt>
            <dd>{formatTime(step.startedAt)}</dd>
          </>
        )}
        {step.branch && step.branch !== 'out' && (
          <>
            <dt>Branch</dt>
            <dd>{step.branch}</dd>
          </>
        )}
      </dl>
      {extra?.(step)}
      {step.error && (
        <div className="banner banner-error" data-testid="step-error">
          <strong>{step.error.code ?? 'error'}</strong>: {step.error.message}
        </div>
      )}
      {step.retries.length > 0 && (
        <section className="detail-block">
          <h4>Failed attempts</h4>
          <ol className="attempts" data-testid="step-retries">
            {step.retries.map((retry, index) => (
              <li key={index}>
                Attempt {retry.attempt}: {retry.error?.message ?? 'error'}
                <span className="muted small"> — retried after {retry.delay}s</span>
              </li>
            ))}
          </ol>
        </section>
      )}
      {(step.children.length > 0 || step.expected > 0) && (
        <ChildSteps
          key={step.id}
          steps={view.steps}
          parent={step}
          type={step.flow ? 'subflow' : (ran?.type ?? step.type)}
          config={ran?.config}
          // its children's nodes: a sub-flow's steps are its flow's; a task's, the step's own flow's
          labelOf={names.labelIn(step.flow ? step.id : step.inFlow)}
          summary={step.flow ? flowProgressText(flowProgressOf(view.steps, step), flowGraph?.nodes.length) : undefined}
          onSelect={onSelectStep}
        />
      )}
      {step.status === 'waiting' && onDecide && !!(approval || approvalRequestOf(step.request)) && (
        <div className="banner banner-warn">
          Waiting for approval.
          <button type="button" className="btn btn-primary btn-small" data-testid="step-decide" onClick={() => onDecide(step.id)}>
            Decide
          </button>
        </div>
      )}
      {approval && (
        <section className="detail-block">
          <h4>Approval · {approval.status}</h4>
          <Decisions approval={approval} testId="step-decisions" />
        </section>
      )}
      {step.request !== null && step.request !== undefined && <Block title="Waiting for" value={step.request} />}
      <Block title="Input" value={step.input} testId="step-input" />
      <ToolCalls
        calls={step.toolCalls ?? []}
        // the latest call with that id: a retried step's model may reuse its call ids
        stepOf={(callId) => [...step.children].reverse().find((id) => view.steps[id]?.flow?.tool_call === callId) ?? null}
        onSelectStep={onSelectStep}
      />
      {step.text && <Block title="Streamed" value={step.text} />}
      <Block title="Output" value={step.output} testId="step-output" cited={{ numbered: numberedSourcesFor(view, step), searched: searchedSources(view) }} />
    </div>
  );
}
