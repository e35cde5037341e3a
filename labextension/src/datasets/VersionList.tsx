import * as React from 'react';

import {
  IDatasetVersion,
  accelerateVersion,
  datasetVersionDataUrl,
  dropAcceleration
} from '../api';
import { StateBadge } from '../badges';
import { errorText, formatBytes, formatTime, shortHash } from '../format';
import { ProgressBar } from '../progress';

const ACCEL_LABELS: Record<string, string> = {
  none: 'object storage',
  running: 'accelerating',
  ready: 'accelerated',
  failed: 'acceleration failed'
};

/**
 * A dataset's published versions, newest first: records, size, hash, notes,
 * a download link, and acceleration (a copy on fast storage for jobs).
 */
export function VersionList(props: {
  datasetId: string;
  versions: IDatasetVersion[];
  /** Shared and preset datasets cannot be accelerated by the user. */
  readOnly: boolean;
  /** Called after a change, so the detail reloads (and polls faster). */
  onChanged: () => void;
}): JSX.Element {
  const [busy, setBusy] = React.useState<number | null>(null);
  const [error, setError] = React.useState<string | null>(null);

  if (props.versions.length === 0) {
    return (
      <div className="sxwl-muted" data-testid="sxwl-versions">
        No versions yet: annotate, then Publish.
      </div>
    );
  }

  const act = async (
    n: number,
    action: () => Promise<unknown>
  ): Promise<void> => {
    setBusy(n);
    setError(null);
    try {
      await action();
      props.onChanged();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(null);
    }
  };

  return (
    <>
      {error && (
        <div className="sxwl-error-banner" data-testid="sxwl-version-error">
          {error}
        </div>
      )}
      <ul className="sxwl-list" data-testid="sxwl-versions">
        {props.versions.map(v => {
          const accel = v.acceleration;
          return (
            <li
              key={v.number}
              className="sxwl-version"
              data-testid="sxwl-version-row"
              data-version={v.number}
            >
              <div className="sxwl-row-head">
                <strong className="sxwl-row-name">version {v.number}</strong>
                <StateBadge
                  state={`accel-${accel.status}`}
                  label={ACCEL_LABELS[accel.status] ?? accel.status}
                  testid="sxwl-accel-state"
                  title={accel.message || undefined}
                />
              </div>
              <div className="sxwl-row-meta">
                <span>{v.records.toLocaleString()} records</span>
                <span>{formatBytes(v.size)}</span>
                <span className="sxwl-mono" title={v.sha256}>
                  {shortHash(v.sha256)}
                </span>
                <span>
                  {v.created_by} · {formatTime(v.created_at)}
                </span>
              </div>
              {v.notes && <div className="sxwl-message">{v.notes}</div>}
              {accel.status === 'running' && (
                <ProgressBar
                  label="Copying to fast storage"
                  done={accel.done}
                  total={accel.total}
                  format={formatBytes}
                  testid="sxwl-accel-progress"
                />
              )}
              {accel.status === 'failed' && accel.message && (
                <div className="sxwl-field-error">{accel.message}</div>
              )}
              <div className="sxwl-actions">
                <a
                  className="jp-Button jp-mod-styled sxwl-button-link"
                  href={datasetVersionDataUrl(props.datasetId, v.number)}
                  download={`v${v.number}.jsonl`}
                  data-testid="sxwl-version-download"
                >
                  Download JSONL
                </a>
                {!props.readOnly &&
                  (accel.status === 'none' || accel.status === 'failed') && (
                    <button
                      type="button"
                      className="jp-Button jp-mod-styled"
                      data-testid="sxwl-accelerate"
                      title="Copy this version to fast storage; jobs and mounts then read it from there"
                      disabled={busy !== null}
                      onClick={() =>
                        void act(v.number, () =>
                          accelerateVersion(props.datasetId, v.number)
                        )
                      }
                    >
                      Accelerate
                    </button>
                  )}
                {!props.readOnly && accel.status === 'ready' && (
                  <button
                    type="button"
                    className="jp-Button jp-mod-styled jp-mod-minimal"
                    data-testid="sxwl-drop-acceleration"
                    disabled={busy !== null}
                    onClick={() =>
                      void act(v.number, () =>
                        dropAcceleration(props.datasetId, v.number)
                      )
                    }
                  >
                    Drop fast copy
                  </button>
                )}
              </div>
            </li>
          );
        })}
      </ul>
    </>
  );
}
