/** Spreading an API error over the inputs of a small form. */
import * as React from 'react';

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

export interface IFormSubmit {
  busy: boolean;
  /** Message per input, from the last refusal or set by the form's own checks. */
  errors: Record<string, string>;
  setErrors: (errors: Record<string, string>) => void;
  /** Forget the message of one input (the user is changing it). */
  clear: (input: string) => void;
  /** What names no input, for the banner above the form. */
  general: string | null;
  /**
   * Run the form's API call once (a second press while it runs does nothing):
   * earlier messages are cleared, a refusal is spread over `inputs`.
   */
  run: (action: () => Promise<void>) => Promise<void>;
}

/** The state every small form keeps around its one API call. */
export function useFormSubmit(inputs: string[]): IFormSubmit {
  const [busy, setBusy] = React.useState(false);
  const [errors, setErrors] = React.useState<Record<string, string>>({});
  const [general, setGeneral] = React.useState<string | null>(null);
  const running = React.useRef(false);
  const run = async (action: () => Promise<void>): Promise<void> => {
    if (running.current) {
      return;
    }
    running.current = true;
    setBusy(true);
    setErrors({});
    setGeneral(null);
    try {
      await action();
    } catch (err) {
      const mapped = formErrors(err, inputs);
      setErrors(mapped.fields);
      setGeneral(mapped.general);
    } finally {
      running.current = false;
      setBusy(false);
    }
  };
  const clear = (input: string): void =>
    setErrors(e => (e[input] ? { ...e, [input]: '' } : e));
  return { busy, errors, setErrors, clear, general, run };
}

/** The banner above a form for what its refusal said of no input. */
export function FormBanner(props: {
  message: string | null;
}): JSX.Element | null {
  return props.message ? (
    <div className="sxwl-error-banner" role="alert">
      {props.message}
    </div>
  ) : null;
}
