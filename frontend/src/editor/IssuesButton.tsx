// The toolbar's count of the graph's problems (and warnings), opening a list of them in plain
// words, each under the name of the node it concerns; picking one selects that node.

import { useState } from 'react';
import type { Issue } from '../api/graph';

export function IssuesButton({
  issues,
  onPick,
  labelOf,
}: {
  issues: Issue[];
  onPick: (issue: Issue) => void;
  /** a node's label (its id when it has none) */
  labelOf: (nodeId: string) => string;
}) {
  const [open, setOpen] = useState(false);
  const errors = issues.filter((i) => i.severity !== 'warning');
  const warnings = issues.filter((i) => i.severity === 'warning');
  const said = [
    errors.length ? `${errors.length} problem${errors.length === 1 ? '' : 's'}` : '',
    warnings.length ? `${warnings.length} warning${warnings.length === 1 ? '' : 's'}` : '',
  ].filter(Boolean);
  // short in the crowded toolbar: "⚠ 2 problems · △ 1" (the title says it all)
  const text = errors.length ? `⚠ ${said[0]}${warnings.length ? ` · △ ${warnings.length}` : ''}` : `△ ${said[0]}`;
  const where = (issue: Issue) => (issue.node_id ? labelOf(issue.node_id) : issue.edge_id ? 'A connection' : 'The flow');
  return (
    <span className="help-anchor">
      <button
        type="button"
        className={`btn btn-issues${errors.length ? '' : ' btn-issues-warning'}`}
        aria-expanded={open}
        aria-label={said.join(' and ')}
        title={`${said.join(' and ')}: click for the list`}
        data-testid="issues-button"
        onClick={() => setOpen(!open)}
      >
        {text}
      </button>
      {open && (
        <div className="popover issues-popover" role="dialog" aria-label="Problems">
          <ul>
            {[...errors, ...warnings].map((issue, i) => (
              <li key={i}>
                <button
                  type="button"
                  className={`issue-row${issue.severity === 'warning' ? ' issue-row-warning' : ''}`}
                  data-testid={`issue-row-${i}`}
                  data-severity={issue.severity ?? 'error'}
                  onClick={() => {
                    onPick(issue);
                    setOpen(false);
                  }}
                >
                  <strong>{where(issue)}</strong> {issue.message}
                </button>
              </li>
            ))}
          </ul>
        </div>
      )}
    </span>
  );
}
