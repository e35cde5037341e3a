/**
 * Chunked, resumable uploads of a file chosen in the browser to the
 * platform (`POST uploads`, then one `PUT uploads/<id>?offset=N` per chunk).
 */
import {
  ApiError,
  IUpload,
  UploadPurpose,
  createUpload,
  getUpload,
  putUploadChunk
} from './api';

/** Bytes per PUT: small enough to retry cheaply, large enough to be fast. */
export const CHUNK_BYTES = 8 * 1024 * 1024;

/** Tries of one chunk before the upload stops and waits for "Resume". */
const MAX_TRIES = 4;

/** An upload that stopped; `uploadId` continues it from where it stopped. */
export class UploadStopped extends Error {
  constructor(
    message: string,
    readonly uploadId: string | null,
    readonly received: number
  ) {
    super(message);
    this.name = 'UploadStopped';
  }
}

export interface IUploadOptions {
  purpose: UploadPurpose;
  /** Called after each chunk with the bytes the platform holds. */
  onProgress?: (received: number, size: number, uploadId: string) => void;
  /** Continue this earlier upload of the same file instead of starting anew. */
  resumeId?: string | null;
  /** Stops the upload between chunks. */
  signal?: AbortSignal;
}

function sleep(ms: number): Promise<void> {
  return new Promise(resolve => window.setTimeout(resolve, ms));
}

/** A chunk error that another try cannot fix (anything 4xx but a wrong offset). */
function isPermanent(error: unknown): boolean {
  return (
    error instanceof ApiError &&
    error.status >= 400 &&
    error.status < 500 &&
    error.status !== 409 &&
    error.status !== 408 &&
    error.status !== 429
  );
}

/**
 * Send `file` in chunks of 8 MiB and resolve with the complete upload.
 *
 * After a failed chunk the platform is asked how many bytes it holds
 * (`received`) and the upload goes on from there, a few times with a growing
 * pause; then it stops with `UploadStopped`, whose `uploadId` resumes it.
 */
export async function uploadFile(
  file: File,
  options: IUploadOptions
): Promise<IUpload> {
  let upload: IUpload;
  if (options.resumeId) {
    upload = await getUpload(options.resumeId);
    if (upload.size !== file.size) {
      throw new UploadStopped(
        `${file.name} is ${file.size} bytes but the interrupted upload was ` +
          `${upload.size}; choose the same file, or start a new upload`,
        null,
        0
      );
    }
  } else {
    upload = await createUpload(file.name, file.size, options.purpose);
  }
  options.onProgress?.(upload.received, file.size, upload.id);
  let failures = 0;
  while (upload.status !== 'complete') {
    if (options.signal?.aborted) {
      throw new UploadStopped('upload cancelled', upload.id, upload.received);
    }
    const start = upload.received;
    const end = Math.min(start + CHUNK_BYTES, file.size);
    try {
      upload = await putUploadChunk(upload.id, start, file.slice(start, end));
      failures = 0;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (isPermanent(error)) {
        throw new UploadStopped(message, upload.id, upload.received);
      }
      failures += 1;
      if (failures >= MAX_TRIES) {
        throw new UploadStopped(
          `${message} (after ${failures} tries at byte ${start.toLocaleString()})`,
          upload.id,
          upload.received
        );
      }
      await sleep(1000 * failures);
      // The chunk may have arrived even though its answer did not: go on
      // from what the platform holds rather than from what we think it has.
      try {
        upload = await getUpload(upload.id);
      } catch {
        // Unreachable too: try the same chunk again after the next pause.
      }
    }
    options.onProgress?.(upload.received, file.size, upload.id);
  }
  return upload;
}
