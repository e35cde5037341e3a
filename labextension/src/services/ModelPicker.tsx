import * as React from 'react';

import { IModel, IModelVersion, getModel, listModels } from '../api';
import { IModelRef } from './api';

/** The models the user can deploy (those with a ready version), loaded once. */
export function useModels(): { models: IModel[] | null; error: string | null } {
  const [models, setModels] = React.useState<IModel[] | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  React.useEffect(() => {
    listModels()
      .then(all => setModels(all.filter(m => m.latest_version !== null)))
      .catch(e => setError(String(e instanceof Error ? e.message : e)));
  }, []);
  return { models, error };
}

/**
 * A model and one of its ready versions. `optional` adds "none" (for the
 * adapter); an empty version means the latest ready one.
 */
export function ModelPicker(props: {
  id: string;
  models: IModel[];
  value: IModelRef | null;
  onChange: (ref: IModelRef | null) => void;
  optional?: boolean;
  testid: string;
}): JSX.Element {
  const [versions, setVersions] = React.useState<IModelVersion[]>([]);
  const name = props.value?.name ?? '';
  React.useEffect(() => {
    setVersions([]);
    const model = props.models.find(m => m.name === name);
    if (!model) {
      return;
    }
    getModel(model.id)
      .then(m =>
        setVersions((m.versions ?? []).filter(v => v.status === 'ready'))
      )
      .catch(() => setVersions([]));
  }, [name, props.models]);
  return (
    <div className="sxwl-inline-fields">
      <select
        id={props.id}
        data-testid={props.testid}
        value={name}
        onChange={e =>
          props.onChange(e.target.value ? { name: e.target.value } : null)
        }
      >
        {(props.optional || !name) && (
          <option value="">{props.optional ? 'none' : 'choose a model'}</option>
        )}
        {props.models.map(m => (
          <option key={m.id} value={m.name}>
            {m.name}
          </option>
        ))}
      </select>
      {name && (
        <select
          aria-label="Version"
          data-testid={`${props.testid}-version`}
          value={props.value?.version ?? ''}
          onChange={e =>
            props.onChange({
              name,
              version: e.target.value ? Number(e.target.value) : null
            })
          }
        >
          <option value="">latest</option>
          {versions.map(v => (
            <option key={v.number} value={v.number}>
              v{v.number}
            </option>
          ))}
        </select>
      )}
    </div>
  );
}
