import * as React from 'react';

import { JobDetail } from './JobDetail';
import { JobList } from './JobList';
import { SubmitForm } from './SubmitForm';

/** Which part of the Jobs view is on screen. */
type JobsScreen =
  { kind: 'list' } | { kind: 'submit' } | { kind: 'detail'; id: string };

/**
 * The Jobs tab: the list, the submit form and one job's detail, one at a
 * time, since the side panel is narrow.
 */
export function JobsView(): JSX.Element {
  const [screen, setScreen] = React.useState<JobsScreen>({ kind: 'list' });
  const toList = (): void => setScreen({ kind: 'list' });
  switch (screen.kind) {
    case 'submit':
      return (
        <SubmitForm
          onCancel={toList}
          onSubmitted={job => setScreen({ kind: 'detail', id: job.id })}
        />
      );
    case 'detail':
      return <JobDetail jobId={screen.id} onBack={toList} onDeleted={toList} />;
    default:
      return (
        <JobList
          onOpen={id => setScreen({ kind: 'detail', id })}
          onNew={() => setScreen({ kind: 'submit' })}
        />
      );
  }
}
