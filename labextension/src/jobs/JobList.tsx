import * as React from 'react';

import { ApiError, IJob, listJobs } from '../api';
import { SxwlContext } from '../context';
import { formatDuration, formatTime } from '../format';
import { isShown, usePolling } from '../hooks';
import { StatusBadge } from './StatusBadge';
import { ListCount, ListNotices, RefreshButton } from '../listParts';

export interface IJobListProps {
  onOpen: (id: string) => void;
  onNew: () => void;
}

/** The user's jobs (admins: optionally everyone's), refreshed every few seconds. */
export function JobList(props: IJobListProps): JSX.Element {
  const ctx = React.useContext(SxwlContext);
  const root = React.useRef<HTMLDivElement>(null);
  const [jobs, setJobs] = React.useState<IJob[] | null>(null);
  const [total, setTotal] = React.useState(0);
  const [error, setError] = React.useState<string | null>(null);
  const [search, setSearch] = React.useState('');
  const [showAll, setShowAll] = React.useState(false);
  const isAdmin = ctx.info?.user.admin ?? false;

  const refresh = React.useCallback(
    async (force = false): Promise<void> => {
      // A collapsed panel keeps its widgets: don't poll the platform for it.
      if (!force && !isShown(root.current)) {
        return;
      }
      try {
        const answer = await listJobs({
          q: search.trim() || undefined,
          all: isAdmin && showAll
        });
        setJobs(answer.items);
        setTotal(answer.total);
        setError(null);
      } catch (e) {
        setError(e instanceof ApiError ? e.message : String(e));
      }
    },
    [search, showAll, isAdmin]
  );

  usePolling(() => refresh(), ctx.settings.refreshSeconds * 1000);

  // Answer a new search or toggle at once rather than on the next tick; the
  // short delay lets typing settle.
  React.useEffect(() => {
    const timer = window.setTimeout(() => void refresh(true), 250);
    return () => window.clearTimeout(timer);
  }, [refresh]);

  // Filter locally too, so the list follows typing before the server answers.
  const needle = search.trim().toLowerCase();
  const shown = (jobs ?? []).filter(
    job => !needle || job.name.toLowerCase().includes(needle)
  );

  return (
    <div className="sxwl-job-list" ref={root} data-testid="sxwl-job-list">
      <div className="sxwl-toolbar">
        <input
          type="search"
          className="jp-mod-styled sxwl-search"
          placeholder="Search jobs by name"
          aria-label="Search jobs by name"
          data-testid="sxwl-job-search"
          value={search}
          onChange={e => setSearch(e.target.value)}
        />
        <button
          className="jp-Button jp-mod-styled jp-mod-accept"
          data-testid="sxwl-new-job"
          onClick={props.onNew}
        >
          New job
        </button>
      </div>
      <div className="sxwl-toolbar sxwl-toolbar-secondary">
        {isAdmin && (
          <label className="sxwl-check">
            <input
              type="checkbox"
              data-testid="sxwl-show-all"
              checked={showAll}
              onChange={e => setShowAll(e.target.checked)}
            />
            All users' jobs
          </label>
        )}
        <ListCount
          shown={jobs === null ? null : shown.length}
          total={total}
          noun="job"
        />
        <RefreshButton
          onRefresh={() => void refresh(true)}
          testid="sxwl-refresh"
        />
      </div>
      <ListNotices error={error} empty={jobs !== null && shown.length === 0}>
        {needle
          ? 'No job matches this search.'
          : 'No jobs yet. Press "New job" to submit one.'}
      </ListNotices>
      <ul className="sxwl-rows">
        {shown.map(job => (
          <JobRow
            key={job.id}
            job={job}
            showOwner={isAdmin && showAll}
            onOpen={props.onOpen}
          />
        ))}
      </ul>
    </div>
  );
}

function JobRow(props: {
  job: IJob;
  showOwner: boolean;
  onOpen: (id: string) => void;
}): JSX.Element {
  const { job } = props;
  const open = (): void => props.onOpen(job.id);
  const resources =
    job.accelerators_per_node > 0
      ? `${job.flavour} × ${job.accelerators_per_node}`
      : job.flavour;
  return (
    <li
      className="sxwl-row"
      data-testid={`sxwl-job-row-${job.id}`}
      data-job-id={job.id}
      role="button"
      tabIndex={0}
      onClick={open}
      onKeyDown={e => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          open();
        }
      }}
    >
      <div className="sxwl-row-head">
        <span className="sxwl-row-name" title={job.name}>
          {job.name}
        </span>
        <StatusBadge status={job.status} />
      </div>
      <div className="sxwl-row-meta">
        <span className="sxwl-mono" title="Job id">
          {job.id}
        </span>
        {props.showOwner && <span title="Owner">{job.owner}</span>}
        <span title="Flavour and accelerators per node">
          {job.nodes > 1 ? `${job.nodes} × ` : ''}
          {resources}
        </span>
        <span title="Duration">{formatDuration(job.duration_seconds)}</span>
        <span title="Created">{formatTime(job.created_at)}</span>
      </div>
      {job.status === 'Queued' && (
        <div className="sxwl-row-wait" data-testid="sxwl-job-wait">
          {job.queue_position !== null && (
            <strong>
              #{job.queue_position} in {job.queue}
            </strong>
          )}
          {job.wait_reason && <span> — {job.wait_reason}</span>}
        </div>
      )}
    </li>
  );
}
