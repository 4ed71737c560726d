// Which widget edits a field, by the kind resolveField gives it (from its schema's type, format
// and widget hint). Every kind is listed, so a new kind does not type-check until it has a widget.

import type { ComponentType } from 'react';
import type { WidgetProps } from '../formContext';
import type { FieldKind } from '../resolve';
import { BooleanField } from './BooleanField';
import { ChoiceListField } from './ChoiceListField';
import { CredentialField } from './CredentialField';
import { EnumField } from './EnumField';
import { JsonField } from './JsonField';
import { KnowledgeBaseField } from './KnowledgeBaseField';
import { NumberField } from './NumberField';
import { ObjectGroupField } from './ObjectGroupField';
import { ObjectListField } from './ObjectListField';
import { StringListField } from './StringListField';
import { TextField } from './TextField';
import { ToolPickerField } from './ToolPickerField';
import { WorkflowField } from './WorkflowField';

export type Widget = ComponentType<WidgetProps>;

export const WIDGETS: Readonly<Record<FieldKind, Widget>> = {
  boolean: BooleanField,
  enum: EnumField,
  number: NumberField,
  integer: NumberField,
  text: TextField,
  textarea: TextField,
  template: TextField,
  expression: TextField,
  model: TextField,
  credential: CredentialField,
  workflow: WorkflowField,
  'knowledge-base': KnowledgeBaseField,
  'array-strings': StringListField,
  'array-enum': ChoiceListField,
  tools: ToolPickerField,
  'array-objects': ObjectListField,
  object: ObjectGroupField,
  json: JsonField,
  'json-schema': JsonField,
};

/** The widget for a kind; JSON text for anything the table does not know. */
export function widgetFor(kind: string): Widget {
  return Object.hasOwn(WIDGETS, kind) ? WIDGETS[kind as FieldKind] : JsonField;
}
