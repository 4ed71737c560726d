// The child steps of a step, in the run panel: a map's items, a loop's iterations, a manager's
// tasks, a sub-flow's steps (named by their labels in the sub-flow). Each row says the item's number, status, input and output (or error), cost and
// duration, and opens that step. A map may have 10,000 items: the list draws a page of them
// (more on request) and filters by status, so the page stays responsive at any size.

import { memo, useMemo, useState } from 'react';
import { SUCCEEDED_STEP_STATUSES } from '../api/events';
import { statusText } from '../components/ui';
import { formatCost, formatDuration } from './format';
import { childrenTitle, inItemOrder, itemNumber, loopText, preview, progressOf, progressText } from './iteration';
import type { StepView } from './reducer';
import './iteration.css';

/** Rows drawn at first, and added by each "Show more". */
export const ITEMS_PAGE = 50;

type Filter = 'all' | 'failed' | 'active' | 'waiting' | 'pending' | 'succeeded' | 'cancelled';

const FILTERS: [Filter, string][] = [
  ['all', 'All'],
  ['failed', 'Failed'],
  ['active', 'Running'],
  ['waiting', 'Waiting'],
  ['pending', 'Not started'],
  ['succeeded', 'Done'],
  ['cancelled', 'Cancelled'],
];

function filterOf(status: string): Filter {
  if (SUCCEEDED_STEP_STATUSES.has(status)) return 'succeeded';
  if (status === 'failed') return 'failed';
  if (status === 'running') return 'active';
  if (status === 'waiting') return 'waiting';
  if (status === 'cancelled' || status === 'skipped') return 'cancelled';
  return 'pending'; // queued or pending: not started yet
}

export interface ChildStepsProps {
  steps: Readonly<Record<string, StepView>>;
  parent: StepView;
  /** the parent's node type (map, loop, manager, subflow…) and settings */
  type: string | null;
  config?: Record<string, unknown>;
  /** the label of a child's node (a sub-flow's steps: in the sub-flow's graph) */
  labelOf: (nodeId: string) => string;
  /** what the head says of the children instead of the items' progress (a sub-flow's steps) */
  summary?: string;
  selected?: string | null;
  onSelect: (stepId: string) => void;
}

export const ChildSteps = memo(function ChildSteps({ steps, parent, type, config, labelOf, summary: given, selected, onSelect }: ChildStepsProps) {
  const [filter, setFilter] = useState<Filter>('all');
  const [limit, setLimit] = useState(ITEMS_PAGE);
  // sorted again only when items are added, not on every status change
  const ordered = useMemo(() => inItemOrder(parent.children), [parent.children]);
  const progress = progressOf(steps, parent);
  const counts = new Map<Filter, number>();
  for (const id of ordered) {
    const key = filterOf(steps[id]?.status ?? 'pending');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const unlisted = progress.total - ordered.length; // counted by the server, not known here yet
  if (unlisted > 0) counts.set('pending', (counts.get('pending') ?? 0) + unlisted);
  const chosen = filter === 'all' ? ordered : ordered.filter((id) => filterOf(steps[id]?.status ?? 'pending') === filter);
  const shown = chosen.slice(0, limit);
  const flow = type === 'subflow';
  // rows named by their node: a sub-flow's steps, a worker's workflow tool calls (by tool name)
  const named = flow || type === 'worker';
  const mixed = !named && new Set(ordered.slice(0, 200).map((id) => steps[id]?.node)).size > 1;
  const iterating = type === 'map' || type === 'loop';
  const summary = given ?? (type === 'loop' ? loopText(progress, config?.max_iterations) : progressText(progress));

  return (
    <section className="detail-block" data-testid="step-children">
      <div className="items-head">
        <h4>
          {childrenTitle(type)} <span className="muted">({progress.total.toLocaleString('en-US')})</span>
        </h4>
        <span className="items-summary muted" data-testid="step-children-progress">
          {summary}
        </span>
      </div>
      {(iterating || ordered.length > ITEMS_PAGE) && (
        <div className="items-filters" role="group" aria-label="Show items">
          {FILTERS.filter(([key]) => key === 'all' || counts.get(key)).map(([key, text]) => (
            <button
              key={key}
              type="button"
              className="items-filter"
              aria-pressed={filter === key}
              data-testid={`items-filter-${key}`}
              onClick={() => {
                setFilter(key);
                setLimit(ITEMS_PAGE);
              }}
            >
              {text} {key === 'all' ? progress.total.toLocaleString('en-US') : (counts.get(key) ?? 0).toLocaleString('en-US')}
            </button>
          ))}
        </div>
      )}
      {shown.length > 0 ? (
        <ol className="items-list" data-testid="step-children-list">
          {shown.map((id) => (
            <li key={id}>
              <ItemRow
                step={steps[id]}
                id={id}
                label={mixed ? labelOf(steps[id]?.node ?? id) : null}
                name={named ? labelOf(steps[id]?.node ?? id) : null}
                selected={selected === id}
                onSelect={onSelect}
              />
            </li>
          ))}
        </ol>
      ) : (
        <p className="muted small">{filter === 'all' ? 'None handed out yet.' : 'None of them, yet.'}</p>
      )}
      {chosen.length > shown.length && (
        <button type="button" className="btn btn-secondary btn-small items-more" data-testid="step-children-more" onClick={() => setLimit((n) => n + ITEMS_PAGE * 4)}>
          Show more ({(chosen.length - shown.length).toLocaleString('en-US')} not shown)
        </button>
      )}
      {unlisted > 0 && (filter === 'all' || filter === 'pending') && (
        <p className="muted small" data-testid="step-children-unlisted">
          {unlisted.toLocaleString('en-US')} more not started yet: they appear here when their turn comes.
        </p>
      )}
    </section>
  );
});

const ItemRow = memo(function ItemRow({
  step,
  id,
  label,
  name,
  selected,
  onSelect,
}: {
  step: StepView | undefined;
  id: string;
  label: string | null;
  /** what the row is called instead of its number (a sub-flow's step: its label) */
  name: string | null;
  selected: boolean;
  onSelect: (stepId: string) => void;
}) {
  const status = step?.status ?? 'pending';
  const n = itemNumber(id);
  const figures = [step && step.cost > 0 ? formatCost(step.cost) : '', step && step.status !== 'reused' ? formatDuration(step.duration_ms) : '']
    .filter(Boolean)
    .join(' · ');
  return (
    <button
      type="button"
      className={`item-row${selected ? ' selected' : ''}`}
      data-testid={`item-${id}`}
      data-status={status}
      title={`Open step ${id}`}
      onClick={() => onSelect(id)}
    >
      <span className={`item-number${name !== null ? ' item-name' : ''}`}>{name ?? (n !== null ? `#${n}` : id)}</span>
      <span className="item-status">
        <span className={`dot dot-${status}`} aria-hidden="true" />
        {statusText(status)}
        {label && <span className="muted">· {label}</span>}
      </span>
      <span className="item-figures">{figures}</span>
      {step && step.input !== null && step.input !== undefined && (
        <span className="item-value" data-testid={`item-input-${id}`}>
          <span className="item-value-label">in </span>
          {preview(step.input) || '—'}
        </span>
      )}
      {step?.error ? (
        <span className="item-value item-value-error" data-testid={`item-error-${id}`}>
          {preview(step.error.message, 120)}
        </span>
      ) : (
        step &&
        (SUCCEEDED_STEP_STATUSES.has(status) || step.output !== null) && (
          <span className="item-value" data-testid={`item-output-${id}`}>
            <span className="item-value-label">out </span>
            {preview(step.output) || '—'}
          </span>
        )
      )}
    </button>
  );
});
