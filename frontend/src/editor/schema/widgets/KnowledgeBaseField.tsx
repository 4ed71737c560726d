// A knowledge base of the workspace (what a retrieve node searches), picked by name. The setting
// holds the base's name, as flows have always saved it; a flow saved with the base's id keeps it
// (the engine takes either) and shows the base's name.

import type { WidgetProps } from '../formContext';
import { useKnowledgeBaseChoices } from '../knowledgeBaseNames';
import { PickerField } from '../PickerField';

export function KnowledgeBaseField({ ctx, field, required, value, fieldPath, onSet }: WidgetProps) {
  const choices = useKnowledgeBaseChoices();
  const current = typeof value === 'string' ? value : '';
  const bases = choices.status === 'ready' ? choices.bases : [];
  const byId = bases.find((b) => b.id === current);
  const listed = !!byId || bases.some((b) => b.name === current);
  const missing = current !== '' && choices.status === 'ready' && !listed;
  return (
    <PickerField
      row={{ ctx, field, required, path: fieldPath }}
      current={current}
      listed={listed}
      missingText={missing ? `This workspace has no knowledge base “${current}”: the step will fail.` : null}
      choices={choices}
      offered={bases.length}
      what="knowledge bases"
      placeholder="Choose a knowledge base…"
      none="No knowledge base in this workspace yet: make one on the Knowledge page first."
      onChange={onSet}
    >
      {bases.map((b) => (
        <option key={b.id} value={byId?.id === b.id ? b.id : b.name}>
          {b.name}
        </option>
      ))}
    </PickerField>
  );
}
