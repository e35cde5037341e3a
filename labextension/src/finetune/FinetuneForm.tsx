import { HTMLSelect } from '@jupyterlab/ui-components';
import * as React from 'react';

import {
  ApiError,
  IDataset,
  IFlavour,
  IModel,
  IModelVersion,
  IQueue,
  getModel,
  listDatasets,
  listFlavours,
  listModels,
  listQueues
} from '../api';
import { BackHead } from '../BackHead';
import { SxwlContext } from '../context';
import { Field, FormActions } from '../Field';
import { errorText } from '../format';
import { usePolling } from '../hooks';
import {
  FinetuneMethod,
  IDatasetRef,
  IFinetune,
  IFinetuneDefaults,
  IFinetuneResources,
  IParamField,
  METHODS,
  createFinetune,
  getFinetuneDefaults,
  parseFinetuneYaml
} from './api';
import {
  ParamTexts,
  isNullable,
  methodOf,
  paramKind,
  paramTexts,
  readParams,
  spreadErrors,
  withMethod
} from './params';

/** The preset model the form starts with: it trains in a minute on CPU. */
export const TINY_MODEL = 'sxwl-tiny-llama';

/** Annotation types whose records can feed supervised fine-tuning. */
const SFT_TYPES = ['instruction', 'sharegpt', 'qa'];

/** Parameters with an input in the main part of the form (in this order). */
const MAIN_PARAMS = [
  'num_train_epochs',
  'learning_rate',
  'per_device_train_batch_size',
  'cutoff_len',
  'template'
];

const MAIN_LABELS: Record<string, string> = {
  num_train_epochs: 'Epochs',
  learning_rate: 'Learning rate',
  per_device_train_batch_size: 'Batch size (per device)',
  cutoff_len: 'Cutoff length (tokens)',
  template: 'Chat template'
};

const METHOD_HINTS: Record<FinetuneMethod, string> = {
  LoRA: 'low-rank adapters on the linear layers; the base stays frozen',
  'LoRA+': 'LoRA with a higher learning rate for the B matrices',
  QLoRA: 'LoRA on a 4-bit base model; needs a CUDA GPU',
  full: 'every weight is trained; needs the most memory'
};

type ResourceKey =
  | 'flavour'
  | 'accelerators_per_node'
  | 'nodes'
  | 'procs_per_node'
  | 'cpu_per_node'
  | 'memory_gb_per_node'
  | 'queue'
  | 'priority'
  | 'max_run_minutes';

const RESOURCE_DEFAULTS: Record<ResourceKey, string> = {
  flavour: 'cpu',
  accelerators_per_node: '0',
  nodes: '1',
  procs_per_node: '1',
  cpu_per_node: '2',
  memory_gb_per_node: '4',
  queue: 'default',
  priority: 'normal',
  max_run_minutes: ''
};

const RESOURCE_KEYS = Object.keys(RESOURCE_DEFAULTS) as ResourceKey[];

/** A dataset the user ticked, with the version as typed (empty: latest). */
interface IPicked {
  name: string;
  version: string;
}

/** A default name that tells fine-tunes apart: sft-0612-1530. */
function defaultName(): string {
  const d = new Date();
  const two = (n: number): string => String(n).padStart(2, '0');
  return `sft-${two(d.getMonth() + 1)}${two(d.getDate())}-${two(
    d.getHours()
  )}${two(d.getMinutes())}`;
}

export interface IFinetuneFormProps {
  onCreated: (ft: IFinetune) => void;
  onCancel: () => void;
}

/**
 * "New fine-tune": name, base model version, datasets, method and the common
 * parameters, resources, the whole parameter set under "Advanced" (generated
 * from `GET finetunes/defaults`), and an import of LLaMA-Factory YAML.
 */
export function FinetuneForm(props: IFinetuneFormProps): JSX.Element {
  const ctx = React.useContext(SxwlContext);
  const [defaults, setDefaults] = React.useState<IFinetuneDefaults | null>(
    null
  );
  const [models, setModels] = React.useState<IModel[] | null>(null);
  const [versions, setVersions] = React.useState<IModelVersion[]>([]);
  const [datasets, setDatasets] = React.useState<IDataset[] | null>(null);
  const [flavours, setFlavours] = React.useState<IFlavour[]>([]);
  const [queues, setQueues] = React.useState<IQueue[]>([]);

  const [name, setName] = React.useState(defaultName);
  const [model, setModel] = React.useState('');
  const [modelVersion, setModelVersion] = React.useState('');
  const [picked, setPicked] = React.useState<IPicked[]>([]);
  const [evalDatasets, setEvalDatasets] = React.useState<IDatasetRef[]>([]);
  const [params, setParams] = React.useState<ParamTexts>({});
  const [resources, setResources] =
    React.useState<Record<ResourceKey, string>>(RESOURCE_DEFAULTS);

  const [advanced, setAdvanced] = React.useState(false);
  const [yamlOpen, setYamlOpen] = React.useState(false);
  const [yaml, setYaml] = React.useState('');
  const [yamlNotice, setYamlNotice] = React.useState<string | null>(null);
  const [errors, setErrors] = React.useState<Record<string, string>>({});
  const [general, setGeneral] = React.useState<string[]>([]);
  const [busy, setBusy] = React.useState<string | null>(null);

  // Defaults, flavours and queues once; the parameters start at the defaults.
  React.useEffect(() => {
    let cancelled = false;
    getFinetuneDefaults()
      .then(d => {
        if (!cancelled) {
          setDefaults(d);
          setParams(p => ({ ...paramTexts(d.params), ...p }));
        }
      })
      .catch(e => {
        if (!cancelled) {
          setGeneral(g => [
            ...g,
            `cannot load the fine-tune defaults: ${errorText(e)}`
          ]);
        }
      });
    Promise.all([listFlavours(), listQueues()])
      .then(([fl, qu]) => {
        if (!cancelled) {
          setFlavours(fl);
          setQueues(qu);
        }
      })
      .catch(() => undefined);
    return () => {
      cancelled = true;
    };
  }, []);

  // Models and datasets are re-read now and then: the preset tiny model may
  // still be building, a dataset may be published meanwhile.
  const loadCatalogue = async (): Promise<void> => {
    try {
      const [ms, ds] = await Promise.all([listModels(), listDatasets()]);
      setModels(ms);
      setDatasets(ds);
    } catch (e) {
      setGeneral(g =>
        g.length ? g : [`cannot list models and datasets: ${errorText(e)}`]
      );
    }
  };
  usePolling(loadCatalogue, ctx.settings.refreshSeconds * 3000);

  const usableModels = (models ?? []).filter(m => m.versions_count > 0);

  // Start with the tiny preset model, else the first one with a version.
  React.useEffect(() => {
    if (model || !usableModels.length) {
      return;
    }
    const tiny = usableModels.find(m => m.name === TINY_MODEL);
    setModel((tiny ?? usableModels[0]).name);
  }, [models]);

  // The chosen model's ready versions; the newest is preselected.
  const chosen = (models ?? []).find(m => m.name === model);
  const chosenKey = chosen
    ? `${chosen.id}:${chosen.latest_version}:${chosen.latest?.status}`
    : '';
  React.useEffect(() => {
    if (!chosen) {
      setVersions([]);
      return;
    }
    let cancelled = false;
    getModel(chosen.id)
      .then(m => {
        if (cancelled) {
          return;
        }
        const ready = (m.versions ?? []).filter(v => v.status === 'ready');
        setVersions(ready);
        setModelVersion(current =>
          ready.some(v => String(v.number) === current)
            ? current
            : ready.length
              ? String(Math.max(...ready.map(v => v.number)))
              : current
        );
      })
      .catch(() => setVersions([]));
    return () => {
      cancelled = true;
    };
  }, [chosenKey]);

  const sftDatasets = (datasets ?? []).filter(
    d => d.latest_version !== null && SFT_TYPES.includes(d.annotation_type)
  );
  // Datasets a YAML file named that the list does not have stay visible, so
  // the platform's message about them shows at the datasets.
  const unknownPicked = picked.filter(
    p => !sftDatasets.some(d => d.name === p.name)
  );

  const fields: IParamField[] = defaults?.fields ?? [];
  const fieldOf = (key: string): IParamField | undefined =>
    fields.find(f => f.name === key);
  const advancedFields = fields.filter(f => !MAIN_PARAMS.includes(f.name));
  const method = methodOf(params);

  const inputs = React.useMemo(
    () =>
      new Set<string>([
        'name',
        'model',
        'datasets',
        'yaml',
        ...fields.map(f => f.name),
        ...RESOURCE_KEYS
      ]),
    [defaults]
  );

  const clearError = (key: string): void =>
    setErrors(errs => {
      if (!(key in errs)) {
        return errs;
      }
      const next = { ...errs };
      delete next[key];
      return next;
    });

  const setParam = (key: string, value: string | boolean): void => {
    setParams(p => ({ ...p, [key]: value }));
    clearError(key);
  };

  const setResource = (key: ResourceKey, value: string): void => {
    setResources(r => ({ ...r, [key]: value }));
    clearError(key);
  };

  const togglePicked = (dsName: string, on: boolean): void => {
    setPicked(p =>
      on
        ? [...p.filter(x => x.name !== dsName), { name: dsName, version: '' }]
        : p.filter(x => x.name !== dsName)
    );
    clearError('datasets');
  };

  const setPickedVersion = (dsName: string, version: string): void =>
    setPicked(p => p.map(x => (x.name === dsName ? { ...x, version } : x)));

  // An error about a parameter under "Advanced" opens the fold; the first
  // message is brought into view either way.
  const formRef = React.useRef<HTMLFormElement>(null);
  React.useEffect(() => {
    if (Object.keys(errors).some(k => advancedFields.some(f => f.name === k))) {
      setAdvanced(true);
    }
    const first = formRef.current?.querySelector<HTMLElement>(
      '.sxwl-error-banner, .sxwl-field-invalid'
    );
    first?.scrollIntoView({ block: 'center' });
  }, [errors, general]);

  const importYaml = async (): Promise<void> => {
    if (!yaml.trim()) {
      setErrors({ yaml: 'paste a LLaMA-Factory YAML file or choose one' });
      return;
    }
    setBusy('Reading the YAML…');
    setYamlNotice(null);
    try {
      const parsed = await parseFinetuneYaml(yaml);
      if (parsed.model) {
        setModel(parsed.model);
        setModelVersion(
          parsed.model_version === null || parsed.model_version === undefined
            ? ''
            : String(parsed.model_version)
        );
      }
      if (parsed.datasets.length) {
        setPicked(
          parsed.datasets.map(d => ({
            name: d.name,
            version:
              d.version === null || d.version === undefined
                ? ''
                : String(d.version)
          }))
        );
      }
      setEvalDatasets(parsed.eval_datasets ?? []);
      setParams(p => ({
        ...p,
        ...paramTexts({ ...(defaults?.params ?? {}), ...parsed.params })
      }));
      const ignored = Object.entries(parsed.ignored ?? {});
      setYamlNotice(
        `Filled the form from the YAML: ${Object.keys(parsed.params).length} parameter(s)` +
          (ignored.length
            ? `; ignored ${ignored.map(([k, why]) => `${k} (${why})`).join(', ')}`
            : '') +
          '.'
      );
      setErrors({});
      setGeneral([]);
    } catch (err) {
      // Everything wrong with the file is shown at the YAML box.
      const messages =
        err instanceof ApiError && err.errors.length
          ? err.errors.map(e =>
              e.field && e.field !== 'yaml'
                ? `${e.field}: ${e.message}`
                : e.message
            )
          : [errorText(err)];
      setErrors({ yaml: messages.join('\n') });
    } finally {
      setBusy(null);
    }
  };

  const readYamlFile = (file: File | undefined): void => {
    if (!file) {
      return;
    }
    void file.text().then(text => {
      setYaml(text);
      clearError('yaml');
    });
  };

  const submit = async (e: React.FormEvent): Promise<void> => {
    e.preventDefault();
    if (busy || !defaults) {
      return;
    }
    const local: Record<string, string> = {};
    if (!name.trim()) {
      local.name = 'give the fine-tune a name';
    }
    if (!model) {
      local.model = 'choose a base model with a ready version';
    }
    if (!picked.length) {
      local.datasets = 'tick at least one published dataset';
    }
    const read = readParams(fields, params);
    Object.assign(local, read.errors);
    const res: IFinetuneResources = {};
    for (const key of RESOURCE_KEYS) {
      const text = resources[key].trim();
      if (key === 'flavour' || key === 'queue' || key === 'priority') {
        if (text) {
          res[key] = text;
        }
      } else if (!text) {
        if (key === 'max_run_minutes') {
          res.max_run_minutes = null;
        }
      } else if (!Number.isFinite(Number(text))) {
        local[key] = 'enter a number';
      } else {
        res[key] = Number(text);
      }
    }
    setGeneral([]);
    if (Object.keys(local).length) {
      setErrors(local);
      return;
    }
    setErrors({});
    setBusy('Creating…');
    try {
      const ft = await createFinetune({
        name: name.trim(),
        model,
        model_version: modelVersion ? Number(modelVersion) : undefined,
        datasets: picked.map(p => ({
          name: p.name,
          version: p.version ? Number(p.version) : undefined
        })),
        eval_datasets: evalDatasets.length ? evalDatasets : undefined,
        params: read.params,
        resources: res
      });
      props.onCreated(ft);
    } catch (err) {
      if (err instanceof ApiError && err.errors.length) {
        const spread = spreadErrors(err.errors, inputs);
        setErrors(spread.fields);
        setGeneral(spread.other);
      } else {
        setGeneral([errorText(err)]);
      }
    } finally {
      setBusy(null);
    }
  };

  const id = 'sxwl-ft';
  const paramInput = (field: IParamField): JSX.Element => {
    const key = field.name;
    const value = params[key];
    const common = {
      id: `${id}-${key}`,
      'data-testid': `${id}-${key}`,
      'aria-invalid': errors[key] ? true : undefined
    };
    const kind = paramKind(field);
    if (kind === 'bool') {
      return (
        <input
          type="checkbox"
          {...common}
          checked={value === true}
          onChange={e => setParam(key, e.target.checked)}
        />
      );
    }
    const choices =
      field.choices ??
      (key === 'template'
        ? defaults?.templates
        : key === 'lr_scheduler_type'
          ? defaults?.lr_scheduler_types
          : key === 'finetuning_type'
            ? defaults?.finetuning_types
            : undefined);
    if (choices && choices.length) {
      return (
        <HTMLSelect
          className="sxwl-select"
          {...common}
          value={typeof value === 'string' ? value : ''}
          onChange={e => setParam(key, e.target.value)}
        >
          {isNullable(field) && (
            <option value="">
              {key === 'template' ? 'automatic' : '(none)'}
            </option>
          )}
          {choices.map(c => (
            <option key={String(c)} value={String(c)}>
              {String(c)}
            </option>
          ))}
        </HTMLSelect>
      );
    }
    return (
      <input
        type="text"
        inputMode={kind === 'string' ? undefined : 'decimal'}
        className="jp-mod-styled"
        {...common}
        value={typeof value === 'string' ? value : ''}
        placeholder={isNullable(field) ? 'empty: none' : undefined}
        onChange={e => setParam(key, e.target.value)}
      />
    );
  };

  const paramField = (field: IParamField, label?: string): JSX.Element => (
    <Field
      key={field.name}
      name={field.name}
      label={label ?? field.name}
      error={errors[field.name]}
      hint={field.description}
      idPrefix={id}
    >
      {paramInput(field)}
    </Field>
  );

  const resourceInput = (key: ResourceKey, label: string): JSX.Element => (
    <Field name={key} label={label} error={errors[key]} idPrefix={id}>
      <input
        type="text"
        inputMode="decimal"
        className="jp-mod-styled"
        id={`${id}-${key}`}
        data-testid={`${id}-${key}`}
        value={resources[key]}
        placeholder={key === 'max_run_minutes' ? 'no limit' : undefined}
        onChange={e => setResource(key, e.target.value)}
      />
    </Field>
  );

  const priorities = ctx.info?.priorities?.length
    ? ctx.info.priorities
    : ['low', 'normal', 'high'];

  return (
    <form
      ref={formRef}
      className="sxwl-form sxwl-ft-form"
      data-testid="sxwl-ft-form"
      onSubmit={e => void submit(e)}
      noValidate
    >
      <BackHead label="Fine-tunes" onBack={props.onCancel} />
      <div className="sxwl-title-row">
        <h3>New fine-tune</h3>
      </div>
      {general.length > 0 && (
        <div
          className="sxwl-error-banner"
          data-testid="sxwl-ft-form-error"
          role="alert"
        >
          {general.map((m, i) => (
            <div key={i}>{m}</div>
          ))}
        </div>
      )}

      <details
        className="sxwl-section"
        open={yamlOpen}
        onToggle={e => setYamlOpen((e.target as HTMLDetailsElement).open)}
      >
        <summary data-testid="sxwl-ft-yaml-toggle">
          Import LLaMA-Factory YAML
        </summary>
        <Field
          name="yaml"
          label="YAML"
          error={errors.yaml}
          hint="A LLaMA-Factory train file (model_name_or_path, dataset, finetuning_type, …). It fills this form; nothing starts yet."
          idPrefix={id}
        >
          <textarea
            className="jp-mod-styled sxwl-mono"
            id={`${id}-yaml`}
            data-testid={`${id}-yaml`}
            rows={6}
            value={yaml}
            placeholder={
              'model_name_or_path: sxwl-tiny-llama\ndataset: alpaca_en_demo\nfinetuning_type: lora\nlearning_rate: 1.0e-4'
            }
            onChange={e => {
              setYaml(e.target.value);
              clearError('yaml');
            }}
          />
        </Field>
        <div className="sxwl-form-actions">
          <input
            type="file"
            accept=".yaml,.yml,text/yaml"
            data-testid="sxwl-ft-yaml-file"
            aria-label="Choose a YAML file"
            onChange={e => readYamlFile(e.target.files?.[0])}
          />
          <button
            type="button"
            className="jp-Button jp-mod-styled"
            data-testid="sxwl-ft-yaml-apply"
            disabled={busy !== null}
            onClick={() => void importYaml()}
          >
            Fill the form
          </button>
        </div>
        {yamlNotice && (
          <div className="sxwl-message" data-testid="sxwl-ft-yaml-notice">
            {yamlNotice}
          </div>
        )}
      </details>

      <fieldset>
        <legend>Fine-tune</legend>
        <Field name="name" label="Name" error={errors.name} idPrefix={id}>
          <input
            type="text"
            className="jp-mod-styled"
            id={`${id}-name`}
            data-testid={`${id}-name`}
            value={name}
            onChange={e => {
              setName(e.target.value);
              clearError('name');
            }}
          />
        </Field>
        <div className="sxwl-pair">
          <Field
            name="model"
            label="Base model"
            error={errors.model}
            idPrefix={id}
            hint={
              models === null
                ? 'loading models…'
                : usableModels.length
                  ? undefined
                  : 'no model with a version yet; import one in the Models tab'
            }
          >
            <HTMLSelect
              className="sxwl-select"
              id={`${id}-model`}
              data-testid={`${id}-model`}
              value={model}
              onChange={e => {
                setModel(e.target.value);
                setModelVersion('');
                clearError('model');
              }}
            >
              {!usableModels.some(m => m.name === model) && (
                <option value={model}>{model || '(choose)'}</option>
              )}
              {usableModels.map(m => (
                <option key={m.id} value={m.name}>
                  {m.name}
                  {m.preset ? ' (preset)' : ''}
                </option>
              ))}
            </HTMLSelect>
          </Field>
          <Field
            name="model_version"
            label="Version"
            idPrefix={id}
            hint={
              chosen && !versions.length ? 'no ready version yet' : undefined
            }
          >
            <HTMLSelect
              className="sxwl-select"
              id={`${id}-model_version`}
              data-testid={`${id}-model_version`}
              value={modelVersion}
              onChange={e => {
                setModelVersion(e.target.value);
                clearError('model');
              }}
            >
              <option value="">latest ready</option>
              {modelVersion &&
                !versions.some(v => String(v.number) === modelVersion) && (
                  <option value={modelVersion}>v{modelVersion}</option>
                )}
              {[...versions]
                .sort((a, b) => b.number - a.number)
                .map(v => (
                  <option key={v.number} value={String(v.number)}>
                    v{v.number}
                  </option>
                ))}
            </HTMLSelect>
          </Field>
        </div>
        <Field
          name="datasets"
          label="Datasets (published; instruction, ShareGPT or Q&A)"
          error={errors.datasets}
          idPrefix={id}
        >
          <ul className="sxwl-ft-datasets" data-testid="sxwl-ft-datasets">
            {datasets === null && <li className="sxwl-muted">Loading…</li>}
            {datasets !== null &&
              sftDatasets.length === 0 &&
              unknownPicked.length === 0 && (
                <li className="sxwl-muted">
                  No published dataset fits SFT yet.
                </li>
              )}
            {sftDatasets.map(d => {
              const pick = picked.find(p => p.name === d.name);
              return (
                <li key={d.id} title={d.description}>
                  <label className="sxwl-check sxwl-grow">
                    <input
                      type="checkbox"
                      data-testid={`sxwl-ft-dataset-${d.name}`}
                      checked={pick !== undefined}
                      onChange={e => togglePicked(d.name, e.target.checked)}
                    />
                    <span className="sxwl-ft-ds">
                      {d.name}
                      <span className="sxwl-muted sxwl-ft-ds-meta">
                        {d.annotation_type}
                        {d.latest ? `, ${d.latest.records} records` : ''}
                        {d.preset ? ', preset' : ''}
                      </span>
                    </span>
                  </label>
                  {pick && (d.latest_version ?? 0) > 1 && (
                    <HTMLSelect
                      className="sxwl-select"
                      aria-label={`Version of ${d.name}`}
                      value={pick.version}
                      onChange={e => setPickedVersion(d.name, e.target.value)}
                    >
                      <option value="">latest</option>
                      {Array.from(
                        { length: d.latest_version ?? 0 },
                        (_, i) => (d.latest_version ?? 0) - i
                      ).map(n => (
                        <option key={n} value={String(n)}>
                          v{n}
                        </option>
                      ))}
                    </HTMLSelect>
                  )}
                </li>
              );
            })}
            {unknownPicked.map(p => (
              <li key={p.name}>
                <label className="sxwl-check sxwl-grow">
                  <input
                    type="checkbox"
                    checked
                    onChange={() => togglePicked(p.name, false)}
                  />
                  {p.name}
                  {p.version ? ` v${p.version}` : ''}
                  <span className="sxwl-muted"> (not in your datasets)</span>
                </label>
              </li>
            ))}
          </ul>
        </Field>
        {evalDatasets.length > 0 && (
          <div className="sxwl-muted" data-testid="sxwl-ft-eval-datasets">
            Evaluated on:{' '}
            {evalDatasets
              .map(d => (d.version ? `${d.name} v${d.version}` : d.name))
              .join(', ')}
            <button
              type="button"
              className="sxwl-small-link"
              onClick={() => setEvalDatasets([])}
            >
              use the validation split
            </button>
          </div>
        )}
      </fieldset>

      <fieldset>
        <legend>Training</legend>
        <Field
          name="method"
          label="Method"
          idPrefix={id}
          hint={METHOD_HINTS[method]}
        >
          <HTMLSelect
            className="sxwl-select"
            id={`${id}-method`}
            data-testid={`${id}-method`}
            value={method}
            disabled={!defaults}
            onChange={e =>
              setParams(p => withMethod(p, e.target.value as FinetuneMethod))
            }
          >
            {METHODS.map(m => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </HTMLSelect>
        </Field>
        {!defaults && <div className="sxwl-muted">Loading parameters…</div>}
        <div className="sxwl-pair">
          {MAIN_PARAMS.slice(0, 2).map(key => {
            const f = fieldOf(key);
            return f ? paramField(f, MAIN_LABELS[key]) : null;
          })}
        </div>
        <div className="sxwl-pair">
          {MAIN_PARAMS.slice(2, 4).map(key => {
            const f = fieldOf(key);
            return f ? paramField(f, MAIN_LABELS[key]) : null;
          })}
        </div>
        {fieldOf('template') &&
          paramField(fieldOf('template') as IParamField, MAIN_LABELS.template)}
      </fieldset>

      <fieldset>
        <legend>Resources</legend>
        <div className="sxwl-pair">
          <Field
            name="flavour"
            label="Flavour"
            error={errors.flavour}
            idPrefix={id}
          >
            <HTMLSelect
              className="sxwl-select"
              id={`${id}-flavour`}
              data-testid={`${id}-flavour`}
              value={resources.flavour}
              onChange={e => {
                const next = flavours.find(f => f.name === e.target.value);
                setResources(r => ({
                  ...r,
                  flavour: e.target.value,
                  accelerators_per_node:
                    next && next.accelerators_per_node > 0 ? '1' : '0'
                }));
                clearError('flavour');
              }}
            >
              {!flavours.some(f => f.name === resources.flavour) && (
                <option value={resources.flavour}>{resources.flavour}</option>
              )}
              {flavours.map(f => (
                <option key={f.name} value={f.name} title={f.description}>
                  {f.name}
                  {f.accelerators_per_node > 0
                    ? ` (${f.accelerators_per_node}/node)`
                    : ''}
                </option>
              ))}
            </HTMLSelect>
          </Field>
          {resourceInput('accelerators_per_node', 'Accelerators per node')}
        </div>
        <div className="sxwl-pair">
          {resourceInput('nodes', 'Nodes')}
          {resourceInput('procs_per_node', 'Processes per node')}
        </div>
        <div className="sxwl-pair">
          {resourceInput('cpu_per_node', 'CPU per node')}
          {resourceInput('memory_gb_per_node', 'Memory GB per node')}
        </div>
        <div className="sxwl-pair">
          <Field name="queue" label="Queue" error={errors.queue} idPrefix={id}>
            <HTMLSelect
              className="sxwl-select"
              id={`${id}-queue`}
              data-testid={`${id}-queue`}
              value={resources.queue}
              onChange={e => setResource('queue', e.target.value)}
            >
              {!queues.some(q => q.name === resources.queue) && (
                <option value={resources.queue}>{resources.queue}</option>
              )}
              {queues.map(q => (
                <option key={q.name} value={q.name}>
                  {q.name}
                </option>
              ))}
            </HTMLSelect>
          </Field>
          <Field
            name="priority"
            label="Priority"
            error={errors.priority}
            idPrefix={id}
          >
            <HTMLSelect
              className="sxwl-select"
              id={`${id}-priority`}
              data-testid={`${id}-priority`}
              value={resources.priority}
              onChange={e => setResource('priority', e.target.value)}
            >
              {priorities.map(p => (
                <option key={p} value={p}>
                  {p}
                </option>
              ))}
            </HTMLSelect>
          </Field>
        </div>
        {resourceInput('max_run_minutes', 'Maximum run minutes')}
      </fieldset>

      <details
        className="sxwl-section sxwl-ft-advanced"
        open={advanced}
        onToggle={e => setAdvanced((e.target as HTMLDetailsElement).open)}
      >
        <summary data-testid="sxwl-ft-advanced">
          Advanced: all {fields.length} parameters (LLaMA-Factory names)
        </summary>
        <div className="sxwl-ft-params">
          {advancedFields.map(f => paramField(f))}
        </div>
      </details>

      <FormActions
        testid="sxwl-ft-submit"
        disabled={busy !== null || !defaults}
        onCancel={props.onCancel}
      >
        {busy ?? 'Start fine-tune'}
      </FormActions>
    </form>
  );
}
