import * as React from 'react';

import { JobStatus } from '../api';

/** A job's status as a coloured badge; the colour comes from the CSS class. */
export function StatusBadge(props: { status: JobStatus }): JSX.Element {
  return (
    <span
      className={`sxwl-status sxwl-status-${props.status}`}
      data-testid="sxwl-job-status"
      data-status={props.status}
    >
      {props.status}
    </span>
  );
}
