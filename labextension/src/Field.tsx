import * as React from 'react';

/** One labelled input with its error message under it. */
export function Field(props: {
  name: string;
  label: string;
  error?: string;
  hint?: string;
  idPrefix: string;
  children: React.ReactNode;
}): JSX.Element {
  return (
    <div
      className={`sxwl-field${props.error ? ' sxwl-field-invalid' : ''}`}
      data-field={props.name}
    >
      <label htmlFor={`${props.idPrefix}-${props.name}`}>{props.label}</label>
      {props.children}
      {props.hint && !props.error && (
        <div className="sxwl-hint">{props.hint}</div>
      )}
      {props.error && (
        <div
          className="sxwl-field-error"
          data-testid={`${props.idPrefix}-error-${props.name}`}
          role="alert"
        >
          {props.error}
        </div>
      )}
    </div>
  );
}

/** A form's submit button (its label says what it does, or that it is busy) and Cancel. */
export function FormActions(props: {
  testid: string;
  id?: string;
  disabled: boolean;
  onCancel: () => void;
  children: React.ReactNode;
}): JSX.Element {
  return (
    <div className="sxwl-form-actions">
      <button
        type="submit"
        className="jp-Button jp-mod-styled jp-mod-accept"
        id={props.id}
        data-testid={props.testid}
        disabled={props.disabled}
      >
        {props.children}
      </button>
      <button
        type="button"
        className="jp-Button jp-mod-styled jp-mod-reject"
        onClick={props.onCancel}
      >
        Cancel
      </button>
    </div>
  );
}
