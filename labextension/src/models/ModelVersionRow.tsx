import * as React from 'react';

import {
  IExportTarget,
  IModel,
  IModelFile,
  IModelVersion,
  IOperation,
  deleteModelVersion,
  exportModelVersion,
  listModelFiles,
  modelArchiveUrl,
  modelFileUrl
} from '../api';
import { StateBadge } from '../badges';
import { Field } from '../Field';
import { errorText, formatBytes, formatTime, shortHash } from '../format';
import { formErrors } from '../formErrors';
import { useOperation } from '../operations';
import { ProgressBar } from '../progress';
import { confirmed } from '../confirm';

/** Words for where a version came from, out of its `source_detail`. */
function describeSource(v: IModelVersion): string {
  const d = v.source_detail ?? {};
  const first = ['filename', 'url', 'job_id', 'path', 'repo_id', 'from_model']
    .map(k => d[k])
    .find(x => typeof x === 'string' && x);
  return first ? `${v.source}: ${String(first)}` : v.source;
}

/**
 * One version of a model: status with import progress, then (opened) its
 * files with download links, the whole version as a .tar, export to S3 and
 * deletion.
 */
export function ModelVersionRow(props: {
  model: IModel;
  version: IModelVersion;
  readOnly: boolean;
  onChanged: () => void;
}): JSX.Element {
  const v = props.version;
  const [open, setOpen] = React.useState(false);
  const [files, setFiles] = React.useState<IModelFile[] | null>(null);
  const [exportOpen, setExportOpen] = React.useState(false);
  const [error, setError] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);
  const ready = v.status === 'ready';

  React.useEffect(() => {
    if (!open || !ready || files !== null) {
      return;
    }
    listModelFiles(props.model.id, v.number)
      .then(setFiles)
      .catch(e => setError(errorText(e)));
  }, [open, ready, files]);

  const remove = async (): Promise<void> => {
    if (
      !(await confirmed(
        'Delete version',
        `Delete version ${v.number} of ${props.model.name} and its files?`
      ))
    ) {
      return;
    }
    setBusy(true);
    try {
      await deleteModelVersion(props.model.id, v.number);
      props.onChanged();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <li
      className="sxwl-version"
      data-testid="sxwl-model-version"
      data-version={v.number}
      data-status={v.status}
    >
      <div className="sxwl-row-head">
        <button
          type="button"
          className="sxwl-disclosure"
          aria-expanded={open}
          data-testid="sxwl-model-version-toggle"
          onClick={() => setOpen(x => !x)}
        >
          {open ? '▾' : '▸'} version {v.number}
        </button>
        <span className="sxwl-grow" />
        <StateBadge state={v.status} testid="sxwl-model-version-status" />
      </div>
      {v.status === 'importing' && (
        <ProgressBar
          label={v.phase || 'importing'}
          done={v.bytes_done}
          total={v.bytes_total}
          format={formatBytes}
          testid="sxwl-model-version-progress"
        />
      )}
      <div className="sxwl-row-meta">
        {v.size !== null && <span>{formatBytes(v.size)}</span>}
        {v.files !== null && (
          <span>
            {v.files} file{v.files === 1 ? '' : 's'}
          </span>
        )}
        {v.sha256 && (
          <span className="sxwl-mono" title={v.sha256}>
            {shortHash(v.sha256)}
          </span>
        )}
        <span title="Source">{describeSource(v)}</span>
        <span>
          {v.created_by} · {formatTime(v.created_at)}
        </span>
      </div>
      {v.notes && <div className="sxwl-message">{v.notes}</div>}
      {v.message && (
        <div
          className={
            v.status === 'failed' ? 'sxwl-error-banner' : 'sxwl-message'
          }
          data-testid="sxwl-model-version-message"
        >
          {v.message}
        </div>
      )}
      {error && <div className="sxwl-error-banner">{error}</div>}
      {open && (
        <div className="sxwl-subpanel">
          {ready && (
            <>
              <div className="sxwl-actions">
                <a
                  className="jp-Button jp-mod-styled sxwl-button-link"
                  href={modelArchiveUrl(props.model.id, v.number)}
                  download={`${props.model.name}-v${v.number}.tar`}
                  data-testid="sxwl-model-archive"
                >
                  Download .tar
                </a>
                <button
                  type="button"
                  className={`jp-Button jp-mod-styled${exportOpen ? ' sxwl-pressed' : ''}`}
                  data-testid="sxwl-model-export"
                  aria-expanded={exportOpen}
                  onClick={() => setExportOpen(x => !x)}
                >
                  Export to S3
                </button>
                {!props.readOnly && (
                  <button
                    type="button"
                    className="jp-Button jp-mod-styled jp-mod-warn"
                    data-testid="sxwl-model-version-delete"
                    disabled={busy}
                    onClick={() => void remove()}
                  >
                    Delete version
                  </button>
                )}
              </div>
              {exportOpen && (
                <ExportForm modelId={props.model.id} version={v.number} />
              )}
              <ModelFiles
                modelId={props.model.id}
                version={v.number}
                files={files}
              />
            </>
          )}
          {!ready && !props.readOnly && v.status === 'failed' && (
            <div className="sxwl-actions">
              <button
                type="button"
                className="jp-Button jp-mod-styled jp-mod-warn"
                data-testid="sxwl-model-version-delete"
                disabled={busy}
                onClick={() => void remove()}
              >
                Delete version
              </button>
            </div>
          )}
          {v.status === 'importing' && (
            <div className="sxwl-muted">Files are listed once it is ready.</div>
          )}
        </div>
      )}
    </li>
  );
}

function ModelFiles(props: {
  modelId: string;
  version: number;
  files: IModelFile[] | null;
}): JSX.Element {
  if (props.files === null) {
    return <div className="sxwl-muted">Loading files…</div>;
  }
  if (props.files.length === 0) {
    return <div className="sxwl-muted">No files.</div>;
  }
  return (
    <ul className="sxwl-artifacts" data-testid="sxwl-model-files">
      {props.files.map(f => (
        <li key={f.path}>
          <a
            href={modelFileUrl(props.modelId, props.version, f.path)}
            download={f.path.split('/').pop()}
            data-testid="sxwl-model-file"
            data-path={f.path}
            title={f.sha256}
          >
            {f.path}
          </a>
          <span className="sxwl-muted">{formatBytes(f.size)}</span>
        </li>
      ))}
    </ul>
  );
}

const EXPORT_INPUTS: (keyof IExportTarget)[] = [
  'bucket',
  'prefix',
  'endpoint_url',
  'region',
  'access_key_id',
  'secret_access_key',
  'path_style'
];

/** Copy a version to an S3 bucket; the credentials are used once, never stored. */
function ExportForm(props: { modelId: string; version: number }): JSX.Element {
  const [form, setForm] = React.useState<Record<string, string>>({});
  const [pathStyle, setPathStyle] = React.useState(false);
  const [errors, setErrors] = React.useState<Record<string, string>>({});
  const [general, setGeneral] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);
  const [started, setStarted] = React.useState<IOperation | null>(null);
  const op = useOperation(started);

  const submit = async (e: React.FormEvent): Promise<void> => {
    e.preventDefault();
    if (!(form.bucket ?? '').trim()) {
      setErrors({ bucket: 'enter the bucket to copy the model into' });
      return;
    }
    const target: IExportTarget = { bucket: form.bucket.trim() };
    for (const key of EXPORT_INPUTS) {
      const value = (form[key] ?? '').trim();
      if (key !== 'bucket' && key !== 'path_style' && value) {
        (target as unknown as Record<string, string>)[key] = value;
      }
    }
    if (pathStyle) {
      target.path_style = true;
    }
    setBusy(true);
    setErrors({});
    setGeneral(null);
    try {
      setStarted(
        await exportModelVersion(props.modelId, props.version, target)
      );
    } catch (err) {
      const mapped = formErrors(err, EXPORT_INPUTS);
      setErrors(mapped.fields);
      setGeneral(mapped.general);
    } finally {
      setBusy(false);
    }
  };

  const id = `sxwl-export-${props.version}`;
  const text = (
    name: keyof IExportTarget,
    label: string,
    placeholder = '',
    type = 'text'
  ): JSX.Element => (
    <Field name={name} label={label} error={errors[name]} idPrefix={id}>
      <input
        type={type}
        id={`${id}-${name}`}
        className="jp-mod-styled"
        data-testid={`sxwl-export-${name}`}
        placeholder={placeholder}
        autoComplete="off"
        value={form[name] ?? ''}
        onChange={e => setForm(f => ({ ...f, [name]: e.target.value }))}
      />
    </Field>
  );
  const running = op?.status === 'running';
  return (
    <form
      className="sxwl-form sxwl-subpanel"
      data-testid="sxwl-export-form"
      onSubmit={e => void submit(e)}
      noValidate
    >
      {general && (
        <div className="sxwl-error-banner" role="alert">
          {general}
        </div>
      )}
      {text('bucket', 'Bucket', 'my-models')}
      {text('prefix', 'Prefix (optional)', 'llama/v1/')}
      {text(
        'endpoint_url',
        'Endpoint URL (optional)',
        'https://s3.example.org'
      )}
      {text('region', 'Region (optional)')}
      <div className="sxwl-pair">
        {text('access_key_id', 'Access key id')}
        {text('secret_access_key', 'Secret access key', '', 'password')}
      </div>
      <label className="sxwl-check">
        <input
          type="checkbox"
          checked={pathStyle}
          onChange={e => setPathStyle(e.target.checked)}
        />
        Path-style addressing (most S3-compatible stores)
      </label>
      <div className="sxwl-form-actions">
        <button
          type="submit"
          className="jp-Button jp-mod-styled jp-mod-accept"
          data-testid="sxwl-export-submit"
          disabled={busy || running}
        >
          {running ? 'Exporting…' : 'Export'}
        </button>
      </div>
      {op && op.status === 'running' && (
        <ProgressBar
          label="Exporting"
          done={op.done}
          total={op.total}
          format={formatBytes}
          testid="sxwl-export-progress"
        />
      )}
      {op && op.status === 'succeeded' && (
        <div className="sxwl-success" data-testid="sxwl-export-result">
          Exported{op.message ? `: ${op.message}` : '.'}
        </div>
      )}
      {op && op.status === 'failed' && (
        <div className="sxwl-error-banner" data-testid="sxwl-export-result">
          Export failed: {op.message || 'no reason given'}
        </div>
      )}
    </form>
  );
}
