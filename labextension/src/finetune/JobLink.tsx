import * as React from 'react';

import { SxwlContext } from '../context';

/**
 * "job <id> ⤢": opens the job that runs a training, evaluation or export in
 * a tab of the main area, with its log; nothing where tabs cannot be opened.
 */
export function JobLink(props: {
  jobId: string | null;
  testid?: string;
}): JSX.Element | null {
  const ctx = React.useContext(SxwlContext);
  const jobId = props.jobId;
  if (!jobId || !ctx.openJobInTab) {
    return null;
  }
  return (
    <button
      type="button"
      className="sxwl-small-link"
      data-testid={props.testid}
      title="Open the job with its log in a tab of the main area"
      onClick={e => {
        // Inside a <summary> a click would also fold the section.
        e.preventDefault();
        ctx.openJobInTab?.(jobId);
      }}
    >
      job {jobId} ⤢
    </button>
  );
}
