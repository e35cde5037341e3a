import * as React from 'react';

import { IModel, createModel, importSharedModel } from '../api';
import { BackHead } from '../BackHead';
import { FormActions, TextField } from '../Field';
import { FormBanner, useFormSubmit } from '../formErrors';

/** "Create model": name, family, description; versions are imported next. */
export function CreateModelForm(props: {
  onCreated: (m: IModel) => void;
  onCancel: () => void;
}): JSX.Element {
  const [name, setName] = React.useState('');
  const [family, setFamily] = React.useState('');
  const [description, setDescription] = React.useState('');
  const form = useFormSubmit(['name', 'family', 'description']);

  const submit = (e: React.FormEvent): void => {
    e.preventDefault();
    if (!name.trim()) {
      form.setErrors({ name: 'give the model a name, e.g. my-llama-sft' });
      return;
    }
    void form.run(async () =>
      props.onCreated(
        await createModel({
          name: name.trim(),
          family: family.trim() || undefined,
          description: description.trim() || undefined
        })
      )
    );
  };

  const id = 'sxwl-model';
  return (
    <form
      className="sxwl-form"
      data-testid="sxwl-model-form"
      onSubmit={submit}
      noValidate
    >
      <BackHead label="Models" title="Create model" onBack={props.onCancel} />
      <FormBanner message={form.general} />
      <TextField
        idPrefix={id}
        name="name"
        label="Name"
        value={name}
        onChange={setName}
        error={form.errors.name}
        placeholder="my-llama-sft"
      />
      <TextField
        idPrefix={id}
        name="family"
        label="Family (optional)"
        value={family}
        onChange={setFamily}
        error={form.errors.family}
        hint="e.g. llama, qwen, bert"
      />
      <TextField
        idPrefix={id}
        name="description"
        label="Description (optional)"
        value={description}
        onChange={setDescription}
        error={form.errors.description}
        rows={3}
      />
      <FormActions
        testid={`${id}-submit`}
        disabled={form.busy}
        onCancel={props.onCancel}
      >
        {form.busy ? 'Creating…' : 'Create, then import a version'}
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
  const form = useFormSubmit(['token', 'name']);

  const submit = (e: React.FormEvent): void => {
    e.preventDefault();
    if (!token.trim()) {
      form.setErrors({ token: 'paste the share token you were given' });
      return;
    }
    void form.run(async () => {
      const answer = await importSharedModel(
        token.trim(),
        name.trim() || undefined
      );
      props.onImported(answer.model);
    });
  };

  const id = 'sxwl-model-shared';
  return (
    <form
      className="sxwl-form"
      data-testid="sxwl-model-shared-form"
      onSubmit={submit}
      noValidate
    >
      <BackHead
        label="Models"
        title="Import a shared model"
        onBack={props.onCancel}
      />
      <FormBanner message={form.general} />
      <TextField
        idPrefix={id}
        name="token"
        label="Share token"
        value={token}
        onChange={setToken}
        error={form.errors.token}
        hint="The owner makes it with Share on the model's page. The model is copied into your models."
        mono
      />
      <TextField
        idPrefix={id}
        name="name"
        label="Name (optional)"
        value={name}
        onChange={setName}
        error={form.errors.name}
        hint="Defaults to the shared model's name."
      />
      <FormActions
        testid={`${id}-submit`}
        disabled={form.busy}
        onCancel={props.onCancel}
      >
        {form.busy ? 'Importing…' : 'Import'}
      </FormActions>
    </form>
  );
}
