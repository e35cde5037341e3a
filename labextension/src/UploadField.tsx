import * as React from 'react';

import { IUpload, UploadPurpose } from './api';
import { errorText, formatBytes } from './format';
import { ProgressBar } from './progress';
import { UploadStopped, uploadFile } from './uploads';

export interface IUploadFieldProps {
  purpose: UploadPurpose;
  /** File types the picker offers, e.g. ".jsonl,.json,.csv,.zip". */
  accept?: string;
  /** Label of the button that starts the upload, e.g. "Upload and import". */
  action: string;
  /** Prefix of the test ids of the input, button, bar and messages. */
  testid: string;
  disabled?: boolean;
  /** Called with the complete upload; an error it throws is shown here. */
  onUploaded: (upload: IUpload) => Promise<void>;
}

/**
 * A file input with an upload button and a progress bar. A failed upload
 * offers "Resume", which continues the same upload from the bytes the
 * platform already holds. Leaving the view does not stop an upload: it
 * goes on, and `onUploaded` (the import) still runs at its end.
 */
export function UploadField(props: IUploadFieldProps): JSX.Element {
  const [file, setFile] = React.useState<File | null>(null);
  const [progress, setProgress] = React.useState<{
    received: number;
    size: number;
  } | null>(null);
  const [busy, setBusy] = React.useState(false);
  const [error, setError] = React.useState<string | null>(null);
  // The upload a "Resume" continues.
  const [stoppedId, setStoppedId] = React.useState<string | null>(null);
  const abort = React.useRef<AbortController | null>(null);
  // A new key empties the file input after a finished upload.
  const [inputKey, setInputKey] = React.useState(0);

  const start = async (resume: boolean): Promise<void> => {
    if (!file || busy) {
      return;
    }
    setBusy(true);
    setError(null);
    const controller = new AbortController();
    abort.current = controller;
    let uploaded: IUpload;
    try {
      uploaded = await uploadFile(file, {
        purpose: props.purpose,
        resumeId: resume ? stoppedId : null,
        signal: controller.signal,
        onProgress: (received, size) => setProgress({ received, size })
      });
    } catch (e) {
      setStoppedId(e instanceof UploadStopped ? e.uploadId : null);
      setError(`Upload stopped: ${errorText(e)}`);
      setBusy(false);
      return;
    }
    setStoppedId(null);
    try {
      await props.onUploaded(uploaded);
      setFile(null);
      setProgress(null);
      setInputKey(k => k + 1);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="sxwl-upload" data-testid={props.testid}>
      <div className="sxwl-inline">
        <input
          key={inputKey}
          type="file"
          className="sxwl-grow"
          accept={props.accept}
          data-testid={`${props.testid}-file`}
          aria-label="File to upload"
          disabled={busy || props.disabled}
          onChange={e => {
            setFile(e.target.files?.[0] ?? null);
            setProgress(null);
            setError(null);
            setStoppedId(null);
          }}
        />
      </div>
      {file && (
        <div className="sxwl-hint">
          {file.name}, {formatBytes(file.size)}
        </div>
      )}
      <div className="sxwl-form-actions">
        <button
          type="button"
          className="jp-Button jp-mod-styled jp-mod-accept"
          data-testid={`${props.testid}-button`}
          disabled={!file || busy || props.disabled}
          onClick={() => void start(false)}
        >
          {props.action}
        </button>
        {stoppedId && !busy && file && (
          <button
            type="button"
            className="jp-Button jp-mod-styled"
            data-testid={`${props.testid}-resume`}
            title="Continue the upload from the bytes the platform already holds"
            onClick={() => void start(true)}
          >
            Resume
          </button>
        )}
        {busy && progress && progress.received < progress.size && (
          <button
            type="button"
            className="jp-Button jp-mod-styled jp-mod-minimal"
            data-testid={`${props.testid}-cancel`}
            onClick={() => abort.current?.abort()}
          >
            Cancel
          </button>
        )}
      </div>
      {progress && (
        <ProgressBar
          done={progress.received}
          total={progress.size}
          label={progress.received >= progress.size ? 'Uploaded' : 'Uploading'}
          format={formatBytes}
          testid={`${props.testid}-progress`}
        />
      )}
      {error && (
        <div
          className="sxwl-error-banner"
          data-testid={`${props.testid}-error`}
          role="alert"
        >
          {error}
        </div>
      )}
    </div>
  );
}
