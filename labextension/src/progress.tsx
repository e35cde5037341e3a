import * as React from 'react';

import { percent } from './format';

export interface IProgressBarProps {
  /** Units done so far (bytes, records). */
  done: number;
  /** Units in all; 0 or less when not known yet (the bar then moves on its own). */
  total: number;
  /** Words before the numbers, e.g. "Uploading data.jsonl". */
  label?: string;
  /** How to print a number of units; plain numbers by default. */
  format?: (value: number) => string;
  testid?: string;
  /** Colours the bar as failed. */
  failed?: boolean;
}

/** A labelled progress bar for uploads, imports, publishing and copies. */
export function ProgressBar(props: IProgressBarProps): JSX.Element {
  const pct = percent(props.done, props.total);
  const fmt = props.format ?? ((v: number) => v.toLocaleString());
  const numbers =
    pct === null
      ? props.done > 0
        ? fmt(props.done)
        : ''
      : `${fmt(props.done)} / ${fmt(props.total)} (${pct}%)`;
  return (
    <div
      className={`sxwl-progress${props.failed ? ' sxwl-progress-failed' : ''}`}
      data-testid={props.testid}
      data-percent={pct ?? ''}
    >
      <div className="sxwl-progress-text">
        {props.label && <span>{props.label}</span>}
        <span className="sxwl-muted">{numbers}</span>
      </div>
      <div
        className={`sxwl-progress-track${pct === null ? ' sxwl-progress-unknown' : ''}`}
        role="progressbar"
        aria-label={props.label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={pct ?? undefined}
      >
        <div
          className="sxwl-progress-fill"
          style={{ width: pct === null ? undefined : `${pct}%` }}
        />
      </div>
    </div>
  );
}
