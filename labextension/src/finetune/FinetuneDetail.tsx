import * as React from 'react';

import { ApiError, isFinal } from '../api';
import { BackHead } from '../BackHead';
import { SxwlContext } from '../context';
import { errorText, formatBytes, formatDuration, formatTime } from '../format';
import { isShown, usePolling } from '../hooks';
import { LogViewer } from '../jobs/LogViewer';
import { StatusBadge } from '../jobs/StatusBadge';
import { ProgressBar } from '../progress';
import {
  IDonePoint,
  IFinetune,
  ITrainPoint,
  deleteFinetune,
  getFinetune,
  getFinetuneMetrics,
  resumeFinetune,
  stopFinetune,
  tensorboardUrl
} from './api';
import { EvaluateSection } from './EvaluateSection';
import { ExportSection } from './ExportSection';
import { JobLink } from './JobLink';
import { ICurvePoint, LossCurve, axisNumber } from './LossCurve';
import { confirmed } from '../confirm';

/** Keep at most this many points of a curve; older ones are thinned out. */
const MAX_POINTS = 4000;

/** Every other point of the older half, when a curve grows too long. */
function thin(points: ICurvePoint[]): ICurvePoint[] {
  if (points.length <= MAX_POINTS) {
    return points;
  }
  const half = Math.floor(points.length / 2);
  return [
    ...points.slice(0, half).filter((_, i) => i % 2 === 0),
    ...points.slice(half)
  ];
}

/** Merge new points into a curve, ordered by step, one point per step. */
function mergePoints(old: ICurvePoint[], fresh: ICurvePoint[]): ICurvePoint[] {
  if (!fresh.length) {
    return old;
  }
  const byStep = new Map<number, ICurvePoint>();
  for (const p of old) {
    byStep.set(p.step, p);
  }
  for (const p of fresh) {
    byStep.set(p.step, p);
  }
  return thin([...byStep.values()].sort((a, b) => a.step - b.step));
}

export interface IFinetuneDetailProps {
  finetuneId: string;
  onBack: () => void;
  onDeleted: () => void;
}

/**
 * One fine-tune: status, progress (step of total, epoch, ETA, loss, learning
 * rate, tokens/s, memory), the live loss curve, stop / resume / delete,
 * evaluation, export and the job's log.
 */
export function FinetuneDetail(props: IFinetuneDetailProps): JSX.Element {
  const ctx = React.useContext(SxwlContext);
  const root = React.useRef<HTMLDivElement>(null);
  const [ft, setFt] = React.useState<IFinetune | null>(null);
  const [train, setTrain] = React.useState<ICurvePoint[]>([]);
  const [evals, setEvals] = React.useState<ICurvePoint[]>([]);
  const [progress, setProgress] = React.useState<ITrainPoint | null>(null);
  const [done, setDone] = React.useState<IDonePoint | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);
  const [gone, setGone] = React.useState(false);
  // The highest step read so far: the next read asks for what came after it.
  const after = React.useRef(-1);
  // Job and attempt of the run shown; undefined until the first answer.
  const runKey = React.useRef<string | undefined>(undefined);

  const resetCurve = (): void => {
    after.current = -1;
    setTrain([]);
    setEvals([]);
    setDone(null);
    setProgress(null);
  };

  const readMetrics = async (id: string): Promise<void> => {
    const m = await getFinetuneMetrics(id, after.current);
    const trainPoints: ICurvePoint[] = [];
    const evalPoints: ICurvePoint[] = [];
    for (const p of m.points) {
      after.current = Math.max(after.current, p.step);
      if (p.kind === 'train' && Number.isFinite(p.loss)) {
        trainPoints.push({ step: p.step, value: p.loss });
      } else if (p.kind === 'eval' && Number.isFinite(p.eval_loss)) {
        evalPoints.push({ step: p.step, value: p.eval_loss });
      } else if (p.kind === 'done') {
        setDone(p);
      }
    }
    setTrain(t => mergePoints(t, trainPoints));
    setEvals(t => mergePoints(t, evalPoints));
    if (m.progress) {
      setProgress(m.progress);
    }
  };

  const refresh = async (): Promise<void> => {
    if (ft !== null && !isShown(root.current)) {
      return;
    }
    let current: IFinetune;
    try {
      current = await getFinetune(props.finetuneId);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        setGone(true);
      }
      setError(errorText(e));
      return;
    }
    // A resumed (or restarted) run starts again: read its curve afresh, so
    // steps it repeats after its checkpoint replace the earlier points.
    const run = `${current.job_id}:${current.attempt ?? 1}`;
    if (runKey.current !== undefined && runKey.current !== run) {
      resetCurve();
    }
    runKey.current = run;
    setFt(current);
    setError(null);
    if (current.progress) {
      setProgress(p =>
        p && p.step >= (current.progress?.step ?? 0) ? p : current.progress
      );
    }
    try {
      await readMetrics(current.id);
    } catch {
      // No metrics before the job starts; the next tick asks again.
    }
  };

  const running = ft === null || !isFinal(ft.status);
  // Evaluations and exports run after training: keep polling while one does.
  const working =
    ft !== null &&
    (ft.evaluations.some(e => e.status === 'running') ||
      ft.exports.some(e => e.status === 'running'));
  usePolling(
    refresh,
    gone
      ? null
      : (running || working ? 1 : 5) * ctx.settings.refreshSeconds * 1000
  );

  React.useEffect(() => {
    resetCurve();
    runKey.current = undefined;
    setFt(null);
    setGone(false);
  }, [props.finetuneId]);

  const act = async (action: () => Promise<IFinetune>): Promise<void> => {
    setBusy(true);
    try {
      setFt(await action());
      setError(null);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  const confirmDelete = async (): Promise<void> => {
    if (!ft) {
      return;
    }
    if (
      !(await confirmed(
        'Delete fine-tune',
        `Delete ${ft.name} (${ft.id})? ${
          isFinal(ft.status) ? '' : 'It is stopped first. '
        }Its checkpoints, metrics and evaluations go; exported model versions stay.`
      ))
    ) {
      return;
    }
    setBusy(true);
    try {
      await deleteFinetune(ft.id);
      props.onDeleted();
    } catch (e) {
      setError(errorText(e));
      setBusy(false);
    }
  };

  const head = (
    <>
      <BackHead label="Fine-tunes" onBack={props.onBack} />
      <div className="sxwl-title-row">
        <h3 className="sxwl-grow" title={ft?.name}>
          {ft?.name ?? props.finetuneId}
        </h3>
        {ft && <StatusBadge status={ft.status} />}
      </div>
    </>
  );

  if (!ft) {
    return (
      <div
        className="sxwl-ft-detail"
        data-testid="sxwl-ft-detail"
        data-ft-id={props.finetuneId}
        ref={root}
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

  const finished = isFinal(ft.status);
  const p = progress;
  const totalSteps = p?.total_steps ?? done?.total_steps ?? null;
  const step = done?.step ?? p?.step ?? 0;
  const resumable = finished && ft.status !== 'Succeeded' && ft.job_id !== null;

  return (
    <div
      className="sxwl-ft-detail"
      data-testid="sxwl-ft-detail"
      data-ft-id={ft.id}
      data-status={ft.status}
      ref={root}
    >
      {head}
      {error && (
        <div className="sxwl-error-banner" data-testid="sxwl-error">
          {error}
        </div>
      )}
      <div className="sxwl-summary">
        <span className="sxwl-mono">{ft.id}</span>
        <span className="sxwl-badge" data-testid="sxwl-ft-method">
          {ft.method}
        </span>
        <span title="Base model">
          {ft.model.name} v{ft.model.version}
        </span>
        <span title="Datasets">
          {ft.datasets
            .map(d => (d.version ? `${d.name} v${d.version}` : d.name))
            .join(', ')}
        </span>
      </div>
      {ft.status === 'Queued' && ft.wait_reason && (
        <div className="sxwl-row-wait" data-testid="sxwl-ft-wait">
          Waiting: {ft.wait_reason}
        </div>
      )}
      {ft.message && (
        <div className="sxwl-message" data-testid="sxwl-ft-message">
          {ft.message}
        </div>
      )}

      <div className="sxwl-ft-progress" data-testid="sxwl-ft-progress">
        <ProgressBar
          label="Step"
          done={step}
          total={totalSteps ?? 0}
          testid="sxwl-ft-steps"
          failed={ft.status === 'Failed'}
        />
        <dl className="sxwl-ft-stats" data-testid="sxwl-ft-stats">
          <Stat
            label="Step"
            testid="sxwl-ft-step"
            value={totalSteps ? `${step} of ${totalSteps}` : step || '–'}
          />
          <Stat
            label="Epoch"
            value={p ? p.epoch.toFixed(2) : '–'}
            testid="sxwl-ft-epoch"
          />
          <Stat
            label="ETA"
            testid="sxwl-ft-eta"
            value={finished ? '–' : formatDuration(p?.eta_seconds)}
          />
          <Stat
            label="Loss"
            value={p ? axisNumber(p.loss) : '–'}
            testid="sxwl-ft-loss"
          />
          <Stat
            label="Learning rate"
            value={p ? axisNumber(p.learning_rate) : '–'}
            testid="sxwl-ft-lr"
          />
          <Stat
            label="Tokens/s"
            testid="sxwl-ft-tps"
            value={
              p?.tokens_per_second !== null &&
              p?.tokens_per_second !== undefined
                ? Math.round(p.tokens_per_second).toLocaleString()
                : '–'
            }
          />
          <Stat
            label="Memory"
            testid="sxwl-ft-memory"
            value={
              p?.memory_mb !== null && p?.memory_mb !== undefined
                ? formatBytes(p.memory_mb * 1024 * 1024)
                : '–'
            }
          />
          <Stat
            label="Elapsed"
            value={formatDuration(p?.elapsed_seconds ?? null)}
          />
        </dl>
        <LossCurve train={train} evals={evals} totalSteps={totalSteps} />
        {done && (
          <div className="sxwl-muted" data-testid="sxwl-ft-done">
            Finished {done.step} steps
            {done.train_loss !== null && done.train_loss !== undefined
              ? `, mean loss ${axisNumber(done.train_loss)}`
              : ''}
            {done.train_runtime
              ? ` in ${formatDuration(done.train_runtime)}`
              : ''}
            {done.train_tokens_per_second
              ? `, ${Math.round(done.train_tokens_per_second).toLocaleString()} tokens/s`
              : ''}
            {done.peak_memory_mb
              ? `, peak memory ${formatBytes(done.peak_memory_mb * 1024 * 1024)}`
              : ''}
            .
          </div>
        )}
      </div>

      <div className="sxwl-actions">
        <button
          className="jp-Button jp-mod-styled"
          data-testid="sxwl-ft-stop"
          disabled={busy || finished || ft.status === 'Stopping'}
          onClick={() => void act(() => stopFinetune(ft.id))}
        >
          Stop
        </button>
        <button
          className="jp-Button jp-mod-styled"
          data-testid="sxwl-ft-resume"
          disabled={busy || !resumable}
          title="Go on from the last checkpoint; ends at the same step count"
          onClick={() => void act(() => resumeFinetune(ft.id))}
        >
          Resume
        </button>
        <button
          className="jp-Button jp-mod-styled jp-mod-warn"
          data-testid="sxwl-ft-delete"
          disabled={busy}
          onClick={() => void confirmDelete()}
        >
          Delete
        </button>
        {train.length > 0 && (
          <a
            className="sxwl-small-link sxwl-ft-link"
            href={tensorboardUrl(ft.id)}
            download={`${ft.name}-tensorboard.tar`}
            data-testid="sxwl-ft-tensorboard"
            title="The TensorBoard event files, as a .tar"
          >
            TensorBoard files
          </a>
        )}
      </div>

      <EvaluateSection ft={ft} onChange={setFt} />
      <ExportSection ft={ft} onChange={setFt} />

      <details className="sxwl-section">
        <summary>Parameters</summary>
        <dl className="sxwl-fields" data-testid="sxwl-ft-params">
          {Object.entries(ft.params).map(([k, v]) => (
            <React.Fragment key={k}>
              <dt>{k}</dt>
              <dd>{v === null ? '–' : String(v)}</dd>
            </React.Fragment>
          ))}
          <dt>resources</dt>
          <dd>
            {Object.entries(ft.resources)
              .map(([k, v]) => `${k}=${v ?? '–'}`)
              .join(', ')}
          </dd>
          <dt>created</dt>
          <dd>{formatTime(ft.created_at)}</dd>
          <dt>started</dt>
          <dd>{formatTime(ft.started_at)}</dd>
          <dt>finished</dt>
          <dd>{formatTime(ft.finished_at)}</dd>
        </dl>
      </details>

      <details className="sxwl-section" open>
        <summary>
          Log
          <JobLink jobId={ft.job_id} testid="sxwl-ft-open-job" />
        </summary>
        {ft.job_id ? (
          <LogViewer
            jobId={ft.job_id}
            latestAttempt={ft.attempt ?? 1}
            running={!finished}
          />
        ) : (
          <div className="sxwl-muted">No job yet.</div>
        )}
      </details>
    </div>
  );
}

function Stat(props: {
  label: string;
  value: React.ReactNode;
  testid?: string;
}): JSX.Element {
  return (
    <div className="sxwl-ft-stat">
      <dt>{props.label}</dt>
      <dd data-testid={props.testid}>{props.value}</dd>
    </div>
  );
}
