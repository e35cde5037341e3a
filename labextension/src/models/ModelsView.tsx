import * as React from 'react';

import { ModelDetail } from './ModelDetail';
import { CreateModelForm, ImportSharedModelForm } from './ModelForms';
import { ModelList } from './ModelList';

/** Which part of the Models view is on screen. */
type ModelsScreen =
  | { kind: 'list' }
  | { kind: 'create' }
  | { kind: 'import-shared' }
  | { kind: 'detail'; id: string; importOpen: boolean };

/**
 * The Models tab: the list, "Create model", "Import by token" and one
 * model's detail with its versions, one at a time.
 */
export function ModelsView(): JSX.Element {
  const [screen, setScreen] = React.useState<ModelsScreen>({ kind: 'list' });
  const toList = (): void => setScreen({ kind: 'list' });
  switch (screen.kind) {
    case 'create':
      return (
        <CreateModelForm
          onCancel={toList}
          // A new model is empty: its first step is importing a version.
          onCreated={m =>
            setScreen({ kind: 'detail', id: m.id, importOpen: true })
          }
        />
      );
    case 'import-shared':
      return (
        <ImportSharedModelForm
          onCancel={toList}
          onImported={m =>
            setScreen({ kind: 'detail', id: m.id, importOpen: false })
          }
        />
      );
    case 'detail':
      return (
        <ModelDetail
          modelId={screen.id}
          importOpen={screen.importOpen}
          onBack={toList}
          onDeleted={toList}
        />
      );
    default:
      return (
        <ModelList
          onOpen={id => setScreen({ kind: 'detail', id, importOpen: false })}
          onCreate={() => setScreen({ kind: 'create' })}
          onImportShared={() => setScreen({ kind: 'import-shared' })}
        />
      );
  }
}
