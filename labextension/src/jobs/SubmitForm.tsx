import { HTMLSelect } from '@jupyterlab/ui-components';
import * as React from 'react';

import {
  ApiError,
  IFieldError,
  IFlavour,
  IJob,
  IJobSpec,
  IQueue,
  JOB_TYPES,
  JobType,
  codePackageFromDir,
  listFlavours,
  listQueues,
  submitJob
} from '../api';
import { SxwlContext } from '../context';
import { FormActions } from '../Field';

/** The form keeps every input as typed text; `toSpec` turns it into a job. */
interface IFormState {
  name: string;
  command: string;
  job_type: JobType;
  nodes: string;
  procs_per_node: string;
  flavour: string;
  accelerators_per_node: string;
  cpu_per_node: string;
  memory_gb_per_node: string;
  queue: string;
  priority: string;
  env: string;
  code_dir: string;
  working_dir: string;
  checkpoint_path: string;
  checkpoint_capacity_gb: string;
  model_path: string;
  model_capacity_gb: string;
  image: string;
  termination: 'end' | 'limit';
  max_run_minutes: string;
}

type FieldName = keyof IFormState;

const INITIAL: IFormState = {
  name: '',
  command: '',
  job_type: 'single',
  nodes: '1',
  procs_per_node: '1',
  flavour: '',
  accelerators_per_node: '0',
  cpu_per_node: '',
  memory_gb_per_node: '',
  queue: '',
  priority: 'normal',
  env: '',
  code_dir: '',
  working_dir: '',
  checkpoint_path: '',
  checkpoint_capacity_gb: '',
  model_path: '',
  model_capacity_gb: '',
  image: '',
  termination: 'end',
  max_run_minutes: '60'
};

/** Form fields an API error may name; anything else is shown above the form. */
const FIELDS = new Set<string>(Object.keys(INITIAL));

/** API field names that belong to a form input with another name. */
const FIELD_ALIASES: Record<string, FieldName> = {
  code_package: 'code_dir',
  path: 'code_dir'
};

type FieldErrors = Partial<Record<FieldName, string>>;

/**
 * Map problem+json `errors` onto form inputs. Field names may come dotted or
 * nested ("body.nodes", "env.LR"): the first part naming an input wins.
 */
function mapErrors(
  errors: IFieldError[],
  extraAliases: Record<string, FieldName> = {}
): { fields: FieldErrors; other: string[] } {
  const fields: FieldErrors = {};
  const other: string[] = [];
  for (const error of errors) {
    const parts = String(error.field ?? '').split(/[.[\]/]+/);
    let target: FieldName | undefined;
    for (const part of parts) {
      const alias = extraAliases[part] ?? FIELD_ALIASES[part];
      if (alias) {
        target = alias;
        break;
      }
      if (FIELDS.has(part)) {
        target = part as FieldName;
        break;
      }
    }
    if (target) {
      fields[target] = fields[target]
        ? `${fields[target]}; ${error.message}`
        : error.message;
    } else {
      other.push(
        error.field ? `${error.field}: ${error.message}` : error.message
      );
    }
  }
  return { fields, other };
}

/** Parse the env textarea: one KEY=VALUE per line, blank lines and # comments ignored. */
function parseEnv(text: string): Record<string, string> | string {
  const env: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line || line.startsWith('#')) {
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) {
      return `line ${i + 1}: write KEY=VALUE`;
    }
    env[line.slice(0, eq).trim()] = line.slice(eq + 1);
  }
  return env;
}

type SpecResult =
  { ok: true; spec: IJobSpec } | { ok: false; errors: FieldErrors };

/**
 * Turn the typed form into a job body. Empty optional inputs stay undefined,
 * which JSON leaves out, so the platform applies its defaults. Inputs that
 * cannot be read (a number that is not one, an env line without "=") are
 * reported locally without a round trip.
 */
function toSpec(form: IFormState): SpecResult {
  const errors: FieldErrors = {};
  const num = (field: FieldName): number | undefined => {
    const text = form[field].trim();
    if (!text) {
      return undefined;
    }
    const value = Number(text);
    if (!Number.isFinite(value)) {
      errors[field] = 'must be a number';
      return undefined;
    }
    return value;
  };
  const str = (field: FieldName): string | undefined =>
    form[field].trim() || undefined;

  const spec: IJobSpec = {
    name: form.name.trim(),
    command: form.command.trim(),
    job_type: form.job_type,
    nodes: num('nodes'),
    procs_per_node: num('procs_per_node'),
    flavour: str('flavour'),
    accelerators_per_node: num('accelerators_per_node'),
    cpu_per_node: num('cpu_per_node'),
    memory_gb_per_node: num('memory_gb_per_node'),
    queue: str('queue'),
    priority: str('priority'),
    working_dir: str('working_dir'),
    checkpoint_path: str('checkpoint_path'),
    checkpoint_capacity_gb: num('checkpoint_capacity_gb'),
    model_path: str('model_path'),
    model_capacity_gb: num('model_capacity_gb'),
    image: str('image'),
    // "Run to the end" is an explicit null, not the platform's default limit.
    max_run_minutes:
      form.termination === 'limit' ? num('max_run_minutes') : null
  };
  if (!spec.name) {
    errors.name = 'give the job a name';
  }
  if (!spec.command) {
    errors.command = 'enter the command to run, e.g. python train.py';
  }
  if (form.termination === 'limit' && !form.max_run_minutes.trim()) {
    errors.max_run_minutes = 'enter the most minutes the job may run';
  }
  const env = parseEnv(form.env);
  if (typeof env === 'string') {
    errors.env = env;
  } else if (Object.keys(env).length > 0) {
    spec.env = env;
  }
  return Object.keys(errors).length > 0
    ? { ok: false, errors }
    : { ok: true, spec };
}

export interface ISubmitFormProps {
  onSubmitted: (job: IJob) => void;
  onCancel: () => void;
}

/** The submit form with every field of a job (docs/rest-api.md). */
export function SubmitForm(props: ISubmitFormProps): JSX.Element {
  const ctx = React.useContext(SxwlContext);
  const [form, setForm] = React.useState<IFormState>(INITIAL);
  const [flavours, setFlavours] = React.useState<IFlavour[]>([]);
  const [queues, setQueues] = React.useState<IQueue[]>([]);
  const [errors, setErrors] = React.useState<FieldErrors>({});
  const [general, setGeneral] = React.useState<string[]>([]);
  const [busy, setBusy] = React.useState<string | null>(null);

  // Flavours and queues fill the selects; the first of each (or "default")
  // is preselected so a minimal job needs only a name and a command.
  React.useEffect(() => {
    let cancelled = false;
    Promise.all([listFlavours(), listQueues()])
      .then(([fl, qu]) => {
        if (cancelled) {
          return;
        }
        setFlavours(fl);
        setQueues(qu);
        setForm(f => ({
          ...f,
          flavour:
            f.flavour ||
            pickDefault(
              fl.map(x => x.name),
              'cpu'
            ),
          queue:
            f.queue ||
            pickDefault(
              qu.map(x => x.name),
              'default'
            )
        }));
      })
      .catch(e => {
        if (!cancelled) {
          setGeneral([
            `cannot load flavours and queues: ${e instanceof Error ? e.message : String(e)}`
          ]);
        }
      });
    return () => {
      cancelled = true;
    };
  }, []);

  // Bring the first message into view: the form is longer than the panel, and
  // the button that was pressed sits at its bottom.
  const formRef = React.useRef<HTMLFormElement>(null);
  React.useEffect(() => {
    const first = formRef.current?.querySelector<HTMLElement>(
      '.sxwl-error-banner, .sxwl-field-invalid'
    );
    if (first) {
      first.scrollIntoView({ block: 'center' });
      first.querySelector<HTMLElement>('input, textarea, select')?.focus();
    }
  }, [errors, general]);

  const set =
    (field: FieldName) =>
    (
      e: React.ChangeEvent<
        HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement
      >
    ): void => {
      const value = e.target.value;
      setForm(f => ({ ...f, [field]: value }));
      // The user is fixing this input: its old message no longer applies.
      setErrors(errs => ({ ...errs, [field]: undefined }));
    };

  const flavour = flavours.find(f => f.name === form.flavour);
  const maxAccelerators = flavour?.accelerators_per_node ?? 0;
  const single = form.job_type === 'single';
  const priorities = ctx.info?.priorities?.length
    ? ctx.info.priorities
    : ['low', 'normal', 'high'];

  const onFlavour = (e: React.ChangeEvent<HTMLSelectElement>): void => {
    const next = flavours.find(f => f.name === e.target.value);
    const accel = next && next.accelerators_per_node > 0 ? '1' : '0';
    setForm(f => ({
      ...f,
      flavour: e.target.value,
      accelerators_per_node: accel
    }));
    setErrors(errs => ({
      ...errs,
      flavour: undefined,
      accelerators_per_node: undefined
    }));
  };

  const onJobType = (e: React.ChangeEvent<HTMLSelectElement>): void => {
    const jobType = e.target.value as JobType;
    // A single-process job has one node and one process by definition.
    setForm(f =>
      jobType === 'single'
        ? { ...f, job_type: jobType, nodes: '1', procs_per_node: '1' }
        : { ...f, job_type: jobType }
    );
  };

  const useBrowserFolder = (): void => {
    const path = ctx.currentBrowserPath();
    if (path !== null) {
      setForm(f => ({ ...f, code_dir: path }));
      setErrors(errs => ({ ...errs, code_dir: undefined }));
    }
  };

  const submit = async (e: React.FormEvent): Promise<void> => {
    e.preventDefault();
    if (busy) {
      return;
    }
    setGeneral([]);
    const result = toSpec(form);
    if (!result.ok) {
      setErrors(result.errors);
      return;
    }
    const spec = result.spec;
    setErrors({});
    try {
      const codeDir = form.code_dir.trim();
      if (codeDir) {
        setBusy('Packing the code directory…');
        try {
          const pkg = await codePackageFromDir(codeDir);
          spec.code_package = pkg.id;
        } catch (err) {
          // Any error of this call concerns the directory input.
          if (err instanceof ApiError) {
            const mapped = mapErrors(err.errors, { path: 'code_dir' });
            setErrors({ code_dir: mapped.fields.code_dir ?? err.message });
          } else {
            setErrors({ code_dir: String(err) });
          }
          return;
        }
      }
      setBusy('Submitting…');
      const job = await submitJob(spec);
      setForm(INITIAL);
      props.onSubmitted(job);
    } catch (err) {
      if (err instanceof ApiError) {
        const mapped = mapErrors(err.errors);
        setErrors(mapped.fields);
        const messages = mapped.other.length ? mapped.other : [];
        if (Object.keys(mapped.fields).length === 0 && messages.length === 0) {
          messages.push(err.message);
        }
        setGeneral(messages);
      } else {
        setGeneral([String(err)]);
      }
    } finally {
      setBusy(null);
    }
  };

  const field = (
    name: FieldName,
    label: string,
    input: JSX.Element,
    hint?: string
  ): JSX.Element => (
    <div
      className={`sxwl-field${errors[name] ? ' sxwl-field-invalid' : ''}`}
      data-field={name}
    >
      <label htmlFor={`sxwl-submit-${name}`}>{label}</label>
      {input}
      {hint && !errors[name] && <div className="sxwl-hint">{hint}</div>}
      {errors[name] && (
        <div
          className="sxwl-field-error"
          id={`sxwl-error-${name}`}
          data-testid={`sxwl-error-${name}`}
          role="alert"
        >
          {errors[name]}
        </div>
      )}
    </div>
  );

  const text = (name: FieldName, placeholder = ''): JSX.Element => (
    <input
      type="text"
      className="jp-mod-styled"
      id={`sxwl-submit-${name}`}
      data-testid={`sxwl-submit-${name}`}
      value={form[name]}
      placeholder={placeholder}
      onChange={set(name)}
      aria-invalid={errors[name] ? true : undefined}
    />
  );

  const number = (
    name: FieldName,
    opts: { min?: number; max?: number; step?: number; disabled?: boolean } = {}
  ): JSX.Element => (
    <input
      type="number"
      className="jp-mod-styled"
      id={`sxwl-submit-${name}`}
      data-testid={`sxwl-submit-${name}`}
      value={form[name]}
      min={opts.min}
      max={opts.max}
      step={opts.step ?? 1}
      disabled={opts.disabled}
      placeholder="default"
      onChange={set(name)}
      aria-invalid={errors[name] ? true : undefined}
    />
  );

  return (
    <form
      ref={formRef}
      className="sxwl-form"
      data-testid="sxwl-submit-form"
      onSubmit={e => void submit(e)}
      noValidate
    >
      <div className="sxwl-view-head">
        <button
          type="button"
          className="jp-Button jp-mod-styled jp-mod-minimal sxwl-link-button"
          data-testid="sxwl-back"
          onClick={props.onCancel}
        >
          ← Jobs
        </button>
        <h3>New training job</h3>
      </div>
      {general.length > 0 && (
        <div
          className="sxwl-error-banner"
          data-testid="sxwl-submit-error"
          role="alert"
        >
          {general.map((m, i) => (
            <div key={i}>{m}</div>
          ))}
        </div>
      )}

      <fieldset>
        <legend>Job</legend>
        {field('name', 'Name', text('name', 'bert-ddp'))}
        {field(
          'command',
          'Command',
          <textarea
            className="jp-mod-styled sxwl-mono"
            id="sxwl-submit-command"
            data-testid="sxwl-submit-command"
            rows={3}
            value={form.command}
            placeholder="python train.py --epochs 3"
            onChange={set('command')}
            aria-invalid={errors.command ? true : undefined}
          />
        )}
        {field(
          'job_type',
          'Job type',
          <HTMLSelect
            className="sxwl-select"
            id="sxwl-submit-job_type"
            data-testid="sxwl-submit-job_type"
            value={form.job_type}
            onChange={onJobType}
          >
            {JOB_TYPES.map(t => (
              <option key={t} value={t}>
                {JOB_TYPE_LABELS[t]}
              </option>
            ))}
          </HTMLSelect>
        )}
        <div className="sxwl-pair">
          {field(
            'nodes',
            'Nodes',
            number('nodes', { min: 1, disabled: single })
          )}
          {field(
            'procs_per_node',
            'Processes (GPUs) per node',
            number('procs_per_node', { min: 1, disabled: single })
          )}
        </div>
      </fieldset>

      <fieldset>
        <legend>Resources</legend>
        <div className="sxwl-pair">
          {field(
            'flavour',
            'Flavour',
            <HTMLSelect
              className="sxwl-select"
              id="sxwl-submit-flavour"
              data-testid="sxwl-submit-flavour"
              value={form.flavour}
              onChange={onFlavour}
            >
              {flavours.map(f => (
                <option key={f.name} value={f.name} title={f.description}>
                  {f.name}
                  {f.accelerators_per_node > 0
                    ? ` (${f.accelerators_per_node}/node)`
                    : ''}
                </option>
              ))}
            </HTMLSelect>,
            flavour?.description
          )}
          {field(
            'accelerators_per_node',
            'Accelerators per node',
            number('accelerators_per_node', {
              min: 0,
              max: maxAccelerators,
              disabled: maxAccelerators === 0
            }),
            maxAccelerators > 0 ? `at most ${maxAccelerators}` : 'CPU only'
          )}
        </div>
        <div className="sxwl-pair">
          {field(
            'cpu_per_node',
            'CPU per node',
            number('cpu_per_node', { min: 0, step: 0.5 }),
            flavour ? `up to ${flavour.cpu_per_node}` : undefined
          )}
          {field(
            'memory_gb_per_node',
            'Memory GB per node',
            number('memory_gb_per_node', { min: 0, step: 0.5 }),
            flavour ? `up to ${flavour.memory_gb_per_node}` : undefined
          )}
        </div>
        <div className="sxwl-pair">
          {field(
            'queue',
            'Queue',
            <HTMLSelect
              className="sxwl-select"
              id="sxwl-submit-queue"
              data-testid="sxwl-submit-queue"
              value={form.queue}
              onChange={set('queue')}
            >
              {queues.map(q => (
                <option key={q.name} value={q.name}>
                  {q.name} ({q.running} running, {q.pending} waiting)
                </option>
              ))}
            </HTMLSelect>
          )}
          {field(
            'priority',
            'Priority',
            <HTMLSelect
              className="sxwl-select"
              id="sxwl-submit-priority"
              data-testid="sxwl-submit-priority"
              value={form.priority}
              onChange={set('priority')}
            >
              {priorities.map(p => (
                <option key={p} value={p}>
                  {p}
                </option>
              ))}
            </HTMLSelect>
          )}
        </div>
      </fieldset>

      <fieldset>
        <legend>Code and environment</legend>
        {field(
          'code_dir',
          'Code directory',
          <>
            {text('code_dir', 'a folder of this lab, e.g. projects/bert')}
            <button
              type="button"
              className="sxwl-small-link"
              data-testid="sxwl-submit-code_dir-browser"
              title="Use the folder open in the file browser"
              onClick={useBrowserFolder}
            >
              use the file browser's folder
            </button>
          </>,
          'packed and uploaded when you submit; leave empty to run without code'
        )}
        {field('working_dir', 'Working directory', text('working_dir', '.'))}
        {field(
          'env',
          'Environment',
          <textarea
            className="jp-mod-styled sxwl-mono"
            id="sxwl-submit-env"
            data-testid="sxwl-submit-env"
            rows={3}
            value={form.env}
            placeholder={'LR=0.1\nEPOCHS=3'}
            onChange={set('env')}
            aria-invalid={errors.env ? true : undefined}
          />,
          'one KEY=VALUE per line'
        )}
        {field('image', 'Image (optional)', text('image', 'platform default'))}
      </fieldset>

      <fieldset>
        <legend>Checkpoints and model</legend>
        <div className="sxwl-pair">
          {field(
            'checkpoint_path',
            'Checkpoint path',
            text('checkpoint_path', 'checkpoints')
          )}
          {field(
            'checkpoint_capacity_gb',
            'Capacity GB',
            number('checkpoint_capacity_gb', { min: 0 })
          )}
        </div>
        <div className="sxwl-pair">
          {field('model_path', 'Model save path', text('model_path', 'output'))}
          {field(
            'model_capacity_gb',
            'Capacity GB',
            number('model_capacity_gb', { min: 0 })
          )}
        </div>
      </fieldset>

      <fieldset>
        <legend>Termination</legend>
        <div className="sxwl-field" data-field="termination">
          <label className="sxwl-check">
            <input
              type="radio"
              name="sxwl-termination"
              data-testid="sxwl-submit-termination-end"
              checked={form.termination === 'end'}
              onChange={() => setForm(f => ({ ...f, termination: 'end' }))}
            />
            Run to the end
          </label>
          <label className="sxwl-check">
            <input
              type="radio"
              name="sxwl-termination"
              data-testid="sxwl-submit-termination-limit"
              checked={form.termination === 'limit'}
              onChange={() => setForm(f => ({ ...f, termination: 'limit' }))}
            />
            Stop after a maximum run time
          </label>
        </div>
        {form.termination === 'limit' &&
          field(
            'max_run_minutes',
            'Maximum run minutes',
            number('max_run_minutes', { min: 1 })
          )}
      </fieldset>

      <FormActions
        testid="sxwl-submit-button"
        id="sxwl-submit-button"
        disabled={busy !== null}
        onCancel={props.onCancel}
      >
        {busy ?? 'Submit'}
      </FormActions>
    </form>
  );
}

const JOB_TYPE_LABELS: Record<JobType, string> = {
  single: 'Single process',
  pytorch: 'PyTorch DDP (torchrun)',
  mpi: 'MPI (mpirun)',
  deepspeed: 'DeepSpeed'
};

function pickDefault(names: string[], preferred: string): string {
  return names.includes(preferred) ? preferred : (names[0] ?? '');
}
