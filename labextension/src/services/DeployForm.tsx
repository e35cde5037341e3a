import * as React from 'react';

import { ApiError } from '../api';
import { BackHead } from '../BackHead';
import { SxwlContext } from '../context';
import { Field, FormActions } from '../Field';
import { formErrors } from '../formErrors';
import {
  IModelRef,
  IService,
  IServiceSpec,
  ServiceKind,
  createService
} from './api';
import { ModelPicker, useModels } from './ModelPicker';

/** The inputs errors can be shown at (problem+json `errors[].field` heads). */
const INPUTS = [
  'name',
  'kind',
  'model',
  'adapter',
  'image',
  'code_package',
  'requirements',
  'env',
  'command',
  'port',
  'resources',
  'sleep_after_minutes',
  'https'
];

const PREFIX = 'sxwl-svc';

/** `KEY=VALUE` lines -> an object; blank lines and `#` comments skipped. */
export function parseEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith('#')) {
      continue;
    }
    const cut = trimmed.indexOf('=');
    if (cut > 0) {
      env[trimmed.slice(0, cut).trim()] = trimmed.slice(cut + 1);
    } else {
      env[trimmed] = '';
    }
  }
  return env;
}

function num(text: string): number | undefined {
  return text.trim() === '' ? undefined : Number(text);
}

/**
 * Deploy a service: an LLM from a model version (and an adapter on top),
 * or any app (image, code, requirements, env, command, port); resources, a
 * sleep policy and the HTTPS domain with its certificate.
 */
export function DeployForm(props: {
  onCancel: () => void;
  onDeployed: (s: IService) => void;
}): JSX.Element {
  const ctx = React.useContext(SxwlContext);
  const { models, error: modelsError } = useModels();
  const [name, setName] = React.useState('');
  const [kind, setKind] = React.useState<ServiceKind>('llm');
  const [model, setModel] = React.useState<IModelRef | null>(null);
  const [adapter, setAdapter] = React.useState<IModelRef | null>(null);
  const [image, setImage] = React.useState('');
  const [codePackage, setCodePackage] = React.useState('');
  const [requirements, setRequirements] = React.useState('');
  const [env, setEnv] = React.useState('');
  const [command, setCommand] = React.useState('');
  const [port, setPort] = React.useState('');
  const [flavour, setFlavour] = React.useState('');
  const [queue, setQueue] = React.useState('');
  const [cpu, setCpu] = React.useState('');
  const [memory, setMemory] = React.useState('');
  const [accelerators, setAccelerators] = React.useState('');
  const [replicas, setReplicas] = React.useState('1');
  const [sleep, setSleep] = React.useState('');
  const [domain, setDomain] = React.useState('');
  const [certificate, setCertificate] = React.useState('');
  const [privateKey, setPrivateKey] = React.useState('');
  const [busy, setBusy] = React.useState(false);
  const [errors, setErrors] = React.useState<Record<string, string>>({});
  const [general, setGeneral] = React.useState<string | null>(null);

  // The preset tiny model first, so a first deploy is one click away.
  React.useEffect(() => {
    if (models && models.length && !model && kind === 'llm') {
      const tiny = models.find(m => m.name === 'sxwl-tiny-llama') ?? models[0];
      setModel({ name: tiny.name });
    }
  }, [models]);

  const spec = (): IServiceSpec => {
    const resources = {
      flavour: flavour || undefined,
      queue: queue || undefined,
      cpu: num(cpu),
      memory_gb: num(memory),
      accelerators: num(accelerators),
      replicas: num(replicas)
    };
    const body: IServiceSpec = {
      name: name.trim(),
      kind,
      resources: Object.fromEntries(
        Object.entries(resources).filter(([, v]) => v !== undefined)
      ),
      sleep_after_minutes: num(sleep) ?? null
    };
    if (kind === 'llm') {
      if (model) {
        body.model = model.version ? model : { name: model.name };
      }
      body.adapter = adapter
        ? adapter.version
          ? adapter
          : { name: adapter.name }
        : null;
    } else {
      Object.assign(
        body,
        Object.fromEntries(
          Object.entries({
            image: image.trim() || undefined,
            code_package: codePackage.trim() || undefined,
            requirements: requirements.trim() || undefined,
            command: command.trim() || undefined,
            port: num(port)
          }).filter(([, v]) => v !== undefined)
        )
      );
    }
    if (env.trim()) {
      body.env = parseEnv(env);
    }
    if (domain.trim() || certificate.trim() || privateKey.trim()) {
      body.https = {
        domain: domain.trim(),
        certificate,
        private_key: privateKey
      };
    }
    return body;
  };

  const submit = async (): Promise<void> => {
    const local: Record<string, string> = {};
    if (!name.trim()) {
      local.name = 'Give the service a name (letters, digits, -).';
    }
    if (kind === 'llm' && !model) {
      local.model = 'Choose the model version to serve.';
    }
    if (kind === 'custom' && !command.trim()) {
      local.command = 'Give the command that starts the app.';
    }
    setErrors(local);
    setGeneral(null);
    if (Object.keys(local).length) {
      return;
    }
    setBusy(true);
    try {
      props.onDeployed(await createService(spec()));
    } catch (e) {
      const spread = formErrors(e, INPUTS);
      // One input holds all the resources: say which of them is wrong.
      if (e instanceof ApiError) {
        const parts = e.errors
          .filter(x => String(x.field ?? '').startsWith('resources.'))
          .map(
            x => `${String(x.field).slice('resources.'.length)}: ${x.message}`
          );
        if (parts.length) {
          spread.fields.resources = parts.join('; ');
        }
      }
      setErrors(spread.fields);
      setGeneral(spread.general);
    } finally {
      setBusy(false);
    }
  };

  const field = (
    key: string,
    label: string,
    input: React.ReactNode,
    hint?: string
  ): JSX.Element => (
    <Field
      name={key}
      label={label}
      error={errors[key]}
      hint={hint}
      idPrefix={PREFIX}
    >
      {input}
    </Field>
  );
  const flavours = ctx.info?.flavours ?? [];
  const queues = ctx.info?.queues ?? [];

  return (
    <form
      className="sxwl-form sxwl-svc-form"
      data-testid="sxwl-svc-form"
      onSubmit={e => {
        e.preventDefault();
        void submit();
      }}
    >
      <BackHead
        label="Services"
        title="Deploy a service"
        onBack={props.onCancel}
      />
      {general && (
        <div className="sxwl-error-banner" data-testid="sxwl-svc-form-error">
          {general}
        </div>
      )}
      {modelsError && <div className="sxwl-error-banner">{modelsError}</div>}
      {field(
        'name',
        'Name',
        <input
          id={`${PREFIX}-name`}
          type="text"
          data-testid="sxwl-svc-name"
          value={name}
          placeholder="tiny-chat"
          onChange={e => setName(e.target.value)}
        />,
        'Part of the address: /endpoints/NAME/'
      )}
      {field(
        'kind',
        'What to deploy',
        <div className="sxwl-inline-fields" id={`${PREFIX}-kind`}>
          <label>
            <input
              type="radio"
              name="sxwl-svc-kind"
              data-testid="sxwl-svc-kind-llm"
              checked={kind === 'llm'}
              onChange={() => setKind('llm')}
            />{' '}
            An LLM (OpenAI API)
          </label>
          <label>
            <input
              type="radio"
              name="sxwl-svc-kind"
              data-testid="sxwl-svc-kind-custom"
              checked={kind === 'custom'}
              onChange={() => setKind('custom')}
            />{' '}
            Any app
          </label>
        </div>
      )}
      {kind === 'llm' ? (
        <>
          {field(
            'model',
            'Model version',
            <ModelPicker
              id={`${PREFIX}-model`}
              models={models ?? []}
              value={model}
              onChange={setModel}
              testid="sxwl-svc-model"
            />,
            'A merged model, or the base of an adapter'
          )}
          {field(
            'adapter',
            'Adapter (optional)',
            <ModelPicker
              id={`${PREFIX}-adapter`}
              models={models ?? []}
              value={adapter}
              onChange={setAdapter}
              optional
              testid="sxwl-svc-adapter"
            />,
            'A LoRA adapter exported by a fine-tune, served on the base'
          )}
        </>
      ) : (
        <>
          {field(
            'image',
            'Image',
            <input
              id={`${PREFIX}-image`}
              type="text"
              value={image}
              placeholder="the platform's default"
              onChange={e => setImage(e.target.value)}
            />
          )}
          {field(
            'code_package',
            'Code package',
            <input
              id={`${PREFIX}-code_package`}
              type="text"
              value={codePackage}
              placeholder="code-… (optional)"
              onChange={e => setCodePackage(e.target.value)}
            />
          )}
          {field(
            'requirements',
            'Requirements',
            <textarea
              id={`${PREFIX}-requirements`}
              rows={3}
              value={requirements}
              placeholder={'gradio==4.44.0\nnumpy'}
              onChange={e => setRequirements(e.target.value)}
            />,
            'requirements.txt lines, installed before the start'
          )}
          {field(
            'command',
            'Start command',
            <input
              id={`${PREFIX}-command`}
              type="text"
              data-testid="sxwl-svc-command"
              value={command}
              placeholder="python app.py"
              onChange={e => setCommand(e.target.value)}
            />
          )}
          {field(
            'port',
            'Port',
            <input
              id={`${PREFIX}-port`}
              type="number"
              data-testid="sxwl-svc-port"
              value={port}
              placeholder="7860"
              onChange={e => setPort(e.target.value)}
            />,
            'Where the app listens; it also gets $SXWL_PORT'
          )}
        </>
      )}
      {field(
        'env',
        'Environment',
        <textarea
          id={`${PREFIX}-env`}
          rows={2}
          value={env}
          placeholder="KEY=VALUE, one a line"
          onChange={e => setEnv(e.target.value)}
        />
      )}
      {field(
        'resources',
        'Resources',
        <div className="sxwl-inline-fields" id={`${PREFIX}-resources`}>
          <select
            aria-label="Flavour"
            value={flavour}
            onChange={e => setFlavour(e.target.value)}
          >
            <option value="">default flavour</option>
            {flavours.map(f => (
              <option key={f.name} value={f.name}>
                {f.name}
              </option>
            ))}
          </select>
          <select
            aria-label="Queue"
            value={queue}
            onChange={e => setQueue(e.target.value)}
          >
            <option value="">default queue</option>
            {queues.map(q => (
              <option key={q.name} value={q.name}>
                {q.name}
              </option>
            ))}
          </select>
          <input
            aria-label="CPU cores"
            type="number"
            placeholder="CPU"
            value={cpu}
            data-testid="sxwl-svc-cpu"
            onChange={e => setCpu(e.target.value)}
          />
          <input
            aria-label="Memory GB"
            type="number"
            placeholder="GB"
            value={memory}
            onChange={e => setMemory(e.target.value)}
          />
          <input
            aria-label="Cards"
            type="number"
            placeholder="cards"
            value={accelerators}
            onChange={e => setAccelerators(e.target.value)}
          />
          <input
            aria-label="Replicas"
            type="number"
            placeholder="replicas"
            value={replicas}
            onChange={e => setReplicas(e.target.value)}
          />
        </div>,
        'Flavour, CPU cores, memory (GB), cards and replicas'
      )}
      {field(
        'sleep_after_minutes',
        'Sleep after idle minutes',
        <input
          id={`${PREFIX}-sleep_after_minutes`}
          type="number"
          data-testid="sxwl-svc-sleep"
          value={sleep}
          placeholder="never"
          onChange={e => setSleep(e.target.value)}
        />,
        'Asleep it costs nothing; the next request wakes it'
      )}
      <details className="sxwl-section">
        <summary>HTTPS domain (cluster mode)</summary>
        {field(
          'https',
          'Domain',
          <input
            id={`${PREFIX}-https`}
            type="text"
            value={domain}
            placeholder="chat.example.com"
            onChange={e => setDomain(e.target.value)}
          />
        )}
        <div className="sxwl-field">
          <label htmlFor={`${PREFIX}-certificate`}>Certificate (PEM)</label>
          <textarea
            id={`${PREFIX}-certificate`}
            rows={3}
            value={certificate}
            onChange={e => setCertificate(e.target.value)}
          />
        </div>
        <div className="sxwl-field">
          <label htmlFor={`${PREFIX}-private_key`}>Private key (PEM)</label>
          <textarea
            id={`${PREFIX}-private_key`}
            rows={3}
            value={privateKey}
            onChange={e => setPrivateKey(e.target.value)}
          />
        </div>
      </details>
      <FormActions
        testid="sxwl-svc-deploy"
        disabled={busy}
        onCancel={props.onCancel}
      >
        {busy ? 'Deploying…' : 'Deploy'}
      </FormActions>
    </form>
  );
}
