// A yes/no preference kept in localStorage (where it can be; in memory otherwise).

import { useCallback, useState } from 'react';

export function usePersistentFlag(key: string, initial: boolean): [boolean, (value: boolean) => void] {
  const [value, setValue] = useState(() => {
    try {
      const stored = localStorage.getItem(key);
      return stored === null ? initial : stored === '1';
    } catch {
      return initial;
    }
  });
  const set = useCallback(
    (next: boolean) => {
      setValue(next);
      try {
        localStorage.setItem(key, next ? '1' : '0');
      } catch {
        /* not persisted */
      }
    },
    [key],
  );
  return [value, set];
}
