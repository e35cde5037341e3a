import * as React from 'react';

import { IModel, createModel, importSharedModel } from '../api';
import { BackHead } from '../BackHead';
import { Field, FormActions } from '../Field';
import { formErrors } from '../formErrors';

/** "Create model": name, family, description; versions are imported next. */
export function CreateModelForm(props: {
  onCreated: (m: IModel) => void;
  onCancel: () => void;
}): JSX.Element {
  const [name, setName] = React.useState('');
  const [family, setFamily] = React.useState('');
  const [description, setDescription] = React.useState('');
  const [errors, setErrors] = React.useState<Record<string, string>>({});
  const [general, setGeneral] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);

  const submit = async (e: React.FormEvent): Promise<void> => {
    e.preventDefault();
    if (busy) {
      return;
    }
    if (!name.trim()) {
      setErrors({ name: 'give the model a name, e.g. my-llama-sft' });
      return;
    }
    setBusy(true);
    setErrors({});
    setGeneral(null);
    try {
      props.onCreated(
        await createModel({
          name: name.trim(),
          family: family.trim() || undefined,
          description: description.trim() || undefined
        })
      );
    } catch (err) {
      const mapped = formErrors(err, ['name', 'family', 'description']);
      setErrors(mapped.fields);
      setGeneral(mapped.general);
    } finally {
      setBusy(false);
    }
  };

  const id = 'sxwl-model';
  return (
    <form
      className="sxwl-form"
      data-testid="sxwl-model-form"
      onSubmit={e => void submit(e)}
      noValidate
    >
      <BackHead label="Models" title="Create model" onBack={props.onCancel} />
      {general && (
        <div className="sxwl-error-banner" role="alert">
          {general}
        </div>
      )}
      <Field name="name" label="Name" error={errors.name} idPrefix={id}>
        <input
          type="text"
          className="jp-mod-styled"
          id={`${id}-name`}
          data-testid={`${id}-name`}
          value={name}
          placeholder="my-llama-sft"
          onChange={e => setName(e.target.value)}
        />
      </Field>
      <Field
        name="family"
        label="Family (optional)"
        error={errors.family}
        idPrefix={id}
        hint="e.g. llama, qwen, bert"
      >
        <input
          type="text"
          className="jp-mod-styled"
          id={`${id}-family`}
          data-testid={`${id}-family`}
          value={family}
          onChange={e => setFamily(e.target.value)}
        />
      </Field>
      <Field
        name="description"
        label="Description (optional)"
        error={errors.description}
        idPrefix={id}
      >
        <textarea
          className="jp-mod-styled"
          id={`${id}-description`}
          data-testid={`${id}-description`}
          rows={3}
          value={description}
          onChange={e => setDescription(e.target.value)}
        />
      </Field>
      <FormActions
        testid={`${id}-submit`}
        disabled={busy}
        onCancel={props.onCancel}
      >
        {busy ? 'Creating…' : 'Create, then import a version'}
      </FormActions>
    </form>
  );
}

/** "Import by token": copy a model someone shared into the user's models. */
export function ImportSharedModelForm(props: {
  onImported: (m: IModel) => void;
  onCancel: () => void;
}): JSX.Element {
  const [token, setToken] = React.useState('');
  const [name, setName] = React.useState('');
  const [errors, setErrors] = React.useState<Record<string, string>>({});
  const [general, setGeneral] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);

  const submit = async (e: React.FormEvent): Promise<void> => {
    e.preventDefault();
    if (busy) {
      return;
    }
    if (!token.trim()) {
      setErrors({ token: 'paste the share token you were given' });
      return;
    }
    setBusy(true);
    setErrors({});
    setGeneral(null);
    try {
      const answer = await importSharedModel(
        token.trim(),
        name.trim() || undefined
      );
      props.onImported(answer.model);
    } catch (err) {
      const mapped = formErrors(err, ['token', 'name']);
      setErrors(mapped.fields);
      setGeneral(mapped.general);
    } finally {
      setBusy(false);
    }
  };

  const id = 'sxwl-model-shared';
  return (
    <form
      className="sxwl-form"
      data-testid="sxwl-model-shared-form"
      onSubmit={e => void submit(e)}
      noValidate
    >
      <BackHead
        label="Models"
        title="Import a shared model"
        onBack={props.onCancel}
      />
      {general && (
        <div className="sxwl-error-banner" role="alert">
          {general}
        </div>
      )}
      <Field
        name="token"
        label="Share token"
        error={errors.token}
        idPrefix={id}
        hint="The owner makes it with Share on the model's page. The model is copied into your models."
      >
        <input
          type="text"
          className="jp-mod-styled sxwl-mono"
          id={`${id}-token`}
          data-testid={`${id}-token`}
          value={token}
          onChange={e => setToken(e.target.value)}
        />
      </Field>
      <Field
        name="name"
        label="Name (optional)"
        error={errors.name}
        idPrefix={id}
        hint="Defaults to the shared model's name."
      >
        <input
          type="text"
          className="jp-mod-styled"
          id={`${id}-name`}
          data-testid={`${id}-name`}
          value={name}
          onChange={e => setName(e.target.value)}
        />
      </Field>
      <FormActions
        testid={`${id}-submit`}
        disabled={busy}
        onCancel={props.onCancel}
      >
        {busy ? 'Importing…' : 'Import'}
      </FormActions>
    </form>
  );
}
