import * as React from 'react';

/** The head of a form or detail: "← <label>" back to the list, and a title. */
export function BackHead(props: {
  label: string;
  title?: string;
  onBack: () => void;
}): JSX.Element {
  return (
    <div className="sxwl-view-head">
      <button
        type="button"
        className="jp-Button jp-mod-styled jp-mod-minimal sxwl-link-button"
        data-testid="sxwl-back"
        onClick={props.onBack}
      >
        ← {props.label}
      </button>
      {props.title && <h3>{props.title}</h3>}
    </div>
  );
}
