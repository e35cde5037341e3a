import * as React from 'react';

import { AnnotationView } from './AnnotationView';
import { DatasetDetail } from './DatasetDetail';
import { AddSharedDatasetForm, CreateDatasetForm } from './DatasetForms';
import { DatasetList } from './DatasetList';

/** Which part of the Datasets view is on screen. */
type DatasetsScreen =
  | { kind: 'list' }
  | { kind: 'create' }
  | { kind: 'add-shared' }
  | { kind: 'detail'; id: string }
  | { kind: 'annotate'; id: string };

/**
 * The Datasets tab: the list, the create and add-shared forms, one dataset's
 * detail and its annotation view, one at a time, since the panel is narrow.
 */
export function DatasetsView(): JSX.Element {
  const [screen, setScreen] = React.useState<DatasetsScreen>({
    kind: 'list'
  });
  const toList = (): void => setScreen({ kind: 'list' });
  const toDetail = (id: string): void => setScreen({ kind: 'detail', id });
  switch (screen.kind) {
    case 'create':
      return (
        <CreateDatasetForm
          onCancel={toList}
          onCreated={ds => toDetail(ds.id)}
        />
      );
    case 'add-shared':
      return (
        <AddSharedDatasetForm
          onCancel={toList}
          onAdded={ds => toDetail(ds.id)}
        />
      );
    case 'detail':
      return (
        <DatasetDetail
          datasetId={screen.id}
          onBack={toList}
          onDeleted={toList}
          onAnnotate={() => setScreen({ kind: 'annotate', id: screen.id })}
        />
      );
    case 'annotate':
      return (
        <AnnotationView
          datasetId={screen.id}
          onBack={() => toDetail(screen.id)}
        />
      );
    default:
      return (
        <DatasetList
          onOpen={toDetail}
          onCreate={() => setScreen({ kind: 'create' })}
          onAddShared={() => setScreen({ kind: 'add-shared' })}
        />
      );
  }
}
