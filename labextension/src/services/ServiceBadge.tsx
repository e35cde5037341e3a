import * as React from 'react';

import { ServiceStatus } from './api';

/**
 * A service's status as a coloured badge; the colour comes from the CSS class.
 * A sleeping LLM service with a standby process says so: it wakes in about a
 * second instead of a cold start.
 */
export function ServiceBadge(props: {
  status: ServiceStatus;
  standby?: boolean;
}): JSX.Element {
  const standby = props.status === 'sleeping' && props.standby;
  return (
    <span
      className={`sxwl-svc-status sxwl-svc-status-${props.status}`}
      data-testid="sxwl-svc-status"
      data-status={props.status}
      title={
        standby
          ? 'sleeping: a standby process is ready, the next request wakes it in about a second'
          : undefined
      }
    >
      {standby ? 'sleeping · standby' : props.status}
    </span>
  );
}
