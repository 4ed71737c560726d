// The header's way to the inbox: "Approvals" with the number waiting for me.

import { Link, paths } from '../router';
import { useApprovals } from './ApprovalsProvider';
import { badgeText } from './inbox';

export function ApprovalsLink({ className = 'btn btn-ghost' }: { className?: string }) {
  const { count } = useApprovals();
  return (
    <Link
      to={paths.approvals()}
      className={`${className} approvals-link`}
      data-testid="approvals-link"
      aria-label={count ? `Approvals, ${count} waiting for you` : 'Approvals'}
      title={count ? `${count} approval${count === 1 ? '' : 's'} waiting for you` : 'Approvals'}
    >
      Approvals
      {count > 0 && (
        <span className="count-badge" data-testid="approvals-badge" data-count={count} aria-hidden="true">
          {badgeText(count)}
        </span>
      )}
    </Link>
  );
}
