import * as React from 'react';

import { IDatasetImport, IUpload, startImport } from '../api';
import { StateBadge } from '../badges';
import { errorText, formatBytes, formatTime } from '../format';
import { formErrors } from '../formErrors';
import { ProgressBar } from '../progress';
import { UploadField } from '../UploadField';

/** File types an import reads (archives of them too). */
const ACCEPT = '.jsonl,.json,.csv,.zip,.tar.gz,.tgz';

/** Problems shown before "show all" opens the rest. */
const FIRST_PROBLEMS = 20;

/** The platform keeps this many problems of an import. */
const KEPT_PROBLEMS = 1000;

/**
 * Import data into a dataset's working copy: a local file (uploaded in
 * chunks, resumable) or a file the platform downloads from a URL.
 */
export function ImportForm(props: {
  datasetId: string;
  onStarted: (imp: IDatasetImport) => void;
}): JSX.Element {
  const [mode, setMode] = React.useState<'upload' | 'url'>('upload');
  const [url, setUrl] = React.useState('');
  const [urlError, setUrlError] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);

  const fromUpload = async (upload: IUpload): Promise<void> => {
    props.onStarted(
      await startImport(props.datasetId, { upload_id: upload.id })
    );
  };

  const fromUrl = async (): Promise<void> => {
    if (!url.trim()) {
      setUrlError('enter the address of a .jsonl, .json, .csv or archive file');
      return;
    }
    setBusy(true);
    setUrlError(null);
    try {
      props.onStarted(await startImport(props.datasetId, { url: url.trim() }));
      setUrl('');
    } catch (e) {
      const mapped = formErrors(e, ['url']);
      setUrlError(mapped.fields.url ?? mapped.general ?? errorText(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="sxwl-subpanel" data-testid="sxwl-import-form">
      <div className="sxwl-inline" role="radiogroup" aria-label="Import from">
        <label className="sxwl-check">
          <input
            type="radio"
            name="sxwl-import-mode"
            data-testid="sxwl-import-mode-upload"
            checked={mode === 'upload'}
            onChange={() => setMode('upload')}
          />
          Local file
        </label>
        <label className="sxwl-check">
          <input
            type="radio"
            name="sxwl-import-mode"
            data-testid="sxwl-import-mode-url"
            checked={mode === 'url'}
            onChange={() => setMode('url')}
          />
          From URL
        </label>
      </div>
      <div className="sxwl-hint">
        JSONL, JSON or CSV records, or a .zip / .tar.gz of such files. Invalid
        records are kept, to be fixed in annotation.
      </div>
      {mode === 'upload' ? (
        <UploadField
          purpose="dataset"
          accept={ACCEPT}
          action="Upload and import"
          testid="sxwl-import-upload"
          onUploaded={fromUpload}
        />
      ) : (
        <div
          className={`sxwl-field${urlError ? ' sxwl-field-invalid' : ''}`}
          data-field="url"
        >
          <div className="sxwl-inline">
            <input
              type="text"
              className="jp-mod-styled"
              aria-label="Download URL"
              data-testid="sxwl-import-url"
              placeholder="https://example.org/data.zip"
              value={url}
              onChange={e => {
                setUrl(e.target.value);
                setUrlError(null);
              }}
            />
            <button
              type="button"
              className="jp-Button jp-mod-styled jp-mod-accept"
              data-testid="sxwl-import-url-button"
              disabled={busy}
              onClick={() => void fromUrl()}
            >
              Import
            </button>
          </div>
          {urlError && (
            <div
              className="sxwl-field-error"
              data-testid="sxwl-import-url-error"
              role="alert"
            >
              {urlError}
            </div>
          )}
        </div>
      )}
    </div>
  );
}

/** A dataset's imports, newest first, with progress and problems. */
export function ImportList(props: {
  imports: IDatasetImport[] | null;
}): JSX.Element {
  if (props.imports === null) {
    return <div className="sxwl-muted">Loading…</div>;
  }
  if (props.imports.length === 0) {
    return <div className="sxwl-muted">Nothing imported yet.</div>;
  }
  return (
    <ul className="sxwl-list sxwl-imports" data-testid="sxwl-imports">
      {props.imports.map(imp => (
        <ImportRow key={imp.id} imp={imp} />
      ))}
    </ul>
  );
}

function ImportRow(props: { imp: IDatasetImport }): JSX.Element {
  const imp = props.imp;
  const [showAll, setShowAll] = React.useState(false);
  const problems = showAll
    ? imp.problems
    : imp.problems.slice(0, FIRST_PROBLEMS);
  return (
    <li
      className="sxwl-import"
      data-testid="sxwl-import-row"
      data-import-id={imp.id}
      data-status={imp.status}
    >
      <div className="sxwl-row-head">
        <span className="sxwl-row-name" title={imp.detail}>
          {imp.detail || imp.source}
        </span>
        <StateBadge state={imp.status} testid="sxwl-import-status" />
      </div>
      {imp.status === 'running' && (
        <ProgressBar
          label={imp.phase}
          done={imp.bytes_done}
          total={imp.bytes_total}
          format={formatBytes}
          testid="sxwl-import-progress"
        />
      )}
      <div className="sxwl-row-meta" data-testid="sxwl-import-summary">
        <span>
          {imp.records.toLocaleString()} record
          {imp.records === 1 ? '' : 's'}
        </span>
        <span className={imp.invalid ? 'sxwl-invalid-count' : undefined}>
          {imp.invalid.toLocaleString()} invalid
        </span>
        {imp.files > 1 && <span>{imp.files} files</span>}
        <span>{formatTime(imp.finished_at ?? imp.created_at)}</span>
      </div>
      {imp.message && (
        <div
          className={
            imp.status === 'failed' ? 'sxwl-error-banner' : 'sxwl-message'
          }
          data-testid="sxwl-import-message"
        >
          {imp.message}
        </div>
      )}
      {imp.problems.length > 0 && (
        <details className="sxwl-problems" open={imp.problems.length <= 5}>
          <summary>
            {imp.problems.length.toLocaleString()} problem
            {imp.problems.length === 1 ? '' : 's'}
            {imp.problems.length >= KEPT_PROBLEMS ? ' (the first ones)' : ''}
          </summary>
          <ol data-testid="sxwl-import-problems">
            {problems.map((p, i) => (
              <li key={i}>
                <span className="sxwl-mono sxwl-problem-where">
                  {p.file ?? ''}
                  {p.line !== null ? `:${p.line}` : ''}
                </span>{' '}
                {p.field && <strong>{p.field}</strong>} {p.message}
              </li>
            ))}
          </ol>
          {!showAll && imp.problems.length > FIRST_PROBLEMS && (
            <button
              type="button"
              className="sxwl-small-link"
              onClick={() => setShowAll(true)}
            >
              show all {imp.problems.length.toLocaleString()}
            </button>
          )}
        </details>
      )}
    </li>
  );
}
