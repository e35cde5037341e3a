import { HTMLSelect } from '@jupyterlab/ui-components';
import * as React from 'react';

import {
  IJob,
  IModel,
  IModelVersion,
  IUpload,
  ModelSource,
  importModelVersion,
  listJobs
} from '../api';
import { formErrors } from '../formErrors';
import { UploadField } from '../UploadField';

type Mode = 'upload' | 'url' | 'job' | 'preset';

/**
 * Import a new version of a model: a local file or archive (uploaded in
 * chunks, resumable), a download URL, the saved model of a finished job, or,
 * for admins on a preset model, its public source.
 */
export function ModelImportForm(props: {
  model: IModel;
  isAdmin: boolean;
  onStarted: (version: IModelVersion) => void;
}): JSX.Element {
  const [mode, setMode] = React.useState<Mode>('upload');
  const [url, setUrl] = React.useState('');
  const [jobId, setJobId] = React.useState('');
  const [jobs, setJobs] = React.useState<IJob[] | null>(null);
  const [notes, setNotes] = React.useState('');
  const [errors, setErrors] = React.useState<Record<string, string>>({});
  const [general, setGeneral] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);

  // Finished jobs fill the job choice; typing an id works too.
  React.useEffect(() => {
    if (mode !== 'job' || jobs !== null) {
      return;
    }
    listJobs({ status: 'Succeeded' })
      .then(answer => setJobs(answer.items))
      .catch(() => setJobs([]));
  }, [mode, jobs]);

  const start = async (source: ModelSource): Promise<void> => {
    setBusy(true);
    setErrors({});
    setGeneral(null);
    try {
      props.onStarted(
        await importModelVersion(props.model.id, source, notes.trim())
      );
      setNotes('');
      setUrl('');
      setJobId('');
    } catch (e) {
      const mapped = formErrors(e, ['url', 'job_id', 'notes', 'source']);
      setErrors(mapped.fields);
      setGeneral(mapped.general);
    } finally {
      setBusy(false);
    }
  };

  // An error here is shown by the upload field.
  const fromUpload = async (upload: IUpload): Promise<void> => {
    props.onStarted(
      await importModelVersion(
        props.model.id,
        { source: 'upload', upload_id: upload.id },
        notes.trim()
      )
    );
    setNotes('');
  };

  const modes: { value: Mode; label: string }[] = [
    { value: 'upload', label: 'Local file' },
    { value: 'url', label: 'From URL' },
    { value: 'job', label: 'From a job' }
  ];
  if (props.isAdmin && props.model.preset) {
    modes.push({ value: 'preset', label: 'Preset source' });
  }

  const fieldError = (name: string): JSX.Element | null =>
    errors[name] ? (
      <div
        className="sxwl-field-error"
        data-testid={`sxwl-model-import-error-${name}`}
        role="alert"
      >
        {errors[name]}
      </div>
    ) : null;

  return (
    <div className="sxwl-subpanel" data-testid="sxwl-model-import">
      <div className="sxwl-inline" role="radiogroup" aria-label="Import from">
        {modes.map(m => (
          <label key={m.value} className="sxwl-check">
            <input
              type="radio"
              name="sxwl-model-import-mode"
              data-testid={`sxwl-model-import-mode-${m.value}`}
              checked={mode === m.value}
              onChange={() => setMode(m.value)}
            />
            {m.label}
          </label>
        ))}
      </div>
      <div className="sxwl-field">
        <label htmlFor="sxwl-model-import-notes">Notes (optional)</label>
        <input
          id="sxwl-model-import-notes"
          type="text"
          className="jp-mod-styled"
          data-testid="sxwl-model-import-notes"
          value={notes}
          onChange={e => setNotes(e.target.value)}
        />
        {fieldError('notes')}
      </div>
      {general && (
        <div className="sxwl-error-banner" role="alert">
          {general}
        </div>
      )}
      {mode === 'upload' && (
        <>
          <div className="sxwl-hint">
            One model file, or a .tar / .tar.gz / .zip of the model's folder.
          </div>
          <UploadField
            purpose="model"
            action="Upload and import"
            testid="sxwl-model-upload"
            onUploaded={fromUpload}
          />
        </>
      )}
      {mode === 'url' && (
        <div className={`sxwl-field${errors.url ? ' sxwl-field-invalid' : ''}`}>
          <div className="sxwl-inline">
            <input
              type="text"
              className="jp-mod-styled"
              aria-label="Download URL"
              data-testid="sxwl-model-import-url"
              placeholder="https://example.org/model.tar.gz"
              value={url}
              onChange={e => setUrl(e.target.value)}
            />
            <button
              type="button"
              className="jp-Button jp-mod-styled jp-mod-accept"
              data-testid="sxwl-model-import-url-button"
              disabled={busy || !url.trim()}
              onClick={() => void start({ source: 'url', url: url.trim() })}
            >
              Import
            </button>
          </div>
          {fieldError('url')}
        </div>
      )}
      {mode === 'job' && (
        <div
          className={`sxwl-field${errors.job_id ? ' sxwl-field-invalid' : ''}`}
        >
          <div className="sxwl-hint">
            The files the job saved to its model directory ($SXWL_MODEL_DIR).
          </div>
          {jobs !== null && jobs.length > 0 && (
            <HTMLSelect
              className="sxwl-select"
              aria-label="Finished job"
              value={jobs.some(j => j.id === jobId) ? jobId : ''}
              onChange={e => setJobId(e.target.value)}
            >
              <option value="">choose a finished job…</option>
              {jobs.map(j => (
                <option key={j.id} value={j.id}>
                  {j.name} ({j.id})
                </option>
              ))}
            </HTMLSelect>
          )}
          <div className="sxwl-inline">
            <input
              type="text"
              className="jp-mod-styled sxwl-mono"
              aria-label="Job id"
              data-testid="sxwl-model-import-job"
              placeholder="job-…"
              value={jobId}
              onChange={e => setJobId(e.target.value)}
            />
            <button
              type="button"
              className="jp-Button jp-mod-styled jp-mod-accept"
              data-testid="sxwl-model-import-job-button"
              disabled={busy || !jobId.trim()}
              onClick={() =>
                void start({ source: 'job', job_id: jobId.trim() })
              }
            >
              Import
            </button>
          </div>
          {fieldError('job_id')}
        </div>
      )}
      {mode === 'preset' && (
        <div className="sxwl-form-actions">
          <button
            type="button"
            className="jp-Button jp-mod-styled jp-mod-accept"
            data-testid="sxwl-model-import-preset"
            disabled={busy}
            onClick={() => void start({ source: 'preset' })}
          >
            Fetch from{' '}
            {String(
              props.model.source?.repo_id ??
                props.model.source?.kind ??
                'source'
            )}
          </button>
        </div>
      )}
    </div>
  );
}
