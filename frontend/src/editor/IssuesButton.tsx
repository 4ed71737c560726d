// The toolbar's count of the graph's problems, opening a list of them; picking one shows it.

import { useState } from 'react';
import type { Issue } from '../api/graph';

export function IssuesButton({ issues, onPick }: { issues: Issue[]; onPick: (issue: Issue) => void }) {
  const [open, setOpen] = useState(false);
  return (
    <span className="help-anchor">
      <button
        type="button"
        className="btn btn-issues"
        aria-expanded={open}
        data-testid="issues-button"
        onClick={() => setOpen(!open)}
      >
        ⚠ {issues.length} problem{issues.length === 1 ? '' : 's'}
      </button>
      {open && (
        <div className="popover issues-popover" role="dialog" aria-label="Problems">
          <ul>
            {issues.map((issue, i) => (
              <li key={i}>
                <button
                  type="button"
                  className="issue-row"
                  onClick={() => {
                    onPick(issue);
                    setOpen(false);
                  }}
                >
                  <strong>{issue.node_id ?? issue.edge_id ?? 'flow'}</strong> {issue.message}
                </button>
              </li>
            ))}
          </ul>
        </div>
      )}
    </span>
  );
}

