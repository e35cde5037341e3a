/** Spreading an API error over the inputs of a small form. */
import { ApiError } from './api';
import { errorText } from './format';

export interface IFormErrors {
  /** Message per input the error names. */
  fields: Record<string, string>;
  /** What names no input (or a plain failure), for a banner; null if none. */
  general: string | null;
}

/**
 * Messages per input for an error thrown by an API call. `inputs` are the
 * form's input names; a problem+json error naming one of them (or a dotted
 * path that starts with one) is shown at that input, the rest above the form.
 */
export function formErrors(error: unknown, inputs: string[]): IFormErrors {
  const fields: Record<string, string> = {};
  const other: string[] = [];
  if (error instanceof ApiError && error.errors.length) {
    for (const item of error.errors) {
      const head = String(item.field ?? '').split(/[.[]/)[0];
      if (inputs.includes(head)) {
        fields[head] = fields[head]
          ? `${fields[head]}; ${item.message}`
          : item.message;
      } else {
        other.push(
          item.field ? `${item.field}: ${item.message}` : item.message
        );
      }
    }
    if (!other.length && !Object.keys(fields).length) {
      other.push(error.message);
    }
  } else {
    other.push(errorText(error));
  }
  return { fields, general: other.length ? other.join('\n') : null };
}
