import { Dialog, showDialog } from '@jupyterlab/apputils';
import * as React from 'react';

import {
  ApiError,
  IDataset,
  IDatasetImport,
  IOperation,
  deleteDataset,
  getDataset,
  listDatasetShares,
  listImports,
  publishDataset,
  removeSharedDataset,
  shareDataset
} from '../api';
import { AccessBadge } from '../badges';
import { SxwlContext } from '../context';
import { errorText, formatBytes, formatTime } from '../format';
import { isShown, usePolling } from '../hooks';
import { MountControl } from '../MountControl';
import { useOperation } from '../operations';
import { ProgressBar } from '../progress';
import { ShareSection } from '../sharing';
import { annotationLabel } from './annotation';
import { ImportForm, ImportList } from './ImportSection';
import { VersionList } from './VersionList';

export interface IDatasetDetailProps {
  datasetId: string;
  onBack: () => void;
  onDeleted: () => void;
  onAnnotate: () => void;
}

/** The action whose form is open under the buttons. */
type Panel = 'import' | 'publish' | 'share' | 'mount' | null;

/**
 * One dataset: its working copy (records, invalid, reviewed), imports with
 * progress and problems, published versions with acceleration, files, and
 * the actions Import, Annotate, Publish, Share, Mount and Delete.
 */
export function DatasetDetail(props: IDatasetDetailProps): JSX.Element {
  const ctx = React.useContext(SxwlContext);
  const root = React.useRef<HTMLDivElement>(null);
  const [ds, setDs] = React.useState<IDataset | null>(null);
  const [imports, setImports] = React.useState<IDatasetImport[] | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [gone, setGone] = React.useState(false);
  const [panel, setPanel] = React.useState<Panel>(null);
  const [busy, setBusy] = React.useState(false);
  const [started, setStarted] = React.useState<IOperation | null>(null);
  const publishOp = useOperation(started);

  const refresh = React.useCallback(
    async (force = false): Promise<void> => {
      if (!force && ds !== null && !isShown(root.current)) {
        return;
      }
      try {
        const [fresh, imps] = await Promise.all([
          getDataset(props.datasetId),
          listImports(props.datasetId)
        ]);
        setDs(fresh);
        setImports(imps);
        setError(null);
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) {
          setGone(true);
        }
        setError(errorText(e));
      }
    },
    [props.datasetId, ds]
  );

  const active =
    ds === null ||
    ds.importing.length > 0 ||
    ds.publishing !== null ||
    (ds.versions ?? []).some(v => v.acceleration.status === 'running') ||
    publishOp?.status === 'running';
  usePolling(
    () => refresh(),
    gone ? null : (active ? 1 : 5) * ctx.settings.refreshSeconds * 1000
  );

  // A publish that ended changes the versions: show them at once.
  const publishStatus = publishOp?.status;
  React.useEffect(() => {
    if (publishStatus && publishStatus !== 'running') {
      void refresh(true);
    }
  }, [publishStatus]);

  const toggle = (p: Panel): void =>
    setPanel(current => (current === p ? null : p));

  const confirmDelete = async (): Promise<void> => {
    if (!ds) {
      return;
    }
    const own = ds.access === 'owner' || ds.access === 'admin';
    const result = await showDialog({
      title: own ? 'Delete dataset' : 'Remove shared dataset',
      body: own
        ? `Delete ${ds.name} with its ${ds.draft.records.toLocaleString()} records and ` +
          `${(ds.versions ?? []).length} published versions? Jobs that mount it lose it.`
        : `Remove ${ds.name} from your datasets? Its owner keeps it; you need a new ` +
          'token to add it again.',
      buttons: [
        Dialog.cancelButton(),
        Dialog.warnButton({ label: own ? 'Delete' : 'Remove' })
      ]
    });
    if (!result.button.accept) {
      return;
    }
    setBusy(true);
    try {
      if (own) {
        await deleteDataset(ds.id);
      } else {
        await removeSharedDataset(ds.id);
      }
      props.onDeleted();
    } catch (e) {
      setError(errorText(e));
      setBusy(false);
    }
  };

  const head = (
    <div className="sxwl-view-head">
      <button
        className="jp-Button jp-mod-styled jp-mod-minimal sxwl-link-button"
        data-testid="sxwl-back"
        onClick={props.onBack}
      >
        ← Datasets
      </button>
    </div>
  );

  if (!ds) {
    return (
      <div className="sxwl-dataset-detail" data-testid="sxwl-dataset-detail">
        {head}
        {error ? (
          <div className="sxwl-error-banner">{error}</div>
        ) : (
          <div className="sxwl-muted">Loading…</div>
        )}
      </div>
    );
  }

  const writable = !ds.read_only;
  const versions = ds.versions ?? [];
  const running = ds.importing.length > 0 || ds.publishing !== null;
  return (
    <div
      className="sxwl-dataset-detail"
      data-testid="sxwl-dataset-detail"
      data-dataset-id={ds.id}
      ref={root}
    >
      {head}
      <div className="sxwl-title-row">
        <h3 className="sxwl-grow" title={ds.name}>
          {ds.name}
        </h3>
        <AccessBadge access={ds.access} />
      </div>
      <div className="sxwl-summary">
        <span>{ds.data_type}</span>
        <span>{annotationLabel(ds.annotation_type)}</span>
        {ds.access !== 'owner' && <span>owner {ds.owner}</span>}
        <span>
          {ds.latest_version ? `latest v${ds.latest_version}` : 'not published'}
        </span>
      </div>
      {ds.description && <div className="sxwl-message">{ds.description}</div>}
      <div className="sxwl-stats" data-testid="sxwl-ds-stats">
        <span data-testid="sxwl-ds-stat-records">
          <strong>{ds.draft.records.toLocaleString()}</strong> records
        </span>
        <span
          data-testid="sxwl-ds-stat-invalid"
          className={ds.draft.invalid ? 'sxwl-invalid-count' : undefined}
        >
          <strong>{ds.draft.invalid.toLocaleString()}</strong> invalid
        </span>
        <span>
          <strong>{ds.draft.reviewed.toLocaleString()}</strong> reviewed
        </span>
        <span>
          <strong>{ds.draft.edited.toLocaleString()}</strong> edited
        </span>
      </div>
      {error && (
        <div className="sxwl-error-banner" data-testid="sxwl-error">
          {error}
        </div>
      )}

      <div className="sxwl-actions">
        {writable && (
          <button
            className={`jp-Button jp-mod-styled${panel === 'import' ? ' sxwl-pressed' : ''}`}
            data-testid="sxwl-ds-import"
            aria-expanded={panel === 'import'}
            onClick={() => toggle('import')}
          >
            Import
          </button>
        )}
        <button
          className="jp-Button jp-mod-styled"
          data-testid="sxwl-ds-annotate"
          disabled={ds.draft.records === 0 && !writable}
          title={writable ? 'Check and fix records one by one' : 'View records'}
          onClick={props.onAnnotate}
        >
          {writable ? 'Annotate' : 'Records'}
        </button>
        {writable && (
          <button
            className={`jp-Button jp-mod-styled${panel === 'publish' ? ' sxwl-pressed' : ''}`}
            data-testid="sxwl-ds-publish"
            aria-expanded={panel === 'publish'}
            onClick={() => toggle('publish')}
          >
            Publish
          </button>
        )}
        {writable && !ds.preset && (
          <button
            className={`jp-Button jp-mod-styled${panel === 'share' ? ' sxwl-pressed' : ''}`}
            data-testid="sxwl-ds-share"
            aria-expanded={panel === 'share'}
            onClick={() => toggle('share')}
          >
            Share
          </button>
        )}
        <button
          className={`jp-Button jp-mod-styled${panel === 'mount' ? ' sxwl-pressed' : ''}`}
          data-testid="sxwl-ds-mount"
          aria-expanded={panel === 'mount'}
          onClick={() => toggle('mount')}
        >
          Mount
        </button>
        {(writable || ds.access === 'shared') && (
          <button
            className="jp-Button jp-mod-styled jp-mod-warn"
            data-testid="sxwl-ds-delete"
            disabled={busy || running}
            title={
              running ? 'Wait for the import or publish to end' : undefined
            }
            onClick={() => void confirmDelete()}
          >
            {writable ? 'Delete' : 'Remove'}
          </button>
        )}
      </div>

      {panel === 'import' && (
        <ImportForm datasetId={ds.id} onStarted={() => void refresh(true)} />
      )}
      {panel === 'publish' && (
        <PublishForm
          dataset={ds}
          op={publishOp}
          onStarted={setStarted}
          onAnnotate={props.onAnnotate}
        />
      )}
      {panel !== 'publish' && publishOp && <PublishStatus op={publishOp} />}
      {panel === 'share' && (
        <ShareSection
          key={ds.id}
          kind="dataset"
          create={days => shareDataset(ds.id, days)}
          list={() => listDatasetShares(ds.id)}
        />
      )}
      {panel === 'mount' && (
        <MountControl
          reference={ds.id}
          kind="dataset"
          name={ds.name}
          versions={versions.map(v => v.number)}
        />
      )}

      {ds.importing.length === 0 && ds.publishing && !publishOp && (
        <ProgressBar
          label="Publishing"
          done={ds.publishing.done}
          total={ds.publishing.total}
          testid="sxwl-ds-publishing"
        />
      )}

      <details className="sxwl-section" open>
        <summary>Versions ({versions.length})</summary>
        <VersionList
          datasetId={ds.id}
          versions={versions}
          readOnly={!writable}
          onChanged={() => void refresh(true)}
        />
      </details>

      {writable && (
        <details className="sxwl-section" open>
          <summary>Imports ({imports?.length ?? '…'})</summary>
          <ImportList imports={imports} />
        </details>
      )}

      <details className="sxwl-section">
        <summary>Files ({(ds.files ?? []).length})</summary>
        {(ds.files ?? []).length === 0 ? (
          <div className="sxwl-muted">No files imported.</div>
        ) : (
          <ul className="sxwl-list" data-testid="sxwl-ds-files">
            {(ds.files ?? []).map(f => (
              <li key={f.id}>
                <span className="sxwl-grow sxwl-mono" title={f.sha256}>
                  {f.name}
                </span>
                <span className="sxwl-muted">
                  {f.format} · {f.records.toLocaleString()} records
                  {f.invalid
                    ? ` · ${f.invalid.toLocaleString()} invalid`
                    : ''}{' '}
                  · {formatBytes(f.size)} · {formatTime(f.created_at)}
                </span>
              </li>
            ))}
          </ul>
        )}
      </details>
    </div>
  );
}

/** Publish the working copy as a new version, with optional notes. */
function PublishForm(props: {
  dataset: IDataset;
  op: IOperation | null;
  onStarted: (op: IOperation) => void;
  onAnnotate: () => void;
}): JSX.Element {
  const ds = props.dataset;
  const [notes, setNotes] = React.useState('');
  const [error, setError] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);
  const running = props.op?.status === 'running' || ds.publishing !== null;

  const publish = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      props.onStarted(await publishDataset(ds.id, notes.trim()));
      setNotes('');
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="sxwl-subpanel" data-testid="sxwl-publish-form">
      <div className="sxwl-hint">
        Publishing makes an immutable version of the{' '}
        {ds.draft.records.toLocaleString()} records that jobs and mounts can
        use. Every record must be valid.
      </div>
      {ds.draft.invalid > 0 && (
        <div className="sxwl-message sxwl-invalid-count">
          {ds.draft.invalid.toLocaleString()} record
          {ds.draft.invalid === 1 ? ' is' : 's are'} invalid: fix or delete{' '}
          {ds.draft.invalid === 1 ? 'it' : 'them'} in{' '}
          <button
            type="button"
            className="sxwl-small-link"
            onClick={props.onAnnotate}
          >
            annotation
          </button>{' '}
          first.
        </div>
      )}
      <div className="sxwl-field">
        <label htmlFor="sxwl-publish-notes">Notes (optional)</label>
        <textarea
          id="sxwl-publish-notes"
          className="jp-mod-styled"
          data-testid="sxwl-publish-notes"
          rows={2}
          value={notes}
          placeholder="What changed in this version"
          onChange={e => setNotes(e.target.value)}
        />
      </div>
      <div className="sxwl-form-actions">
        <button
          type="button"
          className="jp-Button jp-mod-styled jp-mod-accept"
          data-testid="sxwl-publish-button"
          disabled={busy || running}
          onClick={() => void publish()}
        >
          {running ? 'Publishing…' : 'Publish'}
        </button>
      </div>
      {error && (
        <div
          className="sxwl-error-banner"
          data-testid="sxwl-publish-error"
          role="alert"
        >
          {error}
        </div>
      )}
      {props.op && <PublishStatus op={props.op} />}
    </div>
  );
}

/** A publish's progress, then its outcome: the new version or "unchanged". */
function PublishStatus(props: { op: IOperation }): JSX.Element {
  const op = props.op;
  if (op.status === 'running') {
    return (
      <ProgressBar
        label="Publishing"
        done={op.done}
        total={op.total}
        testid="sxwl-publish-progress"
      />
    );
  }
  if (op.status === 'failed') {
    return (
      <div
        className="sxwl-error-banner"
        data-testid="sxwl-publish-result"
        data-status="failed"
      >
        Publishing failed: {op.message || 'no reason given'}
      </div>
    );
  }
  const version = op.result.version;
  return (
    <div
      className="sxwl-success"
      data-testid="sxwl-publish-result"
      data-status="succeeded"
      data-version={version ?? ''}
      data-unchanged={op.result.unchanged ? 'true' : 'false'}
    >
      {op.result.unchanged
        ? `Unchanged: the records are the same as version ${version}, so no new version was made.`
        : `Published version ${version}.`}
    </div>
  );
}
