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

/** A labelled text input (or, with `rows`, a text area) whose id and test id
 * are `<idPrefix>-<name>`. */
export function TextField(props: {
  idPrefix: string;
  name: string;
  label: string;
  value: string;
  onChange: (value: string) => void;
  error?: string;
  hint?: string;
  placeholder?: string;
  mono?: boolean;
  rows?: number;
}): JSX.Element {
  const common = {
    className: `jp-mod-styled${props.mono ? ' sxwl-mono' : ''}`,
    id: `${props.idPrefix}-${props.name}`,
    'data-testid': `${props.idPrefix}-${props.name}`,
    value: props.value,
    placeholder: props.placeholder
  };
  return (
    <Field
      name={props.name}
      label={props.label}
      error={props.error}
      hint={props.hint}
      idPrefix={props.idPrefix}
    >
      {props.rows ? (
        <textarea
          {...common}
          rows={props.rows}
          onChange={e => props.onChange(e.target.value)}
        />
      ) : (
        <input
          type="text"
          {...common}
          onChange={e => props.onChange(e.target.value)}
        />
      )}
    </Field>
  );
}
