// A workspace credential (of the kinds the field takes), by name, or none for the default key: a
// picker, never a place to type a secret.

import { KIND_LABELS } from '../../../api/credentials';
import { useCredentialChoices, type CredentialChoices } from '../credentialNames';
import type { WidgetProps } from '../formContext';
import { PickerField } from '../PickerField';

export function CredentialField({ ctx, field, required, value, fieldPath, onSet }: WidgetProps) {
  const loaded = useCredentialChoices(ctx.credentials === undefined);
  const choices: CredentialChoices = ctx.credentials === undefined ? loaded : { status: 'ready', credentials: ctx.credentials };
  const kinds = (field.schema as { credential_kinds?: string[] }).credential_kinds;
  const current = typeof value === 'string' ? value : '';
  const offered = choices.status === 'ready' ? choices.credentials.filter((c) => !kinds || kinds.includes(c.kind)) : [];
  const listed = offered.some((c) => c.name === current);
  const missing = current !== '' && choices.status === 'ready' && !listed;
  const missingText = `This workspace has no ${kinds ? `${kinds.join(' or ')} ` : ''}credential named “${current}”: the step will fail.`;
  return (
    <PickerField
      row={{ ctx, field, required, path: fieldPath }}
      current={current}
      listed={listed}
      missingText={missing ? missingText : null}
      choices={choices}
      offered={offered.length}
      what="credentials"
      placeholder="None (default key)"
      none="No credentials of this kind yet: add one under Settings → Credentials."
      onChange={(chosen) => onSet(chosen === '' ? undefined : chosen)}
    >
      {offered.map((c) => (
        <option key={c.name} value={c.name} title={KIND_LABELS[c.kind] ?? c.kind}>
          {/* short: the panel is narrow; the kind's long label is the title */}
          {c.name} ({c.kind}{c.hint ? ` ${c.hint}` : ''})
        </option>
      ))}
    </PickerField>
  );
}
