// One way to send a form: the page's own checks first (any problem is shown and nothing is
// sent), then the request with the button busy, and the server's field errors under the fields
// they belong to (the rest above the buttons, as `form`).

import { useState } from 'react';
import { fieldErrors } from '../api/client';

export type FormErrors<K extends string> = Partial<Record<K | 'form', string>>;

export function useFormSubmit<K extends string>(fields: K[]) {
  const [errors, setErrors] = useState<FormErrors<K>>({});
  const [saving, setSaving] = useState(false);

  const submit = async (problems: FormErrors<K>, send: () => Promise<void>) => {
    if (Object.keys(problems).length) {
      setErrors(problems);
      return;
    }
    setSaving(true);
    setErrors({});
    try {
      await send();
    } catch (error) {
      setErrors(fieldErrors(error, fields));
    } finally {
      setSaving(false);
    }
  };

  return { errors, saving, submit };
}
