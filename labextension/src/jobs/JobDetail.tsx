import { HTMLSelect } from '@jupyterlab/ui-components';
import * as React from 'react';

import {
  ApiError,
  IArtifact,
  IJob,
  IUsageSample,
  artifactUrl,
  deleteJob,
  getJob,
  getUsage,
  isFinal,
  listArtifacts,
  restartJob,
  setJobPriority,
  stopJob
} from '../api';
import { SxwlContext } from '../context';
import { formatBytes, formatDuration, formatTime } from '../format';
import { isShown, usePolling } from '../hooks';
import { LogViewer } from './LogViewer';
import { StatusBadge } from './StatusBadge';
import { confirmed } from '../confirm';

export interface IJobDetailProps {
  jobId: string;
  /** Go back to the list; absent where the detail stands alone (a main-area tab). */
  onBack?: () => void;
  /** Called after the job was deleted. */
  onDeleted: () => void;
  /** Called with each fresh copy of the job (a tab shows its name). */
  onJob?: (job: IJob) => void;
}

/** One job: status, fields, actions, hardware use, log and artifacts. */
export function JobDetail(props: IJobDetailProps): JSX.Element {
  const ctx = React.useContext(SxwlContext);
  const [job, setJob] = React.useState<IJob | null>(null);
  const [usage, setUsage] = React.useState<IUsageSample | null>(null);
  const [artifacts, setArtifacts] = React.useState<IArtifact[] | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);
  const [gone, setGone] = React.useState(false);
  // Artifacts are listed once per finished attempt, not on every tick.
  const artifactsFor = React.useRef<string>('');

  const root = React.useRef<HTMLDivElement>(null);

  const refresh = async (): Promise<void> => {
    // A collapsed panel or a background tab keeps its widgets: don't poll for
    // them (the first load always happens).
    if (job !== null && !isShown(root.current)) {
      return;
    }
    let current: IJob;
    try {
      current = await getJob(props.jobId);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        setGone(true);
      }
      setError(e instanceof Error ? e.message : String(e));
      return;
    }
    setJob(current);
    props.onJob?.(current);
    setError(null);
    if (!isFinal(current.status) && current.status !== 'Queued') {
      getUsage(current.id)
        .then(samples =>
          setUsage(samples.length ? samples[samples.length - 1] : null)
        )
        .catch(() => undefined);
    }
    const key = `${current.attempt}:${current.status}`;
    if (isFinal(current.status) && artifactsFor.current !== key) {
      artifactsFor.current = key;
      listArtifacts(current.id)
        .then(setArtifacts)
        .catch(() => setArtifacts([]));
      // One last sample shows what the finished job used.
      getUsage(current.id)
        .then(samples =>
          setUsage(samples.length ? samples[samples.length - 1] : null)
        )
        .catch(() => undefined);
    }
  };

  const active = job === null || !isFinal(job.status);
  usePolling(
    refresh,
    gone ? null : (active ? 1 : 5) * ctx.settings.refreshSeconds * 1000
  );

  // New job shown in the same view: start from a clean slate.
  React.useEffect(() => {
    setJob(null);
    setUsage(null);
    setArtifacts(null);
    setGone(false);
    artifactsFor.current = '';
  }, [props.jobId]);

  const act = async (action: () => Promise<IJob | void>): Promise<void> => {
    setBusy(true);
    try {
      const answer = await action();
      if (answer) {
        setJob(answer);
        setArtifacts(null);
        artifactsFor.current = '';
      }
      setError(null);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };

  const confirmDelete = async (): Promise<void> => {
    if (!job) {
      return;
    }
    if (
      !(await confirmed(
        'Delete job',
        `Delete ${job.name} (${job.id})? ${
          isFinal(job.status) ? '' : 'It is stopped first. '
        }Its logs and saved files go too.`
      ))
    ) {
      return;
    }
    setBusy(true);
    try {
      await deleteJob(job.id);
      props.onDeleted();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      setBusy(false);
    }
  };

  const head = (
    <>
      <div className="sxwl-view-head">
        {props.onBack && (
          <button
            className="jp-Button jp-mod-styled jp-mod-minimal sxwl-link-button"
            data-testid="sxwl-back"
            onClick={props.onBack}
          >
            ← Jobs
          </button>
        )}
        <span className="sxwl-grow" />
        {props.onBack && ctx.openJobInTab && (
          <button
            className="jp-Button jp-mod-styled jp-mod-minimal sxwl-link-button"
            data-testid="sxwl-open-in-tab"
            title="Open this job in a tab of the main area"
            onClick={() => ctx.openJobInTab?.(props.jobId)}
          >
            Open in tab ⤢
          </button>
        )}
      </div>
      <div className="sxwl-title-row">
        <h3 className="sxwl-grow" title={job?.name}>
          {job?.name ?? props.jobId}
        </h3>
        {job && <StatusBadge status={job.status} />}
      </div>
    </>
  );

  if (!job) {
    return (
      <div
        className="sxwl-job-detail"
        data-testid="sxwl-job-detail"
        data-job-id={props.jobId}
      >
        {head}
        {error ? (
          <div className="sxwl-error-banner">{error}</div>
        ) : (
          <div className="sxwl-muted">Loading…</div>
        )}
      </div>
    );
  }

  const finished = isFinal(job.status);
  const isAdmin = ctx.info?.user.admin ?? false;
  const priorities = ctx.info?.priorities ?? ['low', 'normal', 'high'];

  return (
    <div
      className="sxwl-job-detail"
      data-testid="sxwl-job-detail"
      data-job-id={job.id}
      ref={root}
    >
      {head}
      {error && (
        <div className="sxwl-error-banner" data-testid="sxwl-error">
          {error}
        </div>
      )}
      <div className="sxwl-summary">
        <span className="sxwl-mono">{job.id}</span>
        <span>attempt {job.attempt}</span>
        <span>{formatDuration(job.duration_seconds)}</span>
        {job.exit_code !== null && <span>exit code {job.exit_code}</span>}
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
      {job.message && (
        <div className="sxwl-message" data-testid="sxwl-job-message">
          {job.message}
        </div>
      )}

      <div className="sxwl-actions">
        <button
          className="jp-Button jp-mod-styled"
          data-testid="sxwl-job-stop"
          disabled={busy || finished || job.status === 'Stopping'}
          onClick={() => void act(() => stopJob(job.id))}
        >
          Stop
        </button>
        <button
          className="jp-Button jp-mod-styled"
          data-testid="sxwl-job-restart"
          disabled={busy || !finished}
          title="Run again from the start with a fresh checkpoint directory"
          onClick={() => void act(() => restartJob(job.id, false))}
        >
          Restart
        </button>
        <button
          className="jp-Button jp-mod-styled"
          data-testid="sxwl-job-resume"
          disabled={busy || !finished}
          title="Run again keeping the checkpoint directory"
          onClick={() => void act(() => restartJob(job.id, true))}
        >
          Resume
        </button>
        <button
          className="jp-Button jp-mod-styled jp-mod-warn"
          data-testid="sxwl-job-delete"
          disabled={busy}
          onClick={() => void confirmDelete()}
        >
          Delete
        </button>
        {isAdmin && job.status === 'Queued' && (
          <HTMLSelect
            className="sxwl-select"
            data-testid="sxwl-job-priority"
            aria-label="Priority"
            value={job.priority}
            disabled={busy}
            onChange={e => {
              const value = e.target.value;
              void act(() => setJobPriority(job.id, value));
            }}
          >
            {priorities.map(p => (
              <option key={p} value={p}>
                priority {p}
              </option>
            ))}
          </HTMLSelect>
        )}
      </div>

      <Usage sample={usage} />

      <details className="sxwl-section" open={false}>
        <summary>Fields</summary>
        <JobFields job={job} />
      </details>

      <details className="sxwl-section" open>
        <summary>Log</summary>
        <LogViewer
          jobId={job.id}
          latestAttempt={job.attempt}
          running={!finished}
        />
      </details>

      <details className="sxwl-section" open>
        <summary>Artifacts</summary>
        <Artifacts jobId={job.id} items={artifacts} finished={finished} />
      </details>
    </div>
  );
}

function Usage(props: { sample: IUsageSample | null }): JSX.Element {
  const s = props.sample;
  return (
    <div className="sxwl-usage" data-testid="sxwl-job-usage">
      <span className="sxwl-muted">Hardware</span>
      {s === null ? (
        <span className="sxwl-muted">no samples yet</span>
      ) : (
        <>
          <span title="CPU">CPU {fmtNumber(s.cpu_percent, '%')}</span>
          <span title="Memory">
            memory{' '}
            {s.memory_mb === null
              ? '–'
              : formatBytes(s.memory_mb * 1024 * 1024)}
          </span>
          {s.accelerator_percent !== null && (
            <span title="Accelerator utilisation">
              accel {fmtNumber(s.accelerator_percent, '%')}
            </span>
          )}
          {s.accelerator_memory_mb !== null && (
            <span title="Accelerator memory">
              accel mem {formatBytes(s.accelerator_memory_mb * 1024 * 1024)}
            </span>
          )}
        </>
      )}
    </div>
  );
}

function fmtNumber(value: number | null, unit: string): string {
  return value === null ? '–' : `${value.toFixed(0)}${unit}`;
}

function JobFields(props: { job: IJob }): JSX.Element {
  const j = props.job;
  const env = Object.entries(j.env ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
  const rows: [string, React.ReactNode][] = [
    ['Owner', j.owner],
    ['Command', <code key="c">{j.command}</code>],
    ['Job type', j.job_type],
    ['Nodes × processes', `${j.nodes} × ${j.procs_per_node}`],
    ['Flavour', j.flavour],
    ['Accelerators per node', j.accelerators_per_node],
    ['CPU per node', j.cpu_per_node],
    ['Memory GB per node', j.memory_gb_per_node],
    ['Queue', j.queue],
    ['Priority', j.priority],
    ['Code package', j.code_package ?? '–'],
    ['Working dir', j.working_dir ?? '–'],
    ['Environment', env ? <pre key="e">{env}</pre> : '–'],
    ['Image', j.image ?? 'platform default'],
    [
      'Checkpoints',
      `${j.checkpoint_path ?? '–'}${
        j.checkpoint_capacity_gb !== null
          ? ` (${j.checkpoint_capacity_gb} GB)`
          : ''
      }`
    ],
    [
      'Model',
      `${j.model_path ?? '–'}${
        j.model_capacity_gb !== null ? ` (${j.model_capacity_gb} GB)` : ''
      }`
    ],
    [
      'Termination',
      j.max_run_minutes === null
        ? 'run to the end'
        : `after ${j.max_run_minutes} min`
    ],
    ['Created', formatTime(j.created_at)],
    ['Started', formatTime(j.started_at)],
    ['Finished', formatTime(j.finished_at)]
  ];
  return (
    <dl className="sxwl-fields" data-testid="sxwl-job-fields">
      {rows.map(([k, v]) => (
        <React.Fragment key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </React.Fragment>
      ))}
    </dl>
  );
}

function Artifacts(props: {
  jobId: string;
  items: IArtifact[] | null;
  finished: boolean;
}): JSX.Element {
  if (!props.finished) {
    return <div className="sxwl-muted">Listed when the job has finished.</div>;
  }
  if (props.items === null) {
    return <div className="sxwl-muted">Loading…</div>;
  }
  if (props.items.length === 0) {
    return (
      <div className="sxwl-muted" data-testid="sxwl-artifacts">
        No saved files.
      </div>
    );
  }
  return (
    <ul className="sxwl-artifacts" data-testid="sxwl-artifacts">
      {props.items.map(a => (
        <li key={a.path}>
          {/* `download` makes the browser save the file instead of opening it. */}
          <a
            href={artifactUrl(props.jobId, a.path)}
            download={a.path.split('/').pop()}
            data-testid="sxwl-artifact"
            data-path={a.path}
            target="_blank"
            rel="noopener noreferrer"
          >
            {a.path}
          </a>
          <span className="sxwl-muted">
            {formatBytes(a.size)} · {formatTime(a.modified)}
          </span>
        </li>
      ))}
    </ul>
  );
}
