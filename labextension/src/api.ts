/**
 * Typed client of the sxwl REST API (docs/rest-api.md), as served by the
 * user's own Jupyter server under `/sxwl/api/v1/`.
 *
 * Every call goes through `ServerConnection.makeRequest`, which adds the XSRF
 * token and the server's authentication; the server extension forwards the
 * call to the platform with the user's identity. This is the only module of
 * the extension that talks HTTP.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** Path of the API below the Jupyter server's base URL. */
export const API_PREFIX = 'sxwl/api/v1/';

/**
 * Path of the routes the lab's own server extension answers (mounts), next
 * to the API; unlike the API they are never forwarded to the platform.
 */
export const LAB_PREFIX = 'sxwl/lab/';

export type JobStatus =
  | 'Queued'
  | 'Starting'
  | 'Running'
  | 'Stopping'
  | 'Succeeded'
  | 'Failed'
  | 'Stopped'
  | 'TimedOut';

export type JobType = 'single' | 'pytorch' | 'mpi' | 'deepspeed';

/** All job types, in the order the submit form offers them. */
export const JOB_TYPES: readonly JobType[] = [
  'single',
  'pytorch',
  'mpi',
  'deepspeed'
];

/** Statuses after which a job no longer changes unless restarted. */
export const FINAL_STATUSES: readonly JobStatus[] = [
  'Succeeded',
  'Failed',
  'Stopped',
  'TimedOut'
];

export function isFinal(status: JobStatus): boolean {
  return FINAL_STATUSES.includes(status);
}

/** A job as the API returns it. */
export interface IJob {
  id: string;
  name: string;
  owner: string;
  status: JobStatus;
  queue: string;
  priority: string;
  flavour: string;
  job_type: JobType;
  nodes: number;
  procs_per_node: number;
  accelerators_per_node: number;
  cpu_per_node: number;
  memory_gb_per_node: number;
  command: string;
  working_dir: string | null;
  env: Record<string, string>;
  image: string | null;
  code_package: string | null;
  checkpoint_path: string | null;
  checkpoint_capacity_gb: number | null;
  model_path: string | null;
  model_capacity_gb: number | null;
  max_run_minutes: number | null;
  attempt: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  duration_seconds: number | null;
  exit_code: number | null;
  message: string;
  /** Null unless the job is Queued. */
  queue_position: number | null;
  /** Why a Queued job waits, in words; null unless Queued. */
  wait_reason: string | null;
}

/**
 * The body of `POST jobs`: name and command are required, every other field
 * falls back to the platform's default when left out.
 */
export interface IJobSpec {
  name: string;
  command: string;
  job_type?: JobType;
  nodes?: number;
  procs_per_node?: number;
  flavour?: string;
  accelerators_per_node?: number;
  cpu_per_node?: number;
  memory_gb_per_node?: number;
  queue?: string;
  priority?: string;
  env?: Record<string, string>;
  code_package?: string;
  working_dir?: string;
  checkpoint_path?: string;
  checkpoint_capacity_gb?: number;
  model_path?: string;
  model_capacity_gb?: number;
  image?: string;
  max_run_minutes?: number | null;
}

export interface IFlavour {
  name: string;
  resource_name: string | null;
  accelerators_per_node: number;
  cpu_per_node: number;
  memory_gb_per_node: number;
  nodes: number;
  price_per_card_hour: number;
  description: string;
}

export interface IQueueQuota {
  accelerators: number;
  cpu: number;
}

export interface IQueue {
  name: string;
  quotas: Record<string, IQueueQuota>;
  users: string[] | null;
  strategy: string;
  running: number;
  pending: number;
}

export interface IInfo {
  version: string;
  user: { name: string; admin: boolean };
  flavours: IFlavour[];
  queues: IQueue[];
  priorities: string[];
  job_types: JobType[];
}

export interface IJobList {
  items: IJob[];
  total: number;
}

export interface IListJobsOptions {
  /** Substring of the job name. */
  q?: string;
  status?: JobStatus;
  /** Admins only: every user's jobs. */
  all?: boolean;
}

/** A chunk of a job's log and where the next read should start. */
export interface ILogChunk {
  text: string;
  /** Byte offset after the bytes sent (the `X-Log-Offset` header). */
  offset: number;
}

export interface ILogMatch {
  line: number;
  text: string;
}

export interface ILogSearch {
  matches: ILogMatch[];
  total: number;
}

export interface IUsageSample {
  t: string;
  cpu_percent: number | null;
  memory_mb: number | null;
  accelerator_percent: number | null;
  accelerator_memory_mb: number | null;
}

export interface IArtifact {
  path: string;
  size: number;
  modified: string;
}

export interface ICodePackageRef {
  id: string;
}

/** One entry of a problem+json `errors` list. */
export interface IFieldError {
  field: string;
  message: string;
}

/**
 * An API answer with a 4xx/5xx status, carrying the problem+json details so
 * forms can show each message next to the field it names.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors: IFieldError[] = []
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

interface IProblem {
  title?: string;
  detail?: string;
  errors?: IFieldError[];
}

/** Join API path segments below the server's base URL. */
export function apiUrl(...parts: string[]): string {
  const settings = ServerConnection.makeSettings();
  return URLExt.join(settings.baseUrl, API_PREFIX, ...parts);
}

function query(params: Record<string, string | number | undefined>): string {
  const entries = Object.entries(params).filter(
    (e): e is [string, string | number] => e[1] !== undefined && e[1] !== ''
  );
  if (entries.length === 0) {
    return '';
  }
  return (
    '?' +
    entries
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
      .join('&')
  );
}

/** Encode each segment of a relative file path, keeping the slashes. */
function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

/** Call the API; a non-2xx answer throws an `ApiError` carrying its field errors. */
export async function request(
  path: string,
  init: RequestInit = {},
  prefix: string = API_PREFIX
): Promise<Response> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, prefix, path);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ApiError(0, `cannot reach the Jupyter server: ${String(error)}`);
  }
  if (!response.ok) {
    throw await toApiError(response);
  }
  return response;
}

async function toApiError(response: Response): Promise<ApiError> {
  const text = await response.text();
  let problem: IProblem = {};
  try {
    problem = JSON.parse(text) as IProblem;
  } catch {
    // Not problem+json (a proxy error page, say): show the start of the text.
    problem = { detail: text.slice(0, 300) };
  }
  const message =
    problem.detail ||
    problem.title ||
    `${response.status} ${response.statusText}`;
  return new ApiError(response.status, message, problem.errors ?? []);
}

/** Call the API and parse its JSON answer. */
export async function json<T>(
  path: string,
  init: RequestInit = {},
  prefix: string = API_PREFIX
): Promise<T> {
  const response = await request(path, init, prefix);
  return (await response.json()) as T;
}

/** A request carrying `body` as JSON. */
export function jsonBody(body: unknown, method = 'POST'): RequestInit {
  return {
    method,
    body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json' }
  };
}

export function getInfo(): Promise<IInfo> {
  return json<IInfo>('info');
}

export async function listFlavours(): Promise<IFlavour[]> {
  return (await json<{ items: IFlavour[] }>('flavours')).items;
}

export async function listQueues(): Promise<IQueue[]> {
  return (await json<{ items: IQueue[] }>('queues')).items;
}

export function listJobs(options: IListJobsOptions = {}): Promise<IJobList> {
  return json<IJobList>(
    'jobs' +
      query({
        q: options.q,
        status: options.status,
        all: options.all ? 1 : undefined
      })
  );
}

export function getJob(id: string): Promise<IJob> {
  return json<IJob>(`jobs/${encodeURIComponent(id)}`);
}

export function submitJob(spec: IJobSpec): Promise<IJob> {
  return json<IJob>('jobs', jsonBody(spec));
}

export function stopJob(id: string): Promise<IJob> {
  return json<IJob>(`jobs/${encodeURIComponent(id)}/stop`, { method: 'POST' });
}

/** Restart a finished job; `resume` keeps its checkpoint directory. */
export function restartJob(id: string, resume = false): Promise<IJob> {
  return json<IJob>(
    `jobs/${encodeURIComponent(id)}/restart`,
    jsonBody({ resume })
  );
}

export async function deleteJob(id: string): Promise<void> {
  await request(`jobs/${encodeURIComponent(id)}`, { method: 'DELETE' });
}

/** Admins: change a queued job's priority. */
export function setJobPriority(id: string, priority: string): Promise<IJob> {
  return json<IJob>(
    `jobs/${encodeURIComponent(id)}`,
    jsonBody({ priority }, 'PATCH')
  );
}

/** Read a job's log from byte `offset` on (of `attempt`, default the latest). */
export async function readLog(
  id: string,
  offset = 0,
  attempt?: number
): Promise<ILogChunk> {
  const response = await request(
    `jobs/${encodeURIComponent(id)}/logs` + query({ offset, attempt })
  );
  const text = await response.text();
  const header = response.headers.get('X-Log-Offset');
  const next = header === null ? NaN : Number(header);
  // Without the header, count the bytes ourselves so the next read goes on
  // where this one stopped.
  return {
    text,
    offset: Number.isFinite(next)
      ? next
      : offset + new TextEncoder().encode(text).length
  };
}

export function searchLog(
  id: string,
  q: string,
  regex = false,
  attempt?: number
): Promise<ILogSearch> {
  return json<ILogSearch>(
    `jobs/${encodeURIComponent(id)}/logs` +
      query({ q, regex: regex ? 1 : undefined, attempt })
  );
}

export async function getUsage(id: string): Promise<IUsageSample[]> {
  return (
    await json<{ samples: IUsageSample[] }>(
      `jobs/${encodeURIComponent(id)}/usage`
    )
  ).samples;
}

export async function listArtifacts(id: string): Promise<IArtifact[]> {
  return (
    await json<{ items: IArtifact[] }>(
      `jobs/${encodeURIComponent(id)}/artifacts`
    )
  ).items;
}

/**
 * The URL that downloads one artifact. A plain navigation to it carries the
 * server's cookie, so a link with `download` works without extra headers.
 */
export function artifactUrl(id: string, path: string): string {
  return apiUrl('jobs', encodeURIComponent(id), 'artifacts', encodePath(path));
}

/**
 * Ask the server extension to pack a directory of the lab (relative to the
 * lab's root) into a code package; the answer's id goes into `code_package`.
 */
export function codePackageFromDir(path: string): Promise<ICodePackageRef> {
  return json<ICodePackageRef>('code-packages/from-dir', jsonBody({ path }));
}

// ---------------------------------------------------------------------------
// Uploads (chunked, resumable)

export type UploadPurpose = 'dataset' | 'model';

export interface IUpload {
  id: string;
  purpose: UploadPurpose;
  filename: string;
  size: number;
  /** Bytes the platform holds; the next chunk must start here. */
  received: number;
  sha256: string | null;
  status: 'open' | 'complete';
}

export function createUpload(
  filename: string,
  size: number,
  purpose: UploadPurpose
): Promise<IUpload> {
  return json<IUpload>('uploads', jsonBody({ filename, size, purpose }));
}

/** Send the bytes of `chunk`, which start at `offset` of the file. */
export function putUploadChunk(
  id: string,
  offset: number,
  chunk: Blob
): Promise<IUpload> {
  return json<IUpload>(
    `uploads/${encodeURIComponent(id)}` + query({ offset }),
    {
      method: 'PUT',
      body: chunk,
      headers: { 'Content-Type': 'application/octet-stream' }
    }
  );
}

export function getUpload(id: string): Promise<IUpload> {
  return json<IUpload>(`uploads/${encodeURIComponent(id)}`);
}

export async function deleteUpload(id: string): Promise<void> {
  await request(`uploads/${encodeURIComponent(id)}`, { method: 'DELETE' });
}

// ---------------------------------------------------------------------------
// Operations (publish, export): long work polled until it ends

export type OperationStatus = 'running' | 'succeeded' | 'failed';

export interface IOperation {
  id: string;
  kind: string;
  object_id: string;
  status: OperationStatus;
  done: number;
  total: number;
  message: string;
  /** Publish: the version it made, or the latest one when nothing changed. */
  result: { version?: number; unchanged?: boolean; sha256?: string };
  created_at: string;
  finished_at: string | null;
}

export function getOperation(id: string): Promise<IOperation> {
  return json<IOperation>(`operations/${encodeURIComponent(id)}`);
}

// ---------------------------------------------------------------------------
// Shares

export interface IShare {
  id: string;
  kind: 'dataset' | 'model';
  object_id: string;
  version: number | null;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
  uses: number;
  status: 'active' | 'expired' | 'revoked';
  /** Only in the answer that created the share: it is never shown again. */
  token?: string;
}

export function revokeShare(id: string): Promise<IShare> {
  return json<IShare>(`shares/${encodeURIComponent(id)}`, {
    method: 'DELETE'
  });
}

// ---------------------------------------------------------------------------
// Datasets

export type AnnotationType = 'instruction' | 'qa' | 'ranking' | 'sharegpt';

/** Annotation types with the words the create form shows for them. */
export const ANNOTATION_TYPES: readonly {
  value: AnnotationType;
  label: string;
}[] = [
  {
    value: 'instruction',
    label: 'Instruction tuning (instruction/input/output)'
  },
  { value: 'qa', label: 'Q&A pairs (Query/Answer, …)' },
  { value: 'ranking', label: 'Reply ranking (prompt + ranked candidates)' },
  { value: 'sharegpt', label: 'Conversations (ShareGPT)' }
];

/** How the user reaches an object: their own, as admin, shared, preset. */
export type Access = 'owner' | 'admin' | 'shared' | 'preset';

export interface IAcceleration {
  status: 'none' | 'running' | 'ready' | 'failed';
  done: number;
  total: number;
  message: string;
}

export interface IDatasetVersion {
  dataset_id: string;
  number: number;
  sha256: string;
  size: number;
  records: number;
  notes: string;
  created_by: string;
  created_at: string;
  acceleration: IAcceleration;
}

/** One line of an import's problems list. */
export interface IImportProblem {
  file: string | null;
  line: number | null;
  field: string | null;
  message: string;
}

export type ImportPhase =
  'queued' | 'downloading' | 'unpacking' | 'validating' | 'saving' | 'done';

export interface IDatasetImport {
  id: string;
  dataset_id: string;
  source: string;
  detail: string;
  status: OperationStatus;
  phase: ImportPhase;
  bytes_done: number;
  bytes_total: number;
  files: number;
  records: number;
  invalid: number;
  message: string;
  problems: IImportProblem[];
  created_at: string;
  finished_at: string | null;
}

export interface IDraftStats {
  records: number;
  invalid: number;
  reviewed: number;
  edited: number;
  files: number;
}

export interface IDatasetFile {
  id: number;
  name: string;
  format: string;
  records: number;
  invalid: number;
  size: number;
  sha256: string;
  created_at: string;
}

export interface IDataset {
  id: string;
  name: string;
  owner: string;
  description: string;
  data_type: string;
  annotation_type: AnnotationType;
  preset: boolean;
  access: Access;
  read_only: boolean;
  latest_version: number | null;
  latest: IDatasetVersion | null;
  publishing: IOperation | null;
  importing: IDatasetImport[];
  created_at: string;
  updated_at: string;
  draft: IDraftStats;
  /** Only from `GET datasets/<id>`. */
  files?: IDatasetFile[];
  /** Only from `GET datasets/<id>`, newest first. */
  versions?: IDatasetVersion[];
}

export interface IDatasetSpec {
  name: string;
  annotation_type: AnnotationType;
  description?: string;
  data_type?: string;
}

/** One thing wrong with a record; `field` is a path like `candidates[1].text`. */
export interface IRecordIssue {
  field: string | null;
  message: string;
}

export type JsonObject = { [key: string]: unknown };

/** A record of a dataset's working copy. */
export interface IRecord {
  /** e.g. `3:17` (file 3, record 17) or `a:0` (added in annotation). */
  id: string;
  /** 0-based position among the live records. */
  index: number;
  file: string | null;
  line: number | null;
  data: JsonObject | null;
  /** The text of a record that is not a JSON object; null otherwise. */
  raw: string | null;
  issues: IRecordIssue[];
  reviewed: boolean;
  edited: boolean;
  added: boolean;
  /** Only from `GET records/<id>` and `PUT`: neighbours among all records. */
  total?: number;
  previous?: string | null;
  next?: string | null;
  /** Ranking datasets: the candidates as imported. */
  default_order?: unknown;
}

export type RecordFilter = 'invalid' | 'edited' | 'reviewed';

export interface IRecordPage {
  total: number;
  offset: number;
  records: IRecord[];
}

/** Datasets the user can see; admins may ask for everyone's. */
export async function listDatasets(all = false): Promise<IDataset[]> {
  return (
    await json<{ datasets: IDataset[] }>(
      'datasets' + query({ all: all ? 1 : undefined })
    )
  ).datasets;
}

/** One dataset with its files and versions; `ref` is its id or name. */
export function getDataset(ref: string): Promise<IDataset> {
  return json<IDataset>(`datasets/${encodeURIComponent(ref)}`);
}

export function createDataset(spec: IDatasetSpec): Promise<IDataset> {
  return json<IDataset>('datasets', jsonBody(spec));
}

export function patchDataset(
  id: string,
  changes: { name?: string; description?: string }
): Promise<IDataset> {
  return json<IDataset>(
    `datasets/${encodeURIComponent(id)}`,
    jsonBody(changes, 'PATCH')
  );
}

export async function deleteDataset(id: string): Promise<void> {
  await request(`datasets/${encodeURIComponent(id)}`, { method: 'DELETE' });
}

/** Add a dataset someone shared, by the token they gave. */
export function addSharedDataset(token: string): Promise<IDataset> {
  return json<IDataset>('datasets/shared', jsonBody({ token }));
}

/** Take a shared dataset off the user's list (the owner's copy stays). */
export async function removeSharedDataset(id: string): Promise<void> {
  await request(`datasets/${encodeURIComponent(id)}/shared`, {
    method: 'DELETE'
  });
}

/** Import a finished upload, or a file the platform downloads from a URL. */
export function startImport(
  id: string,
  source: { upload_id: string } | { url: string }
): Promise<IDatasetImport> {
  return json<IDatasetImport>(
    `datasets/${encodeURIComponent(id)}/imports`,
    jsonBody(source)
  );
}

export async function listImports(id: string): Promise<IDatasetImport[]> {
  return (
    await json<{ imports: IDatasetImport[] }>(
      `datasets/${encodeURIComponent(id)}/imports`
    )
  ).imports;
}

export function listRecords(
  id: string,
  options: { offset?: number; limit?: number; only?: RecordFilter } = {}
): Promise<IRecordPage> {
  return json<IRecordPage>(
    `datasets/${encodeURIComponent(id)}/records` +
      query({
        offset: options.offset ?? 0,
        limit: options.limit ?? 20,
        only: options.only
      })
  );
}

export function getRecord(id: string, rid: string): Promise<IRecord> {
  return json<IRecord>(
    `datasets/${encodeURIComponent(id)}/records/${encodeURIComponent(rid)}`
  );
}

/** Save a record's data and/or its reviewed mark; invalid data is kept too. */
export function putRecord(
  id: string,
  rid: string,
  changes: { data?: JsonObject; reviewed?: boolean }
): Promise<IRecord> {
  return json<IRecord>(
    `datasets/${encodeURIComponent(id)}/records/${encodeURIComponent(rid)}`,
    jsonBody(changes, 'PUT')
  );
}

export function addRecord(
  id: string,
  data: JsonObject,
  reviewed = false
): Promise<IRecord> {
  return json<IRecord>(
    `datasets/${encodeURIComponent(id)}/records`,
    jsonBody({ data, reviewed })
  );
}

export async function deleteRecord(id: string, rid: string): Promise<void> {
  await request(
    `datasets/${encodeURIComponent(id)}/records/${encodeURIComponent(rid)}`,
    { method: 'DELETE' }
  );
}

/** Back to the imported record (`all`) or, for ranking, its candidates' order. */
export function restoreRecord(
  id: string,
  rid: string,
  what: 'all' | 'order'
): Promise<IRecord> {
  return json<IRecord>(
    `datasets/${encodeURIComponent(id)}/records/${encodeURIComponent(rid)}/restore`,
    jsonBody({ what })
  );
}

export function publishDataset(id: string, notes = ''): Promise<IOperation> {
  return json<IOperation>(
    `datasets/${encodeURIComponent(id)}/publish`,
    jsonBody(notes ? { notes } : {})
  );
}

export function getDatasetVersion(
  id: string,
  n: number
): Promise<IDatasetVersion> {
  return json<IDatasetVersion>(
    `datasets/${encodeURIComponent(id)}/versions/${n}`
  );
}

/** The URL that downloads a version's canonical JSONL. */
export function datasetVersionDataUrl(id: string, n: number): string {
  return apiUrl('datasets', encodeURIComponent(id), 'versions', `${n}`, 'data');
}

/** Copy a version to fast storage; poll the version for progress. */
export function accelerateVersion(
  id: string,
  n: number
): Promise<IDatasetVersion> {
  return json<IDatasetVersion>(
    `datasets/${encodeURIComponent(id)}/versions/${n}/accelerate`,
    { method: 'POST' }
  );
}

export function dropAcceleration(
  id: string,
  n: number
): Promise<IDatasetVersion> {
  return json<IDatasetVersion>(
    `datasets/${encodeURIComponent(id)}/versions/${n}/accelerate`,
    { method: 'DELETE' }
  );
}

export function shareDataset(id: string, expiresInDays = 7): Promise<IShare> {
  return json<IShare>(
    `datasets/${encodeURIComponent(id)}/shares`,
    jsonBody({ expires_in_days: expiresInDays })
  );
}

export async function listDatasetShares(id: string): Promise<IShare[]> {
  return (
    await json<{ shares: IShare[] }>(
      `datasets/${encodeURIComponent(id)}/shares`
    )
  ).shares;
}

// ---------------------------------------------------------------------------
// Models

export type ModelVersionStatus = 'importing' | 'ready' | 'failed';

export interface IModelVersion {
  model_id: string;
  number: number;
  status: ModelVersionStatus;
  phase: string;
  bytes_done: number;
  bytes_total: number;
  size: number | null;
  files: number | null;
  sha256: string | null;
  /** upload, url, job, lab, share or preset. */
  source: string;
  /** Where exactly it came from (file name, URL, job id, …). */
  source_detail: Record<string, unknown>;
  /** What it was made from (a job's base model and datasets), when known. */
  lineage: Record<string, unknown>;
  notes: string;
  message: string;
  created_by: string;
  created_at: string;
  finished_at: string | null;
}

export interface IModel {
  id: string;
  name: string;
  owner: string;
  description: string;
  family: string;
  preset: boolean;
  access: Access;
  read_only: boolean;
  /** A preset's origin, e.g. `{kind: "huggingface", repo_id}`; `{}` for others. */
  source: { kind?: string; [key: string]: unknown } | null;
  latest_version: number | null;
  latest: IModelVersion | null;
  versions_count: number;
  created_at: string;
  /** Only from `GET models/<id>`. */
  versions?: IModelVersion[];
}

export interface IModelFile {
  path: string;
  size: number;
  sha256: string;
}

/** Where a new model version comes from. */
export type ModelSource =
  | { source: 'upload'; upload_id: string }
  | { source: 'url'; url: string }
  | { source: 'job'; job_id: string }
  | { source: 'preset' };

/** The S3 bucket a model version is copied to; empty fields stay out. */
export interface IExportTarget {
  bucket: string;
  prefix?: string;
  endpoint_url?: string;
  region?: string;
  access_key_id?: string;
  secret_access_key?: string;
  path_style?: boolean;
}

export async function listModels(): Promise<IModel[]> {
  return (await json<{ models: IModel[] }>('models')).models;
}

export function getModel(ref: string): Promise<IModel> {
  return json<IModel>(`models/${encodeURIComponent(ref)}`);
}

export function createModel(spec: {
  name: string;
  description?: string;
  family?: string;
}): Promise<IModel> {
  return json<IModel>('models', jsonBody(spec));
}

export async function deleteModel(id: string): Promise<void> {
  await request(`models/${encodeURIComponent(id)}`, { method: 'DELETE' });
}

export function importModelVersion(
  id: string,
  source: ModelSource,
  notes = ''
): Promise<IModelVersion> {
  return json<IModelVersion>(
    `models/${encodeURIComponent(id)}/versions`,
    jsonBody(notes ? { ...source, notes } : source)
  );
}

/** Copy a model someone shared into the user's repository. */
export function importSharedModel(
  token: string,
  name?: string
): Promise<{ model: IModel; version: IModelVersion }> {
  return json<{ model: IModel; version: IModelVersion }>(
    'models/import-shared',
    jsonBody(name ? { token, name } : { token })
  );
}

export function getModelVersion(id: string, n: number): Promise<IModelVersion> {
  return json<IModelVersion>(`models/${encodeURIComponent(id)}/versions/${n}`);
}

export async function deleteModelVersion(id: string, n: number): Promise<void> {
  await request(`models/${encodeURIComponent(id)}/versions/${n}`, {
    method: 'DELETE'
  });
}

export async function listModelFiles(
  id: string,
  n: number
): Promise<IModelFile[]> {
  return (
    await json<{ files: IModelFile[] }>(
      `models/${encodeURIComponent(id)}/versions/${n}/files`
    )
  ).files;
}

/** The URL that downloads one file of a model version. */
export function modelFileUrl(id: string, n: number, path: string): string {
  return apiUrl(
    'models',
    encodeURIComponent(id),
    'versions',
    `${n}`,
    'files',
    encodePath(path)
  );
}

/** The URL that downloads a whole model version as one .tar. */
export function modelArchiveUrl(id: string, n: number): string {
  return apiUrl(
    'models',
    encodeURIComponent(id),
    'versions',
    `${n}`,
    'archive'
  );
}

export function exportModelVersion(
  id: string,
  n: number,
  target: IExportTarget
): Promise<IOperation> {
  return json<IOperation>(
    `models/${encodeURIComponent(id)}/versions/${n}/export`,
    jsonBody(target)
  );
}

/** Share a model (one version, or every version when left out). */
export function shareModel(
  id: string,
  options: { version?: number; expires_in_days?: number } = {}
): Promise<IShare> {
  return json<IShare>(
    `models/${encodeURIComponent(id)}/shares`,
    jsonBody(options)
  );
}

export async function listModelShares(id: string): Promise<IShare[]> {
  return (
    await json<{ shares: IShare[] }>(`models/${encodeURIComponent(id)}/shares`)
  ).shares;
}

// ---------------------------------------------------------------------------
// Mounts in this lab (the lab's server extension, not the platform)

export type MountKind = 'dataset' | 'model';

/** A mount as the lab lists it: `target` is where the link points. */
export interface ILabMount {
  kind: MountKind;
  name: string;
  path: string;
  target: string;
  /** False when the target no longer exists (a deleted version, say). */
  ok: boolean;
}

export interface IMounted {
  kind: MountKind;
  name: string;
  version: number | null;
  path: string;
}

export async function listLabMounts(): Promise<ILabMount[]> {
  return (await json<{ mounts: ILabMount[] }>('mounts', {}, LAB_PREFIX)).mounts;
}

/** Link a dataset or model (version) into the lab, read-only, under ~/mnt. */
export function mountInLab(
  kind: MountKind,
  name: string,
  version?: number
): Promise<IMounted> {
  return json<IMounted>(
    'mounts',
    jsonBody(version === undefined ? { kind, name } : { kind, name, version }),
    LAB_PREFIX
  );
}

export async function unmountInLab(
  kind: MountKind,
  name: string
): Promise<void> {
  await request(
    `mounts/${encodeURIComponent(kind)}/${encodeURIComponent(name)}`,
    { method: 'DELETE' },
    LAB_PREFIX
  );
}
