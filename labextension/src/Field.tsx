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
