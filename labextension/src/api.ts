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

async function request(
  path: string,
  init: RequestInit = {}
): Promise<Response> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, API_PREFIX, path);
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

async function json<T>(path: string, init: RequestInit = {}): Promise<T> {
  const response = await request(path, init);
  return (await response.json()) as T;
}

function jsonBody(body: unknown, method = 'POST'): RequestInit {
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
