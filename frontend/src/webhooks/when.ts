// Dates on the people and access screens. Expiry dates lie in the future, which the run views'
// formatDate ("5 min ago") does not cover.

export function formatMoment(value: string | null | undefined): string {
  if (!value) return '';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  return date.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}
