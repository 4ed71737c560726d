// The approvals behind a run's gate steps (GET /api/approvals/?run=<id>), fetched when a gate
// step starts waiting, resumes or finishes, and kept current by the notification socket. The
// canvas's Decide button opens them; the timeline shows their decisions.

import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { approvalIdOf, approvalRequestOf, approvalsApi, type Approval } from '../api/approvals';
import type { RunView } from '../run/reducer';
import { useApprovalMessages } from './ApprovalsProvider';

/** The steps of gate nodes (or steps that asked for an approval), with their status: the refetch key. */
export function gateStepsKey(view: RunView, gateNodes: ReadonlySet<string>): string {
  const parts: string[] = [];
  for (const id of view.order) {
    const step = view.steps[id];
    if (!step) continue;
    if (gateNodes.has(step.node) || approvalRequestOf(step.request)) parts.push(`${id}:${step.status}`);
  }
  return parts.join('|');
}

function preferred(a: Approval, b: Approval): boolean {
  if ((a.status === 'pending') !== (b.status === 'pending')) return a.status === 'pending';
  return (a.created_at ?? '') > (b.created_at ?? '');
}

export interface RunApprovals {
  /** approvals by step id */
  byStep: Record<string, Approval>;
  /** the approval of a step: known, named in its request, or looked up */
  find: (stepId: string) => Promise<Approval | string | null>;
}

export function useRunApprovals(runId: string | null, view: RunView, gateNodes: ReadonlySet<string>): RunApprovals {
  const [byStep, setByStep] = useState<Record<string, Approval>>({});
  const byStepRef = useRef(byStep);
  byStepRef.current = byStep;
  const viewRef = useRef(view);
  viewRef.current = view;
  const key = useMemo(() => gateStepsKey(view, gateNodes), [view, gateNodes]);

  useEffect(() => setByStep({}), [runId]);

  const load = useCallback(async (): Promise<Record<string, Approval>> => {
    if (!runId) return {};
    const list = await approvalsApi.ofRun(runId);
    const map: Record<string, Approval> = {};
    for (const approval of list) {
      if (String(approval.run) !== String(runId)) continue;
      // one per step; should a step have had several, the pending (else the newest) one counts
      const held = map[approval.step];
      if (!held || preferred(approval, held)) map[approval.step] = approval;
    }
    setByStep(map);
    return map;
  }, [runId]);

  useEffect(() => {
    if (!runId || !key) return;
    const timer = setTimeout(() => void load().catch(() => undefined), 250);
    return () => clearTimeout(timer);
  }, [runId, key, load]);

  useApprovalMessages((message) => {
    const approval = message.approval;
    if (!runId || String(approval.run) !== String(runId)) return;
    setByStep((map) => ({ ...map, [approval.step]: approval }));
  });

  const find = useCallback(
    async (stepId: string) => {
      const known = byStepRef.current[stepId];
      if (known) return known;
      const fromRequest = approvalIdOf(approvalRequestOf(viewRef.current.steps[stepId]?.request));
      if (fromRequest) return fromRequest;
      return (await load())[stepId] ?? null;
    },
    [load],
  );

  return { byStep, find };
}
