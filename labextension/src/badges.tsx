import * as React from 'react';

import { Access } from './api';

const ACCESS_LABELS: Record<Access, string> = {
  owner: 'own',
  admin: 'admin',
  shared: 'shared',
  preset: 'preset'
};

const ACCESS_TITLES: Record<Access, string> = {
  owner: 'Yours: you can import, annotate, publish, share and delete',
  admin: "Another user's, open to you as an admin",
  shared: 'Shared with you: read-only; mount it or use it in jobs',
  preset: 'Provided by the platform: read-only'
};

/** How the user reaches a dataset or model: own, admin, shared or preset. */
export function AccessBadge(props: { access: Access }): JSX.Element {
  return (
    <span
      className={`sxwl-badge sxwl-badge-${props.access}`}
      data-testid="sxwl-access"
      data-access={props.access}
      title={ACCESS_TITLES[props.access]}
    >
      {ACCESS_LABELS[props.access]}
    </span>
  );
}

/**
 * The state of an import, version or copy (running, ready, failed, …) as a
 * coloured badge; the colour comes from the CSS class of the state.
 */
export function StateBadge(props: {
  state: string;
  label?: string;
  testid?: string;
  title?: string;
}): JSX.Element {
  return (
    <span
      className={`sxwl-state sxwl-state-${props.state}`}
      data-testid={props.testid}
      data-state={props.state}
      title={props.title}
    >
      {props.label ?? props.state}
    </span>
  );
}
