// The card every node is drawn as: category stripe and glyph, label, a one-line summary of its
// settings, its handles, validation messages, and in the run view its status and figures.

import {
  Handle,
  Position,
  useConnection,
  useNodeConnections,
  useReactFlow,
  useStore,
  useUpdateNodeInternals,
  type ConnectionState,
  type NodeProps,
} from '@xyflow/react';
import { memo, useEffect, useMemo, useRef, useState, type CSSProperties } from 'react';
import { ERROR_HANDLE, type Issue, type NodeTypeSpec } from '../api/graph';
import { DELEGATE_HANDLE, TASK_HANDLE, canBeBody, delegatesToAny, sourceHandles } from '../graph/handles';
import type { StepData, StepNode } from '../graph/convert';
import { formatCost, formatDuration, formatTokens } from '../run/format';
import { loopText, progressText, type Progress } from '../run/iteration';
import { useNodeRun } from '../run/liveStore';
import type { ChildBadge, FlowView, StepView } from '../run/reducer';
import { toolCallSummary } from '../run/ToolCalls';
import { flowProgressText, flowTitle } from '../run/subflows';
import { canEditOutput, canRerunFrom, reusedLabel, shortId } from '../run/rerun';
import { Link } from '../router';
import { Spinner, statusText } from '../components/ui';
import { lowDetailSelector, useCanvasInfo } from './canvasContext';
import { categoryClass } from './look';
import { NodeIcon } from './NodeIcon';
import { PinGlyph } from './PinGlyph';
import '../run/timeTravel.css';
import '../run/iteration.css';

const NO_ISSUES: Issue[] = [];

function spread(index: number, count: number): CSSProperties {
  return { top: `${((index + 1) / (count + 1)) * 100}%` };
}

function summary(type: string, config: Record<string, unknown>): string {
  if (typeof config.model === 'string' && config.model) {
    return typeof config.role === 'string' && config.role ? `${config.role} · ${config.model}` : config.model;
  }
  if (type === 'router' && Array.isArray(config.routes)) {
    const n = config.routes.length;
    return `${n} route${n === 1 ? '' : 's'}${config.default ? ` + ${config.default}` : ''}`;
  }
  if (type === 'map' && typeof config.items === 'string') {
    return `each of ${config.items} · ${typeof config.concurrency === 'number' ? config.concurrency : 4} at a time`.slice(0, 60);
  }
  if (type === 'loop') {
    const until = typeof config.until === 'string' && config.until.trim() ? `until ${config.until.trim()} · ` : '';
    return `${until}at most ${typeof config.max_iterations === 'number' ? config.max_iterations : '?'}`.slice(0, 60);
  }
  if (typeof config.template === 'string') return config.template.replace(/\s+/g, ' ').slice(0, 60);
  if (typeof config.prompt === 'string') return config.prompt.replace(/\s+/g, ' ').slice(0, 60);
  if (type === 'input' && config.fields && typeof config.fields === 'object') {
    const props = Object.keys((config.fields as { properties?: object }).properties ?? {});
    return props.length ? `fields: ${props.join(', ')}` : '';
  }
  return '';
}

/** Badges of delegated tasks a card shows at most; the rest are one "+N more" (a map's items are
 * a progress bar: a card of 10,000 badges would hang the page). */
export const MAX_BADGES = 12;

const NO_CONNECTION = (): boolean => false;

/** Whether a connection being dragged starts at the delegate handle of a map or a loop. */
function useBodyDrag(catalogue: ReadonlyMap<string, NodeTypeSpec>, wanted: boolean): boolean {
  return useConnection(
    wanted
      ? (c: ConnectionState) => {
          if (!c.inProgress || c.fromHandle?.id !== DELEGATE_HANDLE) return false;
          const type = (c.fromNode.data as Partial<StepData>).type;
          return delegatesToAny(type ? catalogue.get(type) : undefined);
        }
      : NO_CONNECTION,
  );
}

/** Seconds since the epoch, ticking while `active`. */
function useNow(active: boolean): number {
  const [now, setNow] = useState(() => Date.now() / 1000);
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => setNow(Date.now() / 1000), 250);
    return () => clearInterval(timer);
  }, [active]);
  return now;
}

export const StepNodeCard = memo(function StepNodeCard({ id, data, selected }: NodeProps<StepNode>) {
  const info = useCanvasInfo();
  const low = useStore(lowDetailSelector);
  const { getNode } = useReactFlow();
  // this node's own entry of the run: other nodes' events do not re-render this card
  const run = useNodeRun(info.run, id);
  const spec = info.catalogue.get(data.type);
  const updateInternals = useUpdateNodeInternals();
  const outputs = spec ? sourceHandles(spec, data.config) : ['out'];
  const inputs = spec?.inputs ?? ['in'];
  // A map's or a loop's body takes its items at the task handle too: shown once it is a body, and
  // on every node that could be one while a connection is dragged from a map's or loop's handle.
  const bodyCapable = !spec?.delegatable && canBeBody(spec);
  const delegations = useNodeConnections({ handleType: 'target', handleId: TASK_HANDLE });
  const bodyDrag = useBodyDrag(info.catalogue, bodyCapable && !info.readOnly);
  const isBody = bodyCapable && delegations.length > 0;
  const taskHandle = !!spec?.delegatable || isBody || (bodyCapable && bodyDrag);
  const iterating = delegatesToAny(spec);
  const handleKey = `${inputs.join(',')}|${outputs.join(',')}|${spec?.can_delegate}|${taskHandle}`;
  const measuredKey = useRef(handleKey);
  useEffect(() => {
    // handles came or went (router routes): React Flow must measure them again. Not on mount:
    // React Flow measures new nodes itself, and an early call would fit the view to this node only.
    if (measuredKey.current === handleKey) return;
    measuredKey.current = handleKey;
    updateInternals(id);
  }, [handleKey, id, updateInternals]);

  const allIssues = info.nodeIssues.get(id) ?? NO_ISSUES;
  // errors stop a run and mark the card invalid; warnings (it runs, but likely not as meant) only say so
  const issues = useMemo(() => (allIssues === NO_ISSUES ? NO_ISSUES : allIssues.filter((i) => i.severity !== 'warning')), [allIssues]);
  const warnings = useMemo(() => (allIssues === NO_ISSUES ? NO_ISSUES : allIssues.filter((i) => i.severity === 'warning')), [allIssues]);
  const status = run ? run.status : 'idle';
  const view = run?.view;
  // what the card shows: a rejected gate's step succeeded, but the card says ✗ Rejected
  const shown = view?.rejected && status === 'succeeded' ? 'rejected' : status;
  const running = status === 'running';
  const now = useNow(running && !low);
  const duration =
    view?.duration_ms ?? (running && view?.startedAt ? Math.max(0, (now - view.startedAt) * 1000) : null);
  const errorText = run ? run.error : issues[0]?.message;
  const human = spec?.category === 'human' || data.type === 'approval';
  // the step that waits: a gate's own step (or any of the node's steps asking for an approval)
  const waitingStep = run?.waiting.find((s) => human || s.approval);
  const labelled = outputs.length > 1 || (outputs.length === 1 && outputs[0] !== 'out');
  const minHeight = Math.max(inputs.length, outputs.length) * 24 + 40;
  const cardClass = [
    'node-card',
    categoryClass(spec?.category),
    run ? `status-${status}` : '',
    shown === 'rejected' ? 'outcome-rejected' : '',
    selected ? 'selected' : '',
    !run && issues.length ? 'invalid' : '',
    !run && !issues.length && warnings.length ? 'has-warning' : '',
    !spec ? 'unknown-type' : '',
    human ? 'node-human' : '',
    waitingStep ? 'awaiting-approval' : '',
    low ? 'low-detail' : '',
  ]
    .filter(Boolean)
    .join(' ');
  const label = data.label || spec?.label || data.type;
  // time travel: what an open re-run preview would do here, pinned data, a reused output
  const verdict = run ? info.plan?.get(id) : undefined;
  const pinned = !run && !!info.pinned?.has(id);
  const reusedFrom = run && view?.reusedFrom ? view.reusedFrom : null;
  // the card stands for the node's top-level step; its delegated tasks are re-run from the panel
  const asStep = { status };
  const rerunnable = !!(run && selected && info.onRerun && view?.step && view.topLevel && !low && canRerunFrom(asStep));
  const classes = `${cardClass}${verdict ? ` plan-${verdict}` : ''}${pinned ? ' pinned' : ''}`;
  // a sub-flow's step costs nothing itself: its card counts the steps of its flow, all told
  const figures = view ? (view.flow ? view.subtree : view.own) : null;
  const flowGraph = view?.flow ? info.flowGraph?.(view.flow.ref) : undefined;
  const flowLabel = (nodeId: string) => flowGraph?.nodes.find((n) => n.id === nodeId)?.label || nodeId;
  // a delegated task's badge names its worker as its author labelled it, not by its id (worker_1)
  const canvasLabel = (nodeId: string) => (getNode(nodeId)?.data as StepData | undefined)?.label || nodeId;

  // Handles stay at every zoom (edges end at them; React Flow measures them), their labels not.
  const handles = (
    <>
      {taskHandle && (
        <Handle
          type="target"
          id={TASK_HANDLE}
          position={Position.Top}
          className={`handle handle-task${spec?.delegatable ? '' : ' handle-body'}`}
          isConnectable={!info.readOnly}
          title={low ? undefined : spec?.delegatable ? 'Takes tasks delegated by a manager' : 'The body of a map or loop: runs once per item or iteration'}
        />
      )}
      {inputs.map((handle, index) => (
        <Handle
          key={handle}
          type="target"
          id={handle}
          position={Position.Left}
          className="handle handle-in"
          style={spread(index, inputs.length)}
          isConnectable={!info.readOnly}
        />
      ))}
      {outputs.map((handle, index) => (
        <Handle
          key={handle}
          type="source"
          id={handle}
          position={Position.Right}
          className={`handle handle-out${handle === ERROR_HANDLE ? ' handle-error' : ''}`}
          style={spread(index, outputs.length)}
          isConnectable={!info.readOnly}
        >
          {labelled && !low && (
            <span className={`handle-label${handle === 'approved' || handle === 'rejected' ? ` handle-label-${handle}` : ''}`}>{handle}</span>
          )}
        </Handle>
      ))}
      {spec?.can_delegate && (
        <Handle
          type="source"
          id={DELEGATE_HANDLE}
          position={Position.Bottom}
          className="handle handle-delegate"
          isConnectable={!info.readOnly}
          title={low ? undefined : iterating ? 'Drag to the node to run once per item or iteration (its body)' : 'Delegate tasks to workers'}
        >
          {!low && <span className="handle-label handle-label-bottom">{iterating ? 'body' : 'delegate'}</span>}
        </Handle>
      )}
    </>
  );

  if (low) {
    return (
      <div
        className={classes}
        style={{ minHeight }}
        data-testid={`node-${id}`}
        data-status={status}
        data-type={data.type}
        data-invalid={issues.length ? 'true' : undefined}
        data-plan={verdict}
      >
        <div className="node-stripe" aria-hidden="true" />
        <div className="node-main">
          <span className="node-label">{label}</span>
        </div>
        {run && !NOT_REACHED.has(shown) && (
          <span className={`node-status node-status-${shown}`} data-testid={`node-status-${id}`} data-shown={shown} title={statusText(shown)}>
            <StatusGlyph status={shown} />
          </span>
        )}
        {handles}
      </div>
    );
  }

  return (
    <div
      className={classes}
      style={{ minHeight }}
      data-testid={`node-${id}`}
      data-status={status}
      data-type={data.type}
      data-invalid={issues.length ? 'true' : undefined}
      data-plan={verdict}
      title={spec?.description}
    >
      <div className="node-stripe" aria-hidden="true" />
      {/* keep text clear of the branch labels drawn inside the card's right edge */}
      <div className="node-main" style={labelled ? { paddingRight: Math.min(96, 18 + Math.max(...outputs.map((h) => h.length)) * 6.5) } : undefined}>
        <div className="node-head">
          <span className="node-glyph" aria-hidden="true">
            <NodeIcon type={data.type} category={spec?.category} size={16} />
          </span>
          <span className="node-title">
            <span className="node-label">{label}</span>
            <span className="node-type">{spec ? spec.label : `unknown type “${data.type}”`}</span>
          </span>
          {/* a node the run has not reached carries no badge: a grey "·" in its corner read as a
              stray dot on the canvas; the card is dimmed instead (status-idle, status-pending) */}
          {run && !NOT_REACHED.has(shown) && (
            <span className={`node-status node-status-${shown}`} data-testid={`node-status-${id}`} data-shown={shown} title={statusText(shown)}>
              {running ? <Spinner small label="Running" /> : <StatusGlyph status={shown} />}
            </span>
          )}
          {pinned && (
            <span className="node-pin" data-testid={`node-pin-${id}`} title="Pinned: test runs from the editor give its pinned output instead of running it">
              <PinGlyph />
            </span>
          )}
        </div>
        {verdict && (
          <div className={`plan-tag plan-tag-${verdict}`} data-testid={`node-plan-${id}`}>
            {verdict === 'execute' ? 'runs again' : verdict === 'reuse' ? 'reused' : 'skipped'}
          </div>
        )}
        {!run && summary(data.type, data.config) && <div className="node-summary">{summary(data.type, data.config)}</div>}
        {run && view && figures && (
          <div className="node-figures" data-testid={`node-figures-${id}`}>
            {duration !== null && status !== 'reused' && <span title="Duration">{formatDuration(duration)}</span>}
            {(figures.tokens_in > 0 || figures.tokens_out > 0) && (
              <span title={`${figures.tokens_in} in, ${figures.tokens_out} out${view.flow ? ', the sub-flow’s steps all told' : ''}`} data-testid={`node-tokens-${id}`}>
                {formatTokens(figures.tokens_in + figures.tokens_out)} tok
              </span>
            )}
            {figures.cost > 0 && (
              <span title={view.flow ? 'Cost of the sub-flow’s steps, all told' : 'Cost of this node'} data-testid={`node-cost-${id}`}>
                {formatCost(figures.cost)}
              </span>
            )}
            {view.attempt > 1 && <span className="badge-warn">attempt {view.attempt}</span>}
            <ToolBadge calls={view.toolCalls} id={id} />
          </div>
        )}
        {reusedFrom && (
          <div className={`node-reused reused-${reusedFrom.kind}`} data-testid={`node-reused-${id}`}>
            <span className="reused-chip">{reusedLabel(reusedFrom)}</span>
            {reusedFrom.run && info.runPath && (
              <Link
                to={info.runPath(reusedFrom.run, reusedFrom.step)}
                className="nodrag"
                title="Open the run this output came from"
                onClick={(e) => e.stopPropagation()}
              >
                from run {shortId(reusedFrom.run)}
                {reusedFrom.step ? ` · step ${reusedFrom.step}` : ''}
              </Link>
            )}
          </div>
        )}
        {rerunnable && view?.step && (
          <div className="node-actions nodrag" data-testid={`node-actions-${id}`}>
            <button
              type="button"
              className="btn btn-secondary btn-small nodrag"
              data-testid={`rerun-from-${id}`}
              onClick={(e) => {
                e.stopPropagation();
                info.onRerun?.('from', view.step!);
              }}
            >
              ↻ Re-run from here
            </button>
            {canEditOutput(asStep) && (
              <button
                type="button"
                className="btn btn-secondary btn-small nodrag"
                data-testid={`edit-output-${id}`}
                onClick={(e) => {
                  e.stopPropagation();
                  info.onRerun?.('edit', view.step!);
                }}
              >
                ✎ Edit output
              </button>
            )}
          </div>
        )}
        {waitingStep && (
          <div className="node-approval" data-testid={`node-approval-${id}`}>
            <span className="approval-badge">Waiting for approval</span>
            {info.onDecide && (
              <button
                type="button"
                className="btn btn-primary btn-small nodrag"
                data-testid={`decide-${id}`}
                onClick={(e) => {
                  e.stopPropagation();
                  info.onDecide?.(id, waitingStep.id);
                }}
              >
                Decide
              </button>
            )}
          </div>
        )}
        {run && view && iterating && view.progress && (
          <IterationProgress
            id={id}
            type={data.type}
            progress={view.progress}
            maxIterations={data.config.max_iterations}
            onOpen={view.step && info.onSelectStep ? () => info.onSelectStep?.(view.step!) : undefined}
          />
        )}
        {run && view?.flow && (
          <FlowProgressLine
            id={id}
            flow={view.flow}
            size={flowGraph?.nodes.length ?? null}
            onOpen={view.step && info.onSelectStep ? () => info.onSelectStep?.(view.step!) : undefined}
          />
        )}
        {run && view && view.children.length > 0 && (
          <div className="node-children" data-testid={`node-children-${id}`}>
            {data.type !== 'map' && (
              <ChildBadges
                children={view.children}
                numbered={iterating}
                labelOf={view.flow ? flowLabel : canvasLabel}
                onSelect={(step) => info.onSelectStep?.(step)}
                onMore={view.step && info.onSelectStep ? () => info.onSelectStep?.(view.step!) : undefined}
              />
            )}
            {!view.flow && (
              <div className="node-subtree" title="This node and every task delegated under it" data-testid={`node-subtree-${id}`}>
                Σ {formatCost(view.subtree.cost)} · {formatTokens(view.subtree.tokens_in + view.subtree.tokens_out)} tok
              </div>
            )}
          </div>
        )}
        {errorText && (
          <div className="node-error" data-testid={`node-error-${id}`} role={run ? undefined : 'note'}>
            {errorText}
            {!run && issues.length > 1 && <span className="muted"> (+{issues.length - 1} more)</span>}
          </div>
        )}
        {!run && !errorText && warnings.length > 0 && (
          <div className="node-warning" data-testid={`node-warning-${id}`} role="note">
            {warnings[0].message}
            {warnings.length > 1 && <span className="muted"> (+{warnings.length - 1} more)</span>}
          </div>
        )}
      </div>
      {handles}
    </div>
  );
});

/** A map's "37 / 100 · 2 failed" with a bar, a loop's "iteration 3 / at most 10". */
function IterationProgress({
  id,
  type,
  progress,
  maxIterations,
  onOpen,
}: {
  id: string;
  type: string;
  progress: Progress;
  maxIterations: unknown;
  onOpen?: () => void;
}) {
  const loop = type === 'loop';
  const text = loop ? loopText(progress, maxIterations) : progressText(progress);
  const share = (n: number) => `${progress.total ? (n / progress.total) * 100 : 0}%`;
  return (
    <div className="iter-progress" data-testid={`node-progress-${id}`} data-finished={progress.finished} data-total={progress.total}>
      {!loop && (
        <div className="iter-bar" aria-hidden="true">
          <span className="iter-bar-ok" style={{ width: share(progress.succeeded) }} />
          <span className="iter-bar-failed" style={{ width: share(progress.failed) }} />
          <span className="iter-bar-cancelled" style={{ width: share(progress.cancelled + progress.skipped) }} />
          <span className="iter-bar-running" style={{ width: share(progress.running + progress.waiting) }} />
        </div>
      )}
      <div className="iter-progress-row">
        <span className="iter-progress-text" data-testid={`node-progress-text-${id}`}>
          {text}
        </span>
        {onOpen && (
          <button
            type="button"
            className="btn btn-link btn-small nodrag"
            data-testid={`node-items-${id}`}
            onClick={(e) => {
              e.stopPropagation();
              onOpen();
            }}
          >
            {loop ? 'Iterations' : 'Items'}
          </button>
        )}
      </div>
    </div>
  );
}

/** A sub-flow's card: which flow it runs and how far that is ("runs Fact check v3", a bar,
 * "3 / 5 steps · waiting for approval"), and "Steps" to list them in the run panel. */
function FlowProgressLine({ id, flow, size, onOpen }: { id: string; flow: FlowView; size: number | null; onOpen?: () => void }) {
  const p = flow.progress;
  const total = Math.max(size ?? 0, p.known);
  const share = (n: number) => `${total ? (n / total) * 100 : 0}%`;
  return (
    <div className="iter-progress flow-progress" data-testid={`node-flow-${id}`} data-finished={p.finished} data-total={total}>
      <div className="flow-name" data-testid={`node-flow-name-${id}`} title={`Runs version ${flow.ref.number} of the workflow “${flow.ref.name}”`}>
        runs <strong>{flowTitle(flow.ref)}</strong>
      </div>
      <div className="iter-bar" aria-hidden="true">
        <span className="iter-bar-ok" style={{ width: share(p.finished - p.failed) }} />
        <span className="iter-bar-failed" style={{ width: share(p.failed) }} />
        <span className="iter-bar-running" style={{ width: share(p.running + p.asking.length) }} />
      </div>
      <div className="iter-progress-row">
        <span className="iter-progress-text" data-testid={`node-flow-progress-${id}`}>
          {flowProgressText(p, size)}
        </span>
        {onOpen && (
          <button
            type="button"
            className="btn btn-link btn-small nodrag"
            data-testid={`node-flow-steps-${id}`}
            onClick={(e) => {
              e.stopPropagation();
              onOpen();
            }}
          >
            Steps
          </button>
        )}
      </div>
    </div>
  );
}

/** A worker's tool calls so far: how many, how many failed, whether one is running. */
function ToolBadge({ calls, id }: { calls: StepView['toolCalls'] | undefined; id: string }) {
  const { total, failed, running } = toolCallSummary(calls);
  if (!total) return null;
  const title = `${total} tool call${total === 1 ? '' : 's'}${failed ? `, ${failed} failed` : ''}${running ? ', one running' : ''}`;
  return (
    <span className={`tool-badge${failed ? ' tool-badge-failed' : ''}${running ? ' tool-badge-running' : ''}`} title={title} data-testid={`node-tools-${id}`}>
      ⚒ {total}
      {failed > 0 && <span className="tool-badge-failed-count"> · {failed} failed</span>}
    </span>
  );
}

/** The tasks a node delegated, as badges: at most MAX_BADGES, then "+N more" (the step's list). */
function ChildBadges({
  children,
  numbered,
  labelOf,
  onSelect,
  onMore,
}: {
  children: ChildBadge[];
  numbered: boolean;
  /** a sub-flow's steps: their labels in its graph */
  labelOf?: (nodeId: string) => string;
  onSelect: (step: string) => void;
  onMore?: () => void;
}) {
  const shown = children.slice(0, MAX_BADGES);
  const rest = children.length - shown.length;
  return (
    <div className="node-children-badges">
      {shown.map((child) => (
        <button
          type="button"
          key={child.step}
          className={`child-badge status-${child.status} nodrag`}
          title={`${labelOf ? labelOf(child.node) : child.node}: ${statusText(child.status)}`}
          data-testid={`child-${child.step}`}
          data-status={child.status}
          onClick={(e) => {
            e.stopPropagation();
            onSelect(child.step);
          }}
        >
          {numbered ? `#${child.step.slice(child.step.lastIndexOf('.') + 1)}` : labelOf ? labelOf(child.node) : child.node}
        </button>
      ))}
      {rest > 0 && (
        <button
          type="button"
          className="child-badge child-badge-more nodrag"
          data-testid="child-more"
          disabled={!onMore}
          onClick={(e) => {
            e.stopPropagation();
            onMore?.();
          }}
        >
          +{rest.toLocaleString('en-US')} more
        </button>
      )}
    </div>
  );
}

/** Statuses of a node the run has not reached (no step yet, or one waiting for its inputs). */
const NOT_REACHED: ReadonlySet<string> = new Set(['idle', 'pending']);

function StatusGlyph({ status }: { status: string }) {
  const glyph: Record<string, string> = {
    succeeded: '✓',
    failed: '✕',
    skipped: '⤼',
    cancelled: '⊘',
    reused: '↺',
    rejected: '✗',
    waiting: '‖', // ⏸ is missing from common fonts
    queued: '…',
    pending: '·',
    idle: '·',
  };
  return <span aria-label={statusText(status)}>{glyph[status] ?? '·'}</span>;
}

