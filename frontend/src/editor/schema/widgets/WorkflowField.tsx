// Another workflow of the workspace (what a sub-flow runs), picked by name; the setting holds its id.

import type { WidgetProps } from '../formContext';
import { PickerField } from '../PickerField';
import { useWorkflowChoices, type WorkflowChoices } from '../workflowNames';

export function WorkflowField({ ctx, field, required, value, fieldPath, onSet }: WidgetProps) {
  const loaded = useWorkflowChoices(ctx.workflows === undefined);
  const choices: WorkflowChoices = ctx.workflows === undefined ? loaded : { status: 'ready', workflows: ctx.workflows, current: null };
  const current = typeof value === 'string' ? value : '';
  // A workflow that runs itself is a cycle: it is not offered.
  const offered = choices.status === 'ready' ? choices.workflows.filter((w) => w.id !== choices.current) : [];
  const listed = offered.some((w) => w.id === current);
  const missing = current !== '' && choices.status === 'ready' && !listed;
  const missingText =
    choices.status === 'ready' && current === choices.current
      ? 'This is the workflow being edited: a flow cannot run itself.'
      : `This workspace has no workflow “${current}”: the step will fail.`;
  return (
    <PickerField
      row={{ ctx, field, required, path: fieldPath }}
      current={current}
      listed={listed}
      missingText={missing ? missingText : null}
      choices={choices}
      offered={offered.length}
      what="workflows"
      placeholder="Choose a workflow…"
      none="No other workflow in this workspace yet: make the one to run first."
      onChange={onSet}
    >
      {offered.map((w) => (
        <option key={w.id} value={w.id}>
          {w.name}
        </option>
      ))}
    </PickerField>
  );
}
