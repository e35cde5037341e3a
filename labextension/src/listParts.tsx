import { refreshIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

/** "Loading…", or how many items a list shows ("3 datasets", "2 of 40 jobs"). */
export function ListCount(props: {
  shown: number | null;
  noun: string;
  total?: number;
  className?: string;
}): JSX.Element {
  const { shown, noun, total } = props;
  const n = total ?? shown ?? 0;
  const plural = `${noun}${n === 1 ? '' : 's'}`;
  return (
    <span className={props.className ?? 'sxwl-muted'}>
      {shown === null
        ? 'Loading…'
        : total === undefined
          ? `${shown} ${plural}`
          : `${shown} of ${total} ${plural}`}
    </span>
  );
}

/** The toolbar's "Refresh now" icon button. */
export function RefreshButton(props: {
  onRefresh: () => void;
  testid?: string;
}): JSX.Element {
  return (
    <button
      className="jp-Button jp-mod-styled jp-mod-minimal sxwl-link-button"
      data-testid={props.testid}
      title="Refresh now"
      aria-label="Refresh now"
      onClick={props.onRefresh}
    >
      <refreshIcon.react tag="span" className="sxwl-icon" />
    </button>
  );
}

/** Under a list's toolbar: the error of the last refresh, or why the list is empty. */
export function ListNotices(props: {
  error: string | null;
  empty: boolean;
  children: React.ReactNode;
}): JSX.Element {
  return (
    <>
      {props.error && (
        <div className="sxwl-error-banner" data-testid="sxwl-error">
          {props.error}
        </div>
      )}
      {props.empty && !props.error && (
        <div className="sxwl-empty">{props.children}</div>
      )}
    </>
  );
}
