// The node palette, generated from the catalogue: grouped by category, searchable. Drag an item
// onto the canvas, or press it (click, Enter, Space) to add the node in the middle of the view.

import { memo, useMemo, useState, type DragEvent } from 'react';
import type { NodeTypeSpec } from '../api/graph';
import { ErrorState, LoadingState } from '../components/ui';
import { CATEGORY_LABEL, CATEGORY_ORDER, categoryClass } from './look';
import { NodeIcon } from './NodeIcon';

export const DRAG_TYPE = 'application/x-flow-node-type';

export interface PaletteProps {
  specs: NodeTypeSpec[];
  status: 'loading' | 'ready' | 'error';
  error: string | null;
  onRetry: () => void;
  onAdd: (type: string) => void;
  /** a drag from the palette began (the editor clears the canvas for the drop) */
  onDragBegin?: () => void;
}

export function groupSpecs(specs: NodeTypeSpec[], query: string): [string, NodeTypeSpec[]][] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const matches = specs.filter((spec) => {
    const text = `${spec.label} ${spec.type} ${spec.description} ${spec.category}`.toLowerCase();
    return words.every((w) => text.includes(w));
  });
  const groups = new Map<string, NodeTypeSpec[]>();
  for (const spec of matches) groups.set(spec.category, [...(groups.get(spec.category) ?? []), spec]);
  const order = [...CATEGORY_ORDER, ...[...groups.keys()].filter((c) => !CATEGORY_ORDER.includes(c as never)).sort()];
  return order.filter((c) => groups.has(c)).map((c) => [c, groups.get(c)!]);
}

export const Palette = memo(function Palette({ specs, status, error, onRetry, onAdd, onDragBegin }: PaletteProps) {
  const [query, setQuery] = useState('');
  const groups = useMemo(() => groupSpecs(specs, query), [specs, query]);
  const onDragStart = (event: DragEvent<HTMLButtonElement>, type: string) => {
    event.dataTransfer.setData(DRAG_TYPE, type);
    event.dataTransfer.setData('text/plain', type);
    event.dataTransfer.effectAllowed = 'move';
    onDragBegin?.();
  };
  return (
    <aside className="palette" aria-label="Node palette">
      <div className="palette-search">
        <input
          type="search"
          className="input"
          placeholder="Search nodes…"
          aria-label="Search nodes"
          value={query}
          data-testid="palette-search"
          onChange={(e) => setQuery(e.target.value)}
        />
      </div>
      <div className="palette-body">
        {status === 'loading' && <LoadingState label="Loading node types…" />}
        {status === 'error' && <ErrorState title="No node types" message={error ?? 'Could not load them.'} onRetry={onRetry} />}
        {status === 'ready' && groups.length === 0 && (
          <p className="muted palette-empty">{query ? `Nothing matches “${query}”.` : 'The server offers no node types.'}</p>
        )}
        {groups.map(([category, items]) => (
          <section key={category} className="palette-group" aria-labelledby={`palette-${category}`}>
            <h3 id={`palette-${category}`} className="palette-heading">
              {CATEGORY_LABEL[category] ?? category}
            </h3>
            <ul>
              {items.map((spec) => (
                <li key={spec.type}>
                  <button
                    type="button"
                    className={`palette-item ${categoryClass(spec.category)}`}
                    draggable
                    data-testid={`palette-item-${spec.type}`}
                    title={`${spec.description}\nDrag onto the canvas, or press to add.`}
                    onDragStart={(e) => onDragStart(e, spec.type)}
                    onClick={() => onAdd(spec.type)}
                  >
                    <span className="palette-glyph" aria-hidden="true">
                      <NodeIcon type={spec.type} category={spec.category} />
                    </span>
                    <span className="palette-text">
                      <span className="palette-label">{spec.label}</span>
                      <span className="palette-desc">{spec.description}</span>
                    </span>
                  </button>
                </li>
              ))}
            </ul>
          </section>
        ))}
      </div>
      <p className="palette-foot muted small">Drag onto the canvas or press to add.</p>
    </aside>
  );
});
