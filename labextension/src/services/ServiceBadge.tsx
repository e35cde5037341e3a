import * as React from 'react';

import { ServiceStatus } from './api';

/** A service's status as a coloured badge; the colour comes from the CSS class. */
export function ServiceBadge(props: { status: ServiceStatus }): JSX.Element {
  return (
    <span
      className={`sxwl-svc-status sxwl-svc-status-${props.status}`}
      data-testid="sxwl-svc-status"
      data-status={props.status}
    >
      {props.status}
    </span>
  );
}
